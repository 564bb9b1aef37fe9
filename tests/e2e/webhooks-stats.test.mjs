// Delivery statistics (WEBHOOKS.md §6 GET /webhooks/{id}/stats, API.md GET /stats/deliveries): counts
// by state in the window, success rate, latency quantiles, buckets and their alignment, test
// deliveries left out, validation and tenant isolation. The manual clock places every delivery.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, expectProblem } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, waitForDelivery, deliveryFor,
  serverNow,
} from './lib/webhooks.mjs';

const DAY_MS = 86_400_000;
const DELAY_MS = 150; // the receiver's delay: a floor for the durations it causes
const iso = (t) => new Date(t).toISOString();

describe('delivery statistics', () => {
  let s, rx;
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 3, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  /** A learner whose delivery to `w` is awaited until `pred` holds; resolves the delivery. */
  async function delivered(c, w, pred) {
    const { event, learner } = await createLearnerWithEvent(c);
    const d = await deliveryFor(c, w.id, event.id);
    return { learner, event, d: await waitForDelivery(c, d.id, pred) };
  }
  const stats = async (c, id) => expectStatus(await c.api('GET', `/api/v1/webhooks/${id}/stats`), 200);

  it('GET /webhooks/{id}/stats: counts, success rate, latency, last delivery; /test left out, /retry counted; a 24 h window', async () => {
    const c = orgClient(s, 0);
    const p = uniquePath('stats');
    const w = await createWebhook(c, {
      name: 'stats', url: rx.url(p), event_types: ['learner.created'],
      retry_policy: { schedule: 'custom', delays_s: [1], jitter: 0 },
    });
    assert.deepEqual(await stats(c, w.id), {
      window_s: 86400, counts: { scheduled: 0, succeeded: 0, failed: 0, canceled: 0 }, success_rate: null,
      latency_ms: { p50: null, p95: null, p99: null }, last_delivery_at: null,
    });
    // F fails its first attempt; two successes follow (after F was created, so F's exhaustion does
    // not disable the subscription); F fails again and is failed; X fails once and stays scheduled.
    // Every first attempt waits DELAY_MS at the receiver.
    await rx.setMode(p, { status: 500, delay_ms: DELAY_MS });
    const f = await delivered(c, w, (x) => x.attempt_count === 1);
    await rx.setMode(p, { delay_ms: DELAY_MS });
    await delivered(c, w, (x) => x.state === 'succeeded');
    await delivered(c, w, (x) => x.state === 'succeeded');
    await rx.setMode(p, { status: 500 });
    await s.advanceClock(1000);
    await waitForDelivery(c, f.d.id, (x) => x.state === 'failed');
    await rx.setMode(p, { status: 500, delay_ms: DELAY_MS });
    const x = await delivered(c, w, (d) => d.attempt_count === 1);
    assert.equal(x.d.state, 'scheduled');
    const st = await stats(c, w.id);
    assert.deepEqual(st.counts, { scheduled: 1, succeeded: 2, failed: 1, canceled: 0 });
    assert.equal(st.success_rate, 2 / 3);
    for (const q of ['p50', 'p95', 'p99']) assert.ok(Number.isInteger(st.latency_ms[q]) && st.latency_ms[q] >= DELAY_MS, `${q}: ${st.latency_ms[q]}`);
    assert.ok(st.latency_ms.p50 <= st.latency_ms.p95 && st.latency_ms.p95 <= st.latency_ms.p99);
    assert.equal(st.last_delivery_at, x.d.attempts[0].started_at);

    // Deactivating cancels X.
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: false } }), 200);
    const off = await stats(c, w.id);
    assert.deepEqual(off.counts, { scheduled: 0, succeeded: 2, failed: 1, canceled: 1 });
    assert.deepEqual([off.latency_ms, off.last_delivery_at], [st.latency_ms, st.last_delivery_at]);

    // A /test delivery changes nothing, not even last_delivery_at.
    await rx.setMode(p, null);
    await s.advanceClock(1000);
    expectStatus(await c.api('POST', `/api/v1/webhooks/${w.id}/test`), 200);
    assert.deepEqual(await stats(c, w.id), off);

    // A /retry is an attempt: F succeeds now (it finished in the window already).
    await s.advanceClock(1000);
    const retried = expectStatus(await c.api('POST', `/api/v1/deliveries/${f.d.id}/retry`, { body: {} }), 200);
    const after = await stats(c, w.id);
    assert.deepEqual(after.counts, { scheduled: 0, succeeded: 3, failed: 0, canceled: 1 });
    assert.equal(after.success_rate, 1);
    assert.equal(after.last_delivery_at, retried.started_at);
    assert.ok(after.last_delivery_at > st.last_delivery_at);
    assert.deepEqual(after.latency_ms, st.latency_ms, 'only first attempts make the latency');

    // A day later the window is empty; the last delivery stays.
    await s.advanceClock(DAY_MS + 1000);
    assert.deepEqual(await stats(c, w.id), {
      window_s: 86400, counts: { scheduled: 0, succeeded: 0, failed: 0, canceled: 0 }, success_rate: null,
      latency_ms: { p50: null, p95: null, p99: null }, last_delivery_at: after.last_delivery_at,
    });

    // Unknown, malformed, another organization's and deleted webhooks are not found.
    expectProblem(await c.api('GET', '/api/v1/webhooks/wh_01ARZ3NDEKTSV4RRFFQ69G5FAV/stats'), 404, 'not-found');
    expectProblem(await c.api('GET', '/api/v1/webhooks/nope/stats'), 404, 'not-found');
    expectProblem(await orgClient(s, 1).api('GET', `/api/v1/webhooks/${w.id}/stats`), 404, 'not-found');
    expectStatus(await c.api('DELETE', `/api/v1/webhooks/${w.id}`), 204);
    expectProblem(await c.api('GET', `/api/v1/webhooks/${w.id}/stats`), 404, 'not-found');
  });

  describe('GET /stats/deliveries', () => {
    let c, t0, w1, w2, w3, p3, scheduled, failedId;
    const path = (q) => `/api/v1/stats/deliveries?${new URLSearchParams(q)}`;
    const get = async (q, client = c) => expectStatus(await client.api('GET', path(q)), 200);
    const zero = { succeeded: 0, failed: 0, attempts: 0, p50_ms: null, p95_ms: null };

    // Minute 0: L1 to W1 (200 after DELAY_MS) and W2 (500, retried in an hour). Minute 1: L2 to
    // both; L1 banned → W3 (500, one attempt only) fails. Then the clock moves to minute 2.
    before(async () => {
      c = orgClient(s, 2);
      const [p1, p2] = [uniquePath('stats1'), uniquePath('stats2')];
      p3 = uniquePath('stats3');
      await rx.setMode(p1, { delay_ms: DELAY_MS });
      await rx.setMode(p2, { status: 500 });
      await rx.setMode(p3, { status: 500 });
      w1 = await createWebhook(c, { name: 'w1', url: rx.url(p1), event_types: ['learner.created'] });
      w2 = await createWebhook(c, { name: 'w2', url: rx.url(p2), event_types: ['learner.created'], retry_policy: { schedule: 'custom', delays_s: [3600] } });
      w3 = await createWebhook(c, { name: 'w3', url: rx.url(p3), event_types: ['learner.banned'], retry_policy: { schedule: 'custom', delays_s: [] } });
      t0 = await serverNow(s);
      const l1 = await delivered(c, w1, (x) => x.state === 'succeeded');
      const firstAttempt = async (w, event) => waitForDelivery(c, (await deliveryFor(c, w.id, event.id)).id, (x) => x.attempt_count === 1);
      scheduled = await firstAttempt(w2, l1.event);
      await s.advanceClock(60_000);
      const l2 = await delivered(c, w1, (x) => x.state === 'succeeded');
      await firstAttempt(w2, l2.event);
      expectStatus(await c.api('POST', `/api/v1/learners/${l1.learner.id}/ban`), 200);
      const { body: bans } = await c.api('GET', '/api/v1/events?type=learner.banned');
      const failed = await waitForDelivery(c, (await deliveryFor(c, w3.id, bans.results[0].id)).id, (x) => x.state === 'failed');
      failedId = failed.id;
      await s.advanceClock(60_000);
    });

    it('buckets aligned to since, every one present; counts, attempts and quantiles per bucket', async () => {
      const r = await get({ since: iso(t0), until: iso(t0 + 180_000), bucket_s: '60' });
      assert.deepEqual(r.buckets.map((b) => b.start), [iso(t0), iso(t0 + 60_000), iso(t0 + 120_000)]);
      const [b0, b1, b2] = r.buckets;
      assert.deepEqual([b0.succeeded, b0.failed, b0.attempts], [1, 0, 2]);
      assert.deepEqual([b1.succeeded, b1.failed, b1.attempts], [1, 1, 3]);
      // Nearest rank: the slow W1 attempt is the top one of each bucket, so p95 is at least the delay.
      assert.ok(b0.p95_ms >= DELAY_MS && b1.p95_ms >= DELAY_MS, `${b0.p95_ms} ${b1.p95_ms}`);
      assert.ok(b0.p50_ms <= b0.p95_ms && b1.p50_ms <= b1.p95_ms);
      assert.deepEqual(b2, { start: iso(t0 + 120_000), ...zero });
      assert.equal(r.oldest_scheduled_at, scheduled.created_at);
    });

    it('one webhook with webhook_id; another organization sees nothing and may not name it', async () => {
      const q = { since: iso(t0), until: iso(t0 + 120_000), bucket_s: '60' };
      const one = await get({ ...q, webhook_id: w1.id });
      assert.deepEqual(one.buckets.map((b) => [b.succeeded, b.failed, b.attempts]), [[1, 0, 1], [1, 0, 1]]);
      for (const b of one.buckets) assert.ok(b.p50_ms >= DELAY_MS && b.p95_ms >= DELAY_MS, JSON.stringify(b));
      assert.equal(one.oldest_scheduled_at, null);
      const two = await get({ ...q, webhook_id: w2.id });
      assert.deepEqual(two.buckets.map((b) => [b.succeeded, b.failed, b.attempts]), [[0, 0, 1], [0, 0, 1]]);
      assert.equal(two.oldest_scheduled_at, scheduled.created_at);
      const theirs = orgClient(s, 1);
      const none = await get(q, theirs);
      assert.deepEqual(none, { buckets: [{ start: iso(t0), ...zero }, { start: iso(t0 + 60_000), ...zero }], oldest_scheduled_at: null });
      expectProblem(await theirs.api('GET', path({ ...q, webhook_id: w1.id })), 404, 'not-found');
      expectProblem(await c.api('GET', path({ webhook_id: 'wh_01ARZ3NDEKTSV4RRFFQ69G5FAV' })), 404, 'not-found');
      expectProblem(await c.api('GET', path({ webhook_id: 'nope' })), 404, 'not-found');
    });

    it('since not on a bucket edge; a shorter last bucket; defaults: the last hour by minute', async () => {
      const shifted = await get({ since: iso(t0 - 30_000), until: iso(t0 + 90_000), bucket_s: '60' });
      assert.deepEqual(shifted.buckets.map((b) => [b.start, b.succeeded, b.failed, b.attempts]),
        [[iso(t0 - 30_000), 1, 0, 2], [iso(t0 + 30_000), 1, 1, 3]]);
      const partial = await get({ since: iso(t0), until: iso(t0 + 61_000), bucket_s: '60' });
      assert.deepEqual(partial.buckets.map((b) => [b.start, b.attempts]), [[iso(t0), 2], [iso(t0 + 60_000), 3]]);
      const now = await serverNow(s);
      const d = await get({});
      assert.equal(d.buckets.length, 60);
      d.buckets.forEach((b, k) => assert.equal(b.start, iso(now - 3_600_000 + k * 60_000)));
      const at = (t) => d.buckets[Math.floor((t - (now - 3_600_000)) / 60_000)];
      assert.deepEqual([at(t0).succeeded, at(t0).attempts, at(t0 + 60_000).failed], [1, 2, 1]);
      const untilOnly = await get({ until: iso(t0 + 60_000), bucket_s: '600' });
      assert.deepEqual(untilOnly.buckets.map((b) => b.start), [0, 1, 2, 3, 4, 5].map((k) => iso(t0 - 3_540_000 + k * 600_000)));
      // Offsets are accepted.
      const plus2 = new Date(t0 + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      assert.deepEqual((await get({ since: plus2, until: iso(t0 + 60_000) })).buckets[0].attempts, 2);
    });

    it('/test attempts are left out; /retry attempts count', async () => {
      const q = { since: iso(t0 + 120_000), until: iso(t0 + 180_000) };
      expectStatus(await c.api('POST', `/api/v1/webhooks/${w1.id}/test`), 200);
      assert.deepEqual((await get(q)).buckets, [{ start: iso(t0 + 120_000), ...zero }]);
      const retried = expectStatus(await c.api('POST', `/api/v1/deliveries/${failedId}/retry`, { body: {} }), 200);
      assert.equal(retried.delivery_state, 'failed');
      const [b] = (await get(q)).buckets;
      assert.deepEqual([b.succeeded, b.failed, b.attempts, b.p50_ms, b.p95_ms], [0, 0, 1, retried.duration_ms, retried.duration_ms]);
    });

    it('422 naming the parameter for bad values; 400 for unknown or repeated parameters', async () => {
      const cases = [
        [{ bucket_s: '5' }, 'bucket_s'], [{ bucket_s: '86401' }, 'bucket_s'], [{ bucket_s: 'abc' }, 'bucket_s'], [{ bucket_s: '60.5' }, 'bucket_s'],
        [{ since: 'yesterday' }, 'since'], [{ until: '2026-02-30T00:00:00Z' }, 'until'],
        [{ since: iso(t0), until: iso(t0) }, 'since'], [{ since: iso(t0 + 1000), until: iso(t0) }, 'since'],
        [{ since: iso(t0 - DAY_MS), until: iso(t0), bucket_s: '10' }, 'bucket_s'], // 8,640 buckets
      ];
      for (const [q, field] of cases) {
        const problem = expectProblem(await c.api('GET', path(q)), 422, 'validation');
        assert.equal(problem.errors[0].field, field, JSON.stringify(q));
      }
      // 1,440 buckets are allowed.
      assert.equal((await get({ since: iso(t0 - DAY_MS), until: iso(t0), bucket_s: '60' })).buckets.length, 1440);
      expectProblem(await c.api('GET', '/api/v1/stats/deliveries?colour=red'), 400, 'malformed');
      expectProblem(await c.api('GET', '/api/v1/stats/deliveries?bucket_s=60&bucket_s=120'), 400, 'malformed');
    });

    it('needs the webhooks scope', async () => {
      const { key } = await s.createKey(['read', 'write'], s.orgs[2].orgId);
      expectProblem(await s.api('GET', '/api/v1/stats/deliveries', { key }), 403, 'forbidden');
      expectProblem(await s.api('GET', `/api/v1/webhooks/${w1.id}/stats`, { key }), 403, 'forbidden');
    });
  });
});
