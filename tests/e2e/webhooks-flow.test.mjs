// Flow control per subscription (WEBHOOKS.md §4 "its concurrency adapts", §1 rate_limit_per_s),
// seen from the receiver: when requests arrive, and how many overlap.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, allEvents } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, learnerBody, maxOverlap, collapsedOrder } from './lib/webhooks.mjs';

async function bulkLearners(c, n) {
  const r = await c.api('POST', '/api/v1/learners/bulk', { body: { learners: Array.from({ length: n }, () => learnerBody()) } });
  expectStatus(r, 200);
  assert.ok(r.body.results.every((x) => x.status === 201));
}

describe('flow control per subscription', () => {
  let s, rx;
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 3, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('503s halve the concurrency down to one; successes raise it again, one at a time', async () => {
    const c = orgClient(s, 0);
    const p = uniquePath('adaptive');
    await rx.setMode(p, { status: 503, delay_ms: 300 });
    // Retries far away, so only first attempts are in play.
    await createWebhook(c, { name: 'overloaded', url: rx.url(p), retry_policy: { schedule: 'custom', delays_s: [3600] } });
    await bulkLearners(c, 16);
    const failing = await rx.waitFor(16, { path: p, settled: true, timeoutMs: 20_000 });
    failing.sort((a, b) => Number(a.received_us) - Number(b.received_us));
    // The first round fills the cap (in_flight_per_subscription, 8 by default)…
    assert.equal(maxOverlap(failing.slice(0, 8)), 8, 'the first eight went out together');
    // …then, with every answer a 503, one at a time.
    const later = failing.slice(8);
    assert.equal(maxOverlap(later), 1, `after eight 503s more than one request was open at once`);
    // Successes raise the limit by one each: more requests overlap again, never above the cap.
    await rx.setMode(p, { status: 200, delay_ms: 300 });
    await bulkLearners(c, 14);
    const all = await rx.waitFor(30, { path: p, settled: true, timeoutMs: 20_000 });
    const recovering = all.filter((r) => !failing.some((f) => f.seq === r.seq));
    const overlap = maxOverlap(recovering);
    assert.ok(overlap > 1 && overlap <= 8, `while succeeding, at most ${overlap} open at once`);
  });

  it('rate_limit_per_s: 10 spreads 30 deliveries over about three seconds, never more than 11 in a second', async () => {
    const c = orgClient(s, 1);
    const p = uniquePath('rate');
    await createWebhook(c, { name: 'throttled', url: rx.url(p), rate_limit_per_s: 10 });
    await bulkLearners(c, 30);
    const got = await rx.waitFor(30, { path: p, timeoutMs: 20_000 });
    const times = got.map((r) => Number(r.received_us) / 1000).sort((a, b) => a - b);
    // A bucket of one (a tenth of a second's worth) refilled 10 times a second.
    for (let i = 0; i < times.length; i++) {
      const inSecond = times.filter((t) => t >= times[i] && t < times[i] + 1000).length;
      assert.ok(inSecond <= 11, `${inSecond} requests within a second from #${i}`);
    }
    const span = times.at(-1) - times[0];
    assert.ok(span >= 2500, `30 requests at 10/s arrived within ${Math.round(span)} ms`);
  });

  it('ordered: one at a time in commit order; a failing head holds back the rest until it succeeds', async () => {
    const c = orgClient(s, 2);
    const p = uniquePath('ordered');
    // The second request fails twice, then everything succeeds.
    await rx.setMode(p, { sequence: [{ status: 200 }, { status: 500 }, { status: 500 }, { status: 200, delay_ms: 20 }] });
    await createWebhook(c, { name: 'in order', url: rx.url(p), ordered: true, event_types: ['learner.created'] });
    await bulkLearners(c, 10);
    await rx.waitFor(2, { path: p, settled: true });
    // The head (event 2) failed and waits for its retry: nothing behind it goes out meanwhile.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await rx.requests(p)).length, 2, 'a delivery behind the failing head went out');
    await s.advanceClock(3000); // past the first retry (2 s ± 10 %)
    await rx.waitFor(3, { path: p, settled: true });
    await s.advanceClock(5000); // past the second (4 s ± 10 %)
    const got = await rx.waitFor(12, { path: p, settled: true, timeoutMs: 20_000 });
    const order = (await allEvents(s, { key: c.key, type: 'learner.created' })).map((e) => e.id);
    assert.deepEqual(collapsedOrder(got), order, 'arrivals are not in commit order');
    assert.equal(maxOverlap(got), 1, 'two deliveries of an ordered subscription were open at once');
    const ids = got.map((r) => r.headers['webhook-id']);
    assert.equal(ids.filter((id) => id === order[1]).length, 3, 'the failing head was sent three times');
  });
});
