// Flow control per subscription (WEBHOOKS.md §4 "its concurrency adapts", §1 rate_limit_per_s),
// seen from the receiver: when requests arrive, and how many overlap.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, learnerBody } from './lib/webhooks.mjs';

/** The most requests that were open at once (received, not yet answered) among `requests`. */
function maxOverlap(requests) {
  const edges = [];
  for (const r of requests) {
    edges.push([Number(r.received_us), 1], [Number(r.response.settled_us), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an answer before an arrival at the same µs
  let open = 0;
  let most = 0;
  for (const [, d] of edges) {
    open += d;
    most = Math.max(most, open);
  }
  return most;
}

async function bulkLearners(c, n) {
  const r = await c.api('POST', '/api/v1/learners/bulk', { body: { learners: Array.from({ length: n }, () => learnerBody()) } });
  expectStatus(r, 200);
  assert.ok(r.body.results.every((x) => x.status === 201));
}

describe('flow control per subscription', () => {
  let s, rx;
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 2, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
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
});
