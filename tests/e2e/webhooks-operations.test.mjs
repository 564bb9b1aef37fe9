// Test sends, manual retries and replays (WEBHOOKS.md §6): POST /webhooks/{id}/test,
// POST /deliveries/{id}/retry, POST /webhooks/{id}/replay.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, expectProblem, allEvents, validateEvent } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveriesOf, waitForDelivery,
  waitForWebhook, deliveryFor, verifyStandardWebhookAt, serverNow, waitForDeliveries,
} from './lib/webhooks.mjs';

describe('test, retry and replay', () => {
  let s, rx;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 14, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  async function subscription(c, mode, extra = {}) {
    const p = uniquePath('ops');
    if (mode) await rx.setMode(p, mode);
    const w = await createWebhook(c, { name: `ops ${p}`, url: rx.url(p), ...extra });
    return { p, w };
  }

  /** A subscription whose first delivery failed for good (custom schedule without retries). */
  async function failedDelivery(c, extra = {}) {
    const { p, w } = await subscription(c, { status: 500 }, { retry_policy: { schedule: 'custom', delays_s: [] }, ...extra });
    const { event } = await createLearnerWithEvent(c);
    const d0 = await deliveryFor(c, w.id, event.id);
    const d = await waitForDelivery(c, d0.id, (x) => x.state === 'failed');
    return { p, w, d, event };
  }

  it('/test sends a webhook.test to that subscription alone and answers with the attempt', async () => {
    const c = nextOrg();
    const { p, w } = await subscription(c, { status: 202, body: 'got it' });
    const { p: pOther } = await subscription(c, null, { event_types: ['*'] });
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/test`); // no body counts as {}
    expectStatus(r, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['delivery_id', 'duration_ms', 'error', 'response_excerpt', 'status']);
    assert.match(r.body.delivery_id, /^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(r.body.status, 202);
    assert.equal(r.body.response_excerpt, 'got it');
    assert.equal(r.body.error, null);
    assert.ok(Number.isInteger(r.body.duration_ms) && r.body.duration_ms >= 0);
    const [req] = await rx.waitFor(1, { path: p });
    validateEvent(req.json, { organizationId: c.orgId });
    assert.equal(req.json.type, 'webhook.test');
    assert.equal(req.headers['x-learnwire-event'], 'webhook.test');
    assert.equal(req.headers['x-learnwire-delivery'], r.body.delivery_id);
    assert.equal(req.headers['x-learnwire-attempt'], '1');
    assert.equal(req.headers['webhook-id'], req.json.id);
    assert.deepEqual(req.json.data, { id: w.id, name: w.name });
    verifyStandardWebhookAt(w.secret, req, await serverNow(s));
    assert.equal((await rx.requests(pOther)).length, 0, 'another subscription got the test event');
    // The test event is not in the events feed, under any filter.
    for (const type of [undefined, 'webhook.test', 'webhook.*']) {
      const evs = await allEvents(s, { key: c.key, type });
      assert.ok(!evs.some((e) => e.type === 'webhook.test'), `GET /events${type ? `?type=${type}` : ''} lists webhook.test`);
    }
    const again = await c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} });
    expectStatus(again, 200);
    assert.notEqual(again.body.delivery_id, r.body.delivery_id);
  });

  it('/test works on an inactive subscription and leaves it as it was', async () => {
    const c = nextOrg();
    const { p, w } = await subscription(c, null, { active: false });
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: false } }), 200);
    const before1 = (await c.api('GET', `/api/v1/webhooks/${w.id}`)).body;
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} });
    expectStatus(r, 200);
    assert.equal(r.body.status, 200);
    await rx.waitFor(1, { path: p });
    assert.deepEqual((await c.api('GET', `/api/v1/webhooks/${w.id}`)).body, before1);
  });

  it('a failing test never disables the subscription (410, 400 with disable_on_4xx) and is not retried', async () => {
    const c = nextOrg();
    for (const [mode, extra] of [[{ status: 410 }, {}], [{ status: 400 }, { retry_policy: { disable_on_4xx: true } }], [{ status: 500, body: 'down' }, {}]]) {
      const { p, w } = await subscription(c, mode, extra);
      const r = await c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} });
      expectStatus(r, 200);
      assert.equal(r.body.status, mode.status);
      const g = (await c.api('GET', `/api/v1/webhooks/${w.id}`)).body;
      assert.equal(g.active, true, `a test answered ${mode.status} disabled the subscription`);
      assert.equal(g.deactivate_reason, null);
      await s.advanceClock(10_000);
      assert.equal((await rx.requests(p)).length, 1, `the ${mode.status} test was retried`);
    }
    // A transport error is reported in `error`.
    const { w } = await subscription(c, { reset: true });
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} });
    expectStatus(r, 200);
    assert.equal(r.body.status, null);
    assert.equal(r.body.error, 'connection_reset');
    assert.equal((await c.api('GET', `/api/v1/webhooks/${w.id}`)).body.active, true);
  });

  it('more than 4 /test calls at once in one organization → 429 at once; another organization is not held up', async () => {
    const c = nextOrg();
    const c2 = nextOrg();
    const { p, w } = await subscription(c, { status: 200, delay_ms: 1500 });
    const { w: w2 } = await subscription(c2, null);
    const timed = (promise) => { const t0 = performance.now(); return promise.then((r) => ({ r, ms: performance.now() - t0 })); };
    const first = Array.from({ length: 4 }, () => timed(c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} })));
    await rx.waitFor(4, { path: p }); // four test attempts are in flight (the receiver answers after 1.5 s)
    const extra = await Promise.all(Array.from({ length: 2 }, () => timed(c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} }))));
    const theirs = await timed(c2.api('POST', `/api/v1/webhooks/${w2.id}/test`, { body: {} }));
    const done = await Promise.all(first);
    assert.deepEqual(done.map((x) => x.r.status), [200, 200, 200, 200]);
    assert.deepEqual(extra.map((x) => x.r.status), [429, 429], `the 5th and 6th calls answered ${extra.map((x) => `${x.r.status} after ${Math.round(x.ms)} ms`).join(', ')}`);
    for (const { r, ms } of extra) {
      expectProblem(r, 429, 'rate-limited');
      assert.match(r.headers.get('retry-after') ?? '', /^\d+$/, '429 without Retry-After');
      assert.ok(ms < 500, `the 429 took ${Math.round(ms)} ms: it waited for a slot`);
    }
    expectStatus(theirs.r, 200);
    assert.ok(theirs.ms < 500, `another organization's /test took ${Math.round(theirs.ms)} ms while this one had 4 in flight`);
  });

  it('/retry of a failed delivery makes one attempt; a 2xx → succeeded; a disabled subscription stays disabled', async () => {
    const c = nextOrg();
    const { p, w, d } = await failedDelivery(c);
    const sub = await waitForWebhook(c, w.id, (x) => x.active === false);
    assert.equal(sub.deactivate_reason, 'retries_exhausted');
    await rx.setMode(p, { status: 200, body: 'fine now' });
    const r = await c.api('POST', `/api/v1/deliveries/${d.id}/retry`); // no body counts as {}
    expectStatus(r, 200);
    assert.equal(r.body.number, 2);
    assert.equal(r.body.status, 200);
    assert.equal(r.body.error, null);
    assert.equal(r.body.response_excerpt, 'fine now');
    const reqs = await rx.waitFor(2, { path: p });
    assert.equal(reqs.length, 2);
    assert.equal(reqs[1].headers['x-learnwire-attempt'], '2');
    assert.equal(reqs[1].headers['x-learnwire-delivery'], d.id);
    assert.equal(reqs[1].headers['webhook-id'], d.event_id);
    const after1 = await waitForDelivery(c, d.id, (x) => x.state === 'succeeded');
    assert.equal(after1.attempt_count, 2);
    assert.equal(after1.next_attempt_at, null);
    const g = (await c.api('GET', `/api/v1/webhooks/${w.id}`)).body;
    assert.equal(g.active, false, '/retry re-enabled the subscription');
    assert.equal(g.deactivate_reason, 'retries_exhausted');
    // Any state but scheduled may be retried, succeeded included: attempt 3.
    const again = await c.api('POST', `/api/v1/deliveries/${d.id}/retry`, { body: {} });
    expectStatus(again, 200);
    assert.equal(again.body.number, 3);
  });

  it('/retry of a scheduled delivery → 409; of a canceled one → one attempt', async () => {
    const c = nextOrg();
    const { w } = await subscription(c, { status: 500 });
    const { event } = await createLearnerWithEvent(c);
    const d0 = await deliveryFor(c, w.id, event.id);
    const d = await waitForDelivery(c, d0.id, (x) => x.attempt_count === 1);
    assert.equal(d.state, 'scheduled');
    expectProblem(await c.api('POST', `/api/v1/deliveries/${d.id}/retry`, { body: {} }), 409, 'conflict');
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: false } }), 200);
    await waitForDelivery(c, d.id, (x) => x.state === 'canceled');
    const r = await c.api('POST', `/api/v1/deliveries/${d.id}/retry`, { body: {} });
    expectStatus(r, 200);
    assert.equal(r.body.number, 2);
    assert.equal(r.body.status, 500);
    const x = await waitForDelivery(c, d.id, (y) => y.attempt_count === 2);
    assert.notEqual(x.state, 'scheduled', 'a failed manual retry scheduled more attempts');
  });

  it('replay: failed deliveries get new deliveries (replay_of, same event, attempts from 1); inactive → 409', async () => {
    const c = nextOrg();
    const since = new Date(await serverNow(s)).toISOString();
    await s.advanceClock(1000);
    const { p, w, d, event } = await failedDelivery(c);
    await waitForWebhook(c, w.id, (x) => x.active === false);
    expectProblem(await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since } }), 409, 'conflict');
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: true } }), 200);
    // A second failure, and one success that the default states do not replay.
    await rx.setMode(p, { sequence: [{ status: 200 }, { status: 500 }] });
    const ok = await createLearnerWithEvent(c);
    const okD = await waitForDelivery(c, (await deliveryFor(c, w.id, ok.event.id)).id, (x) => x.state === 'succeeded');
    const bad = await createLearnerWithEvent(c);
    const badD = await waitForDelivery(c, (await deliveryFor(c, w.id, bad.event.id)).id, (x) => x.state === 'failed');
    await rx.setMode(p, null);
    // The new failure disabled the subscription again (no 2xx since it was created): reactivate.
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: true } }), 200);
    const before1 = (await rx.requests(p)).length;
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since } });
    expectStatus(r, 200);
    assert.deepEqual(r.body, { scheduled: 2 });
    const reqs = await rx.waitFor(before1 + 2, { path: p });
    const replayedReqs = reqs.slice(before1);
    assert.deepEqual(replayedReqs.map((x) => x.headers['webhook-id']).sort(), [event.id, bad.event.id].sort());
    assert.ok(replayedReqs.every((x) => x.headers['x-learnwire-attempt'] === '1'));
    const list = await waitForDeliveries(c, w.id, (l) => l.filter((x) => x.replay_of && x.state === 'succeeded').length === 2);
    const replays = list.filter((x) => x.replay_of);
    assert.deepEqual(replays.map((x) => x.replay_of).sort(), [d.id, badD.id].sort());
    for (const x of replays) {
      const orig = x.replay_of === d.id ? d : badD;
      assert.equal(x.event_id, orig.event_id);
      assert.notEqual(x.id, orig.id);
      assert.equal(x.attempt_count, 1);
      assert.ok(replayedReqs.some((q) => q.headers['x-learnwire-delivery'] === x.id));
    }
    // The originals are unchanged; the success was not replayed.
    assert.equal((await c.api('GET', `/api/v1/deliveries/${d.id}`)).body.state, 'failed');
    assert.ok(!replays.some((x) => x.replay_of === okD.id));
    // states: ['succeeded'] replays the success; until before everything → nothing.
    const r2 = await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since, states: ['succeeded'] } });
    expectStatus(r2, 200);
    assert.ok(r2.body.scheduled >= 1);
    const r3 = await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since, until: since } });
    expectStatus(r3, 200);
    assert.deepEqual(r3.body, { scheduled: 0 });
  });

  it('replay with include_missed schedules the events committed while the subscription was inactive', async () => {
    const c = nextOrg();
    const { p, w } = await subscription(c, null, { event_types: ['learner.created'] });
    const since = new Date(await serverNow(s)).toISOString();
    await s.advanceClock(1000);
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: false } }), 200);
    const m1 = await createLearnerWithEvent(c);
    const m2 = await createLearnerWithEvent(c);
    // An event of a type the subscription does not take is not "missed".
    expectStatus(await c.api('PATCH', `/api/v1/learners/${m1.learner.id}`, { body: { lastname: 'Other' } }), 200);
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: true } }), 200);
    assert.deepEqual(await deliveriesOf(c, w.id), []);
    const plain = await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since } });
    expectStatus(plain, 200);
    assert.deepEqual(plain.body, { scheduled: 0 });
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since, include_missed: true } });
    expectStatus(r, 200);
    assert.deepEqual(r.body, { scheduled: 2 });
    const reqs = await rx.waitFor(2, { path: p });
    assert.deepEqual(reqs.map((x) => x.json.id).sort(), [m1.event.id, m2.event.id].sort());
    for (const x of reqs) assert.equal(x.headers['x-learnwire-attempt'], '1');
    // Once they have deliveries, they are no longer missed.
    const again = await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body: { since, include_missed: true } });
    expectStatus(again, 200);
    assert.deepEqual(again.body, { scheduled: 0 });
  });

  it('replay validation: since is required; states are delivery states', async () => {
    const c = nextOrg();
    const { w } = await subscription(c, null);
    for (const body of [{}, { since: 'yesterday' }, { since: '2026-01-01T00:00:00Z', states: ['bogus'] }, { since: '2026-01-01T00:00:00Z', include_missed: 'yes' }, { since: '2026-01-01T00:00:00Z', colour: 1 }]) {
      expectProblem(await c.api('POST', `/api/v1/webhooks/${w.id}/replay`, { body }), 422, 'validation');
    }
  });
});
