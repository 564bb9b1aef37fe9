// Subscriptions do not hold each other up (WEBHOOKS.md §4 Guarantees): at most
// in_flight_per_subscription attempts in flight per subscription, a slow or hanging receiver never
// delays deliveries to other subscriptions, and one backlog never starves the others.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, learnerBody } from './lib/webhooks.mjs';

/** The largest number of requests the receiver was answering at the same time. */
function maxOverlap(records) {
  const marks = [];
  for (const r of records) {
    marks.push([r.received_us, 1]);
    marks.push([r.response.settled_us ?? Number.MAX_SAFE_INTEGER, -1]);
  }
  marks.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an end before a start at the same instant
  let cur = 0;
  let max = 0;
  for (const [, d] of marks) { cur += d; max = Math.max(max, cur); }
  return max;
}

async function bulkLearners(c, n) {
  const r = await c.api('POST', '/api/v1/learners/bulk', { body: { learners: Array.from({ length: n }, () => learnerBody()) } });
  expectStatus(r, 200);
  assert.ok(r.body.results.every((x) => x.status === 201));
}

describe('subscriptions do not hold each other up', () => {
  let s, rx;
  before(async () => {
    [s, rx] = await Promise.all([
      startServer({ orgs: 3, args: [...LOCAL_RECEIVER_ARGS, '--in-flight-per-subscription', '2', '--attempt-timeout-s', '10'] }),
      startReceiver(),
    ]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('at most in_flight_per_subscription attempts are in flight for one subscription', async () => {
    const c = orgClient(s, 0);
    const p = uniquePath('capped');
    await rx.setMode(p, { status: 200, delay_ms: 150 });
    await createWebhook(c, { name: 'capped', url: rx.url(p) });
    await bulkLearners(c, 10);
    const reqs = await rx.waitFor(10, { path: p, settled: true });
    const overlap = maxOverlap(reqs);
    assert.ok(overlap <= 2, `${overlap} attempts were in flight at once to one subscription (cap 2)`);
  });

  it('a hanging receiver does not delay another subscription\'s deliveries', async () => {
    const c = orgClient(s, 1);
    const pHang = uniquePath('hanging');
    const pFast = uniquePath('fast');
    await rx.setMode(pHang, { hang: true });
    await createWebhook(c, { name: 'hangs', url: rx.url(pHang) });
    await createWebhook(c, { name: 'fast', url: rx.url(pFast) });
    await bulkLearners(c, 20);
    const fast = await rx.waitFor(20, { path: pFast, timeoutMs: 8000 });
    assert.equal(new Set(fast.map((r) => r.headers['webhook-id'])).size, 20);
    // Every one arrived while the hanging attempts were still hanging (none had timed out yet):
    // the fast subscription never waited for the other's slots.
    const hung = await rx.requests(pHang);
    assert.ok(hung.length >= 1 && hung.length <= 2, `${hung.length} attempts in flight to the hanging subscription (cap 2)`);
    const lastFast = Math.max(...fast.map((r) => r.received_us));
    for (const h of hung) {
      assert.ok(h.response.outcome === 'pending' || h.response.settled_us > lastFast,
        'a hanging attempt ended before the other subscription had all its deliveries');
    }
  });

  it("one subscription's backlog does not starve a fresh event for another", async () => {
    const c = orgClient(s, 2);
    const pSlow = uniquePath('backlog');
    const pFresh = uniquePath('fresh');
    await rx.setMode(pSlow, { status: 200, delay_ms: 100 });
    await createWebhook(c, { name: 'backlog', url: rx.url(pSlow), event_types: ['learner.created'] });
    await createWebhook(c, { name: 'fresh', url: rx.url(pFresh), event_types: ['learner.updated'] });
    // 200 deliveries at 2 in flight and 100 ms each: a backlog of about 10 s.
    await bulkLearners(c, 100);
    await bulkLearners(c, 100);
    const first = (await rx.waitFor(1, { path: pSlow }))[0];
    const r = await c.api('PATCH', `/api/v1/learners/${first.json.data.id}`, { body: { firstname: 'Fresh' } });
    expectStatus(r, 200);
    const fresh = (await rx.waitFor(1, { path: pFresh, timeoutMs: 8000 }))[0];
    assert.equal(fresh.json.type, 'learner.updated');
    const slowBefore = (await rx.requests(pSlow)).filter((x) => x.received_us < fresh.received_us).length;
    assert.ok(slowBefore < 200, `the fresh event was delivered only after the whole backlog (${slowBefore} first)`);
  });
});
