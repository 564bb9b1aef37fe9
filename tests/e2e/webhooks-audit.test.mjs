// The audit list (WEBHOOKS.md §4 "A delivery", GET /deliveries/{id} with event and attempts, the
// per-subscription list and its filters) and GET /webhooks/{id}/stats (§6).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, expectProblem } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveriesOf, waitForDelivery,
  deliveryFor, listAllWebhooks,
} from './lib/webhooks.mjs';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const DELIVERY_KEYS = ['attempt_count', 'created_at', 'event_id', 'event_type', 'id', 'last_error', 'last_status', 'next_attempt_at', 'replay_of', 'state', 'updated_at', 'webhook_id'];
const ATTEMPT_KEYS = ['duration_ms', 'error', 'number', 'request_headers', 'response_excerpt', 'response_headers', 'started_at', 'status'];
const lower = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.toLowerCase(), v]));

describe('the delivery audit list', () => {
  let s, rx, c, w, p, pOther, other;
  // Three learners, one second apart; the second one's delivery keeps failing.
  const made = []; // {event, at}
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 3, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
    c = orgClient(s, 0);
    p = uniquePath('audit');
    pOther = uniquePath('audit-other');
    w = await createWebhook(c, {
      name: 'audited', url: rx.url(p), event_types: ['learner.*'], basic_auth: { username: 'auditor', password: 'pw-audit-123' },
      headers: { 'x-api-token': 'tok-audit-456' }, retry_policy: { jitter: 0 },
    });
    other = await createWebhook(c, { name: 'other', url: rx.url(pOther) });
    for (let i = 0; i < 3; i++) {
      await rx.setMode(p, i === 1 ? { status: 500, body: 'not now' } : null);
      const at = await s.advanceClock(1000);
      const { event, learner } = await createLearnerWithEvent(c);
      await rx.waitFor(i + 1, { path: p, settled: true });
      const d = await deliveryFor(c, w.id, event.id);
      await waitForDelivery(c, d.id, (x) => x.attempt_count === 1);
      made.push({ event, learner, at, d });
    }
    await rx.waitFor(3, { path: pOther });
    // The failing one is retried once more and succeeds on attempt 2.
    await rx.setMode(p, null);
    await s.advanceClock(2000);
    await waitForDelivery(c, made[1].d.id, (x) => x.state === 'succeeded');
    // One more event that stays scheduled, of another type.
    await rx.setMode(p, { status: 503 });
    await s.advanceClock(1000);
    expectStatus(await c.api('POST', `/api/v1/learners/${made[0].learner.id}/ban`), 200);
    await rx.waitFor(5, { path: p, settled: true });
    const banned = (await deliveriesOf(c, w.id, { event_type: 'learner.banned' }))[0];
    made.push({ d: await waitForDelivery(c, banned.id, (x) => x.attempt_count === 1) });
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('GET /webhooks/{id}/deliveries: newest first, each delivery with exactly the documented fields', async () => {
    const list = await deliveriesOf(c, w.id);
    assert.deepEqual(list.map((d) => d.id), [made[3].d.id, made[2].d.id, made[1].d.id, made[0].d.id]);
    for (const d of list) {
      assert.deepEqual(Object.keys(d).sort(), DELIVERY_KEYS);
      assert.equal(d.webhook_id, w.id);
      assert.match(d.created_at, TIME);
      assert.match(d.updated_at, TIME);
      assert.equal(d.replay_of, null);
    }
    assert.deepEqual(list.map((d) => d.state), ['scheduled', 'succeeded', 'succeeded', 'succeeded']);
    assert.deepEqual(list.map((d) => d.attempt_count), [1, 1, 2, 1]);
    assert.equal(list[0].last_status, 503);
    assert.match(list[0].next_attempt_at, TIME);
    // Paging keeps the order.
    const paged = await listAllWebhooks(c, `/api/v1/webhooks/${w.id}/deliveries?limit=1`);
    assert.deepEqual(paged.map((d) => d.id), list.map((d) => d.id));
  });

  it('filters: state, event_type, since, until', async () => {
    assert.deepEqual((await deliveriesOf(c, w.id, { state: 'scheduled' })).map((d) => d.id), [made[3].d.id]);
    assert.deepEqual((await deliveriesOf(c, w.id, { state: 'succeeded' })).map((d) => d.id), [made[2].d.id, made[1].d.id, made[0].d.id]);
    assert.deepEqual(await deliveriesOf(c, w.id, { state: 'failed' }), []);
    assert.deepEqual((await deliveriesOf(c, w.id, { event_type: 'learner.created' })).map((d) => d.id), [made[2].d.id, made[1].d.id, made[0].d.id]);
    assert.deepEqual((await deliveriesOf(c, w.id, { event_type: 'learner.banned' })).map((d) => d.id), [made[3].d.id]);
    const iso = (t) => new Date(t).toISOString();
    // Bounds half a second away from any creation time, so inclusiveness does not matter.
    const since = iso(made[1].at - 500);
    const until = iso(made[2].at - 500);
    assert.deepEqual((await deliveriesOf(c, w.id, { since })).map((d) => d.id), [made[3].d.id, made[2].d.id, made[1].d.id]);
    assert.deepEqual((await deliveriesOf(c, w.id, { until })).map((d) => d.id), [made[1].d.id, made[0].d.id]);
    assert.deepEqual((await deliveriesOf(c, w.id, { since, until })).map((d) => d.id), [made[1].d.id]);
    // Any offset is accepted in times (API.md).
    const plus2 = new Date(made[1].at - 500 + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    assert.deepEqual((await deliveriesOf(c, w.id, { since: plus2 })).map((d) => d.id), [made[3].d.id, made[2].d.id, made[1].d.id]);
    expectProblem(await c.api('GET', `/api/v1/webhooks/${w.id}/deliveries?webhook_id=${w.id}`), 400, 'malformed');
    expectProblem(await c.api('GET', `/api/v1/webhooks/${w.id}/deliveries?since=yesterday`), 400, 'malformed');
  });

  it('GET /deliveries: filters webhook_id, event_id, state; newest first', async () => {
    const all = await listAllWebhooks(c, '/api/v1/deliveries?limit=500');
    assert.equal(all.length, 8); // 3 learner.created + 1 learner.banned to each subscription
    assert.ok(all.every((d, i) => i === 0 || d.id < all[i - 1].id), 'not newest first');
    const byWh = await listAllWebhooks(c, `/api/v1/deliveries?webhook_id=${other.id}`);
    assert.equal(byWh.length, 4);
    assert.ok(byWh.every((d) => d.webhook_id === other.id));
    const byEvent = await listAllWebhooks(c, `/api/v1/deliveries?event_id=${made[1].event.id}`);
    assert.equal(byEvent.length, 2);
    assert.ok(byEvent.every((d) => d.event_id === made[1].event.id));
    const scheduled = await listAllWebhooks(c, '/api/v1/deliveries?state=scheduled');
    assert.deepEqual(scheduled.map((d) => d.id), [made[3].d.id]);
    const combined = await listAllWebhooks(c, `/api/v1/deliveries?webhook_id=${w.id}&state=succeeded&event_id=${made[0].event.id}`);
    assert.deepEqual(combined.map((d) => d.id), [made[0].d.id]);
    expectProblem(await c.api('GET', '/api/v1/deliveries?event_type=learner.created&colour=red'), 400, 'malformed');
    // Another organization sees none of them.
    const theirs = orgClient(s, 1);
    assert.deepEqual(await listAllWebhooks(theirs, '/api/v1/deliveries'), []);
    expectProblem(await theirs.api('GET', `/api/v1/deliveries/${made[0].d.id}`), 404, 'not-found');
    expectProblem(await theirs.api('POST', `/api/v1/deliveries/${made[0].d.id}/retry`, { body: {} }), 404, 'not-found');
  });

  it('GET /deliveries/{id}: the event as sent, and the attempts in ascending order with every field', async () => {
    const d = await waitForDelivery(c, made[1].d.id, (x) => x.attempts.length === 2);
    assert.deepEqual(Object.keys(d).sort(), [...DELIVERY_KEYS, 'attempts', 'event'].sort());
    const sent = (await rx.requests(p)).filter((r) => r.json?.id === made[1].event.id);
    assert.equal(sent.length, 2);
    assert.deepEqual(d.event, sent[0].json);
    assert.deepEqual(d.event, made[1].event);
    assert.deepEqual(d.attempts.map((a) => a.number), [1, 2]);
    for (const a of d.attempts) {
      assert.deepEqual(Object.keys(a).sort(), ATTEMPT_KEYS);
      assert.match(a.started_at, TIME);
      assert.ok(Number.isInteger(a.duration_ms) && a.duration_ms >= 0);
      assert.equal(a.error, null);
      assert.equal(typeof a.response_headers, 'object');
    }
    assert.ok(d.attempts[0].started_at < d.attempts[1].started_at);
    assert.deepEqual([d.attempts[0].status, d.attempts[0].response_excerpt], [500, 'not now']);
    assert.deepEqual([d.attempts[1].status, d.attempts[1].response_excerpt], [200, 'ok']);
  });

  it('request_headers show what was sent, with authorization and custom header values redacted', async () => {
    const d = await waitForDelivery(c, made[1].d.id, (x) => x.attempts.length === 2);
    const sent = (await rx.requests(p)).filter((r) => r.json?.id === made[1].event.id);
    for (const [i, a] of d.attempts.entries()) {
      const rh = lower(a.request_headers);
      const got = sent[i].headers;
      for (const name of ['content-type', 'user-agent', 'webhook-id', 'webhook-timestamp', 'webhook-signature', 'x-learnwire-signature', 'x-learnwire-event', 'x-learnwire-attempt', 'x-learnwire-delivery']) {
        assert.equal(rh[name], got[name], `request_headers.${name} of attempt ${a.number}`);
      }
      assert.equal(rh['x-learnwire-attempt'], String(a.number));
      assert.ok('authorization' in rh, 'authorization is listed (redacted)');
      assert.ok('x-api-token' in rh, 'the custom header is listed (redacted)');
      assert.notEqual(rh.authorization, got.authorization);
      assert.notEqual(rh['x-api-token'], 'tok-audit-456');
      const text = JSON.stringify(d);
      for (const secret of ['pw-audit-123', 'tok-audit-456', Buffer.from('auditor:pw-audit-123').toString('base64')]) {
        assert.ok(!text.includes(secret), `GET /deliveries/{id} shows ${secret}`);
      }
    }
  });

  it('GET /webhooks/{id}/stats: window, counts by state, success rate, latency quantiles, last delivery', async () => {
    const r = await c.api('GET', `/api/v1/webhooks/${w.id}/stats`);
    expectStatus(r, 200);
    const st = r.body;
    assert.equal(st.window_s, 86400);
    assert.deepEqual(st.counts, { scheduled: 1, succeeded: 3, failed: 0, canceled: 0 });
    assert.equal(st.success_rate, 1);
    // The first attempts of the four deliveries, as the audit shows them; nearest-rank quantiles.
    const attempts = [];
    for (const m of made) attempts.push(...(await waitForDelivery(c, m.d.id, (x) => x.attempts.length >= 1)).attempts);
    const firsts = attempts.filter((a) => a.number === 1).map((a) => a.duration_ms).sort((x, y) => x - y);
    assert.equal(firsts.length, 4);
    const rank = (q) => firsts[Math.ceil((q / 100) * firsts.length) - 1];
    assert.deepEqual(st.latency_ms, { p50: rank(50), p95: rank(95), p99: rank(99) });
    const newest = attempts.map((a) => a.started_at).sort().at(-1);
    assert.equal(st.last_delivery_at, newest);
    // Test sends are left out of stats.
    expectStatus(await c.api('POST', `/api/v1/webhooks/${w.id}/test`), 200);
    const again = await c.api('GET', `/api/v1/webhooks/${w.id}/stats`);
    expectStatus(again, 200);
    assert.deepEqual(again.body, st);
    // Another organization's webhook is not found.
    expectProblem(await orgClient(s, 1).api('GET', `/api/v1/webhooks/${w.id}/stats`), 404, 'not-found');
  });
});
