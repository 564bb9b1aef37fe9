// Retries and the states they lead to (WEBHOOKS.md §4 States, §5 Retries): the exponential and custom
// schedules with jitter, exhaustion and what it disables, 410, disable_on_4xx, 408/429, Retry-After.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, validateEvent, allEvents } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveriesOf, waitForDelivery,
  waitForWebhook, deliveryFor, expectedSignature, signaturesOf, serverNow, verifyStandardWebhookAt,
} from './lib/webhooks.mjs';

const ms = (iso) => Date.parse(iso);

describe('webhook retries', () => {
  let s, rx;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 18, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  /** A subscription at a fresh receiver path answered with `mode`; resolves {c, p, w}. */
  async function subscription(mode, extra = {}) {
    const c = nextOrg();
    const p = uniquePath('retry');
    if (mode) await rx.setMode(p, mode);
    const w = await createWebhook(c, { name: `retry ${p}`, url: rx.url(p), ...extra });
    return { c, p, w };
  }

  /** Creates a learner and waits until its first attempt is recorded; resolves {event, d, req}. */
  async function firstAttempt(c, p, w, count = 1) {
    const { event } = await createLearnerWithEvent(c);
    const reqs = await rx.waitFor(count, { path: p, settled: true });
    const d0 = await deliveryFor(c, w.id, event.id);
    const d = await waitForDelivery(c, d0.id, (x) => x.attempt_count >= 1);
    return { event, d, req: reqs.at(-1) };
  }

  it('500 → scheduled, attempt_count 1, next_attempt_at ≈ +2 s (±10%); attempt 2 has the same ids; then 200 → succeeded', async () => {
    const { c, p, w } = await subscription({ sequence: [{ status: 500, body: 'boom' }, { status: 200 }] });
    const t0 = await serverNow(s);
    const { event, d, req } = await firstAttempt(c, p, w);
    assert.equal(d.state, 'scheduled');
    assert.equal(d.attempt_count, 1);
    assert.equal(d.last_status, 500);
    assert.equal(d.last_error, null);
    const wait = ms(d.next_attempt_at) - t0;
    assert.ok(wait >= 1800 && wait <= 2200, `next_attempt_at is ${wait} ms after the attempt, expected 2 s ± 10%`);
    assert.equal(req.headers['x-learnwire-attempt'], '1');
    await s.advanceClock(2200);
    const reqs = await rx.waitFor(2, { path: p });
    const second = reqs[1];
    assert.equal(second.headers['x-learnwire-attempt'], '2');
    assert.equal(second.headers['webhook-id'], event.id);
    assert.equal(second.headers['x-learnwire-delivery'], d.id);
    assert.equal(second.body, req.body, 'a retry sends the same body');
    assert.ok(Number(second.headers['webhook-timestamp']) >= Number(req.headers['webhook-timestamp']) + 1, 'webhook-timestamp is the time of this attempt');
    assert.deepEqual(signaturesOf(second), [expectedSignature(w.secret, second)]);
    verifyStandardWebhookAt(w.secret, second, await serverNow(s));
    const done = await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled');
    assert.equal(done.state, 'succeeded');
    assert.equal(done.attempt_count, 2);
    assert.equal(done.last_status, 200);
    assert.equal(done.next_attempt_at, null);
    const full = await waitForDelivery(c, d.id, (x) => x.attempts.length === 2);
    assert.deepEqual(full.attempts.map((a) => [a.number, a.status]), [[1, 500], [2, 200]]);
    assert.equal(full.attempts[0].response_excerpt, 'boom');
    const sub = await c.api('GET', `/api/v1/webhooks/${w.id}`);
    assert.equal(sub.body.active, true);
  });

  it('the exponential schedule doubles: 2 s, 4 s, 8 s (jitter 0), up to max_delay_s', async () => {
    const { c, p, w } = await subscription({ status: 500 }, { retry_policy: { jitter: 0, max_delay_s: 6 } });
    const { d } = await firstAttempt(c, p, w);
    const expected = [2000, 4000, 6000, 6000]; // 8 s capped at max_delay_s = 6
    let cur = d;
    for (let i = 0; i < expected.length; i++) {
      const at = await serverNow(s);
      assert.equal(ms(cur.next_attempt_at) - at, expected[i], `wait before attempt ${i + 2}: ${cur.next_attempt_at}`);
      await s.advanceClock(expected[i]);
      await rx.waitFor(i + 2, { path: p, settled: true });
      cur = await waitForDelivery(c, d.id, (x) => x.attempt_count === i + 2);
      assert.equal(cur.state, 'scheduled');
    }
  });

  it('initial_delay_s sets the first wait; max_attempts ends an exponential schedule', async () => {
    const { c, p, w } = await subscription({ status: 500 }, { retry_policy: { jitter: 0, initial_delay_s: 10, max_attempts: 3 } });
    const { d } = await firstAttempt(c, p, w);
    assert.equal(ms(d.next_attempt_at) - (await serverNow(s)), 10_000);
    await s.advanceClock(10_000);
    await rx.waitFor(2, { path: p, settled: true });
    const d2 = await waitForDelivery(c, d.id, (x) => x.attempt_count === 2);
    assert.equal(ms(d2.next_attempt_at) - (await serverNow(s)), 20_000);
    await s.advanceClock(20_000);
    await rx.waitFor(3, { path: p, settled: true });
    const d3 = await waitForDelivery(c, d.id, (x) => x.attempt_count === 3 && x.state !== 'scheduled');
    assert.equal(d3.state, 'failed');
    assert.equal(d3.next_attempt_at, null);
    await s.advanceClock(3_600_000);
    assert.equal((await rx.requests(p)).length, 3);
  });

  it('custom {delays_s: [5]}: exactly 2 attempts, then failed; with no 2xx since, the subscription is disabled', async () => {
    const { c, p, w } = await subscription({ status: 500 }, { retry_policy: { schedule: 'custom', delays_s: [5] } });
    const t0 = await serverNow(s);
    const { d } = await firstAttempt(c, p, w);
    const wait = ms(d.next_attempt_at) - t0;
    assert.ok(wait >= 4500 && wait <= 5500, `custom wait ${wait} ms, expected 5 s ± 10%`);
    await s.advanceClock(5500);
    await rx.waitFor(2, { path: p, settled: true });
    const done = await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled');
    assert.equal(done.state, 'failed');
    assert.equal(done.attempt_count, 2);
    assert.equal(done.next_attempt_at, null);
    assert.equal(done.last_status, 500);
    await s.advanceClock(3_600_000);
    assert.equal((await rx.requests(p)).length, 2, 'no attempt after the last one');
    const sub = await waitForWebhook(c, w.id, (x) => x.active === false);
    assert.equal(sub.deactivate_reason, 'retries_exhausted');
  });

  it('exhaustion disables, cancels the other scheduled deliveries, and emits webhook.disabled to another subscription', async () => {
    const { c, p, w } = await subscription({ status: 503 }, { retry_policy: { schedule: 'custom', delays_s: [5], jitter: 0 } });
    // The subscription's URL with a query: webhook.disabled carries scheme, host and path only.
    const urlWithQuery = `${rx.url(p)}?token=s3cr3t`;
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { url: urlWithQuery } }), 200);
    const pOps = uniquePath('ops');
    const ops = await createWebhook(c, { name: 'ops', url: rx.url(pOps), event_types: ['webhook.disabled'] });
    const pAll = uniquePath('all-but-disabled');
    await createWebhook(c, { name: 'learners only', url: rx.url(pAll), event_types: ['learner.*'] });
    const first = await firstAttempt(c, p, w);
    await s.advanceClock(3000);
    const second = await firstAttempt(c, p, w, 2);
    assert.equal(second.d.state, 'scheduled');
    await s.advanceClock(2000); // the first delivery's last attempt is due; the second's is 3 s away
    const failed = await waitForDelivery(c, first.d.id, (x) => x.state !== 'scheduled');
    assert.equal(failed.state, 'failed');
    const sub = await waitForWebhook(c, w.id, (x) => x.active === false);
    assert.equal(sub.deactivate_reason, 'retries_exhausted');
    const canceled = await waitForDelivery(c, second.d.id, (x) => x.state !== 'scheduled');
    assert.equal(canceled.state, 'canceled');
    assert.equal(canceled.attempt_count, 1);
    await s.advanceClock(10_000);
    assert.equal((await rx.requests(p)).length, 3, 'nothing goes out after the subscription is disabled');
    // webhook.disabled: to the subscription that subscribes to it, not to the learner.* one.
    const [note] = await rx.waitFor(1, { path: pOps });
    validateEvent(note.json, { organizationId: c.orgId });
    assert.equal(note.json.type, 'webhook.disabled');
    assert.equal(note.headers['x-learnwire-event'], 'webhook.disabled');
    const { url, ...rest } = note.json.data;
    assert.deepEqual(rest, { id: w.id, name: w.name, deactivate_reason: 'retries_exhausted' });
    assert.ok([rx.url(p), `http://127.0.0.1${p}`].includes(url), `data.url ${url}: expected scheme, host and path only`);
    verifyStandardWebhookAt(ops.secret, note, await serverNow(s));
    assert.ok(!(await rx.requests(pAll)).some((r) => r.json?.type === 'webhook.disabled'));
    // It is in the events feed too.
    const evs = await allEvents(s, { key: c.key, type: 'webhook.disabled' });
    assert.deepEqual(evs.map((e) => e.id), [note.json.id]);
  });

  it('a subscription that got a 2xx since the delivery was created is not disabled when that delivery fails', async () => {
    const { c, p, w } = await subscription({ status: 500 }, { retry_policy: { schedule: 'custom', delays_s: [5], jitter: 0 } });
    const first = await firstAttempt(c, p, w);
    await rx.setMode(p, { status: 200 });
    const ok = await firstAttempt(c, p, w, 2);
    assert.equal((await waitForDelivery(c, ok.d.id, (x) => x.state !== 'scheduled')).state, 'succeeded');
    await rx.setMode(p, { status: 500 });
    await s.advanceClock(5000);
    const failed = await waitForDelivery(c, first.d.id, (x) => x.state !== 'scheduled');
    assert.equal(failed.state, 'failed');
    const sub = await c.api('GET', `/api/v1/webhooks/${w.id}`);
    assert.equal(sub.body.active, true);
    assert.equal(sub.body.deactivate_reason, null);
  });

  it('410 Gone disables the subscription at once ("http_410"), with webhook.disabled', async () => {
    const { c, p, w } = await subscription({ status: 410 });
    const pOps = uniquePath('ops410');
    await createWebhook(c, { name: 'ops', url: rx.url(pOps), event_types: ['webhook.*'] });
    const { d } = await firstAttempt(c, p, w);
    const sub = await waitForWebhook(c, w.id, (x) => x.active === false);
    assert.equal(sub.deactivate_reason, 'http_410');
    const after = await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled');
    assert.ok(['failed', 'canceled'].includes(after.state), after.state);
    assert.equal(after.last_status, 410);
    assert.equal(after.next_attempt_at, null);
    const [note] = await rx.waitFor(1, { path: pOps });
    assert.equal(note.json.type, 'webhook.disabled');
    assert.equal(note.json.data.deactivate_reason, 'http_410');
    await s.advanceClock(60_000);
    assert.equal((await rx.requests(p)).length, 1);
  });

  it('disable_on_4xx: a 400 disables at once ("http_4xx"); 408 and 429 do not; without it a 400 is retried', async () => {
    const a = await subscription({ status: 400 }, { retry_policy: { disable_on_4xx: true } });
    await firstAttempt(a.c, a.p, a.w);
    const sub = await waitForWebhook(a.c, a.w.id, (x) => x.active === false);
    assert.equal(sub.deactivate_reason, 'http_4xx');
    for (const status of [408, 429]) {
      const b = await subscription({ status }, { retry_policy: { disable_on_4xx: true } });
      const { d } = await firstAttempt(b.c, b.p, b.w);
      assert.equal(d.state, 'scheduled', `${status}`);
      assert.equal(d.last_status, status);
      const g = await b.c.api('GET', `/api/v1/webhooks/${b.w.id}`);
      assert.equal(g.body.active, true, `${status} disabled the subscription`);
    }
    const plain = await subscription({ status: 400 });
    const { d } = await firstAttempt(plain.c, plain.p, plain.w);
    assert.equal(d.state, 'scheduled');
    assert.equal((await plain.c.api('GET', `/api/v1/webhooks/${plain.w.id}`)).body.active, true);
  });

  it('429 with Retry-After: 120 waits at least 120 s; 503 too; capped at max_delay_s', async () => {
    const a = await subscription({ status: 429, headers: { 'retry-after': '120' } });
    const t0 = await serverNow(s);
    const { d } = await firstAttempt(a.c, a.p, a.w);
    assert.equal(d.state, 'scheduled');
    assert.ok(ms(d.next_attempt_at) - t0 >= 120_000, `next_attempt_at ${d.next_attempt_at} is less than 120 s after ${new Date(t0).toISOString()}`);
    await s.advanceClock(60_000);
    assert.equal((await rx.requests(a.p)).length, 1, 'retried before Retry-After');
    const b = await subscription({ status: 503, headers: { 'retry-after': '300' } });
    const t1 = await serverNow(s);
    const rb = await firstAttempt(b.c, b.p, b.w);
    assert.ok(ms(rb.d.next_attempt_at) - t1 >= 300_000, `503: next_attempt_at ${rb.d.next_attempt_at}`);
    const capped = await subscription({ status: 429, headers: { 'retry-after': '100000' } }, { retry_policy: { max_delay_s: 600, jitter: 0 } });
    const t2 = await serverNow(s);
    const rc = await firstAttempt(capped.c, capped.p, capped.w);
    const wait = ms(rc.d.next_attempt_at) - t2;
    assert.ok(wait <= 600_000 && wait >= 2000, `Retry-After beyond max_delay_s: waits ${wait} ms, expected at most 600 s`);
  });

  it('Retry-After as an HTTP-date is honoured', async () => {
    const c0 = nextOrg();
    const p = uniquePath('retry-date');
    const now = await serverNow(s);
    const until = new Date(Math.ceil((now + 400_000) / 1000) * 1000);
    await rx.setMode(p, { status: 503, headers: { 'retry-after': until.toUTCString() } });
    const w = await createWebhook(c0, { name: 'date', url: rx.url(p) });
    const { d } = await firstAttempt(c0, p, w);
    assert.ok(ms(d.next_attempt_at) >= until.getTime(), `next_attempt_at ${d.next_attempt_at} is before Retry-After ${until.toISOString()}`);
    assert.ok(ms(d.next_attempt_at) <= until.getTime() + 3_600_000, `next_attempt_at ${d.next_attempt_at} is far after Retry-After`);
  });

  it('a change of event_types affects only later events: a scheduled delivery is still retried', async () => {
    const { c, p, w } = await subscription({ sequence: [{ status: 500 }, { status: 200 }] }, { event_types: ['learner.*'], retry_policy: { jitter: 0 } });
    const { d } = await firstAttempt(c, p, w);
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { event_types: ['enrollment.*'] } }), 200);
    await s.advanceClock(2000);
    await rx.waitFor(2, { path: p });
    assert.equal((await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled')).state, 'succeeded');
    await createLearnerWithEvent(c);
    assert.equal((await deliveriesOf(c, w.id)).length, 1, 'a learner event after the change still matched');
  });
});
