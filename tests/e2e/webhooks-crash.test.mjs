// At least once across kill -9 (WEBHOOKS.md §4 Guarantees): "a black-box test kills the server with
// SIGKILL while hundreds of deliveries are scheduled or in flight, restarts it, and shows every event
// delivered at least once, promptly".
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, allEvents, validateEvent, DB_KIND } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, restartOnSameDb, verifyStandardWebhookAt } from './lib/webhooks.mjs';

const LEARNERS = 300;
const BATCH = 100;
// SQLite: the restarted process owns every lease and clears them, so what was in flight goes out
// at once. PostgreSQL: other nodes may hold live leases, so the restarted node waits for the dead
// one's to run out (on the database clock: attempt timeout + 10 s).
const ATTEMPT_TIMEOUT_S = 3;
const LEASE_MS = (ATTEMPT_TIMEOUT_S + 10) * 1000;
const ARGS = [...LOCAL_RECEIVER_ARGS, '--attempt-timeout-s', String(ATTEMPT_TIMEOUT_S)];
const PROMPTLY_MS = 20_000 + (DB_KIND === 'postgres' ? LEASE_MS : 0); // real time allowed after the restart

describe('crash safety: SIGKILL with hundreds of deliveries scheduled or in flight', () => {
  let first, second, rx;
  before(async () => {
    [first, rx] = await Promise.all([startServer({ args: ARGS }), startReceiver()]);
  });
  after(async () => {
    await second?.stop();
    await rx?.stop();
    await first?.stop(); // the killed server's stop() only deletes the database
  });

  it('after kill -9 and a restart on the same database, every committed event reaches the receiver', async () => {
    const c = orgClient(first, 0);
    const p = uniquePath('crash');
    await rx.setMode(p, { status: 200, delay_ms: 50 }); // slow enough that many attempts are in flight
    const w = await createWebhook(c, { name: 'warehouse', url: rx.url(p), event_types: ['learner.created'] });
    // 300 learners in three bulk calls; each call has committed when it answers 200.
    for (let b = 0; b < LEARNERS / BATCH; b++) {
      const learners = Array.from({ length: BATCH }, (_, i) => ({ email: `crash.${b}.${i}.${process.pid}@example.com`, firstname: 'Crash', lastname: `${b}-${i}` }));
      const r = await c.api('POST', '/api/v1/learners/bulk', { body: { learners } });
      expectStatus(r, 200);
      assert.ok(r.body.results.every((x) => x.status === 201), JSON.stringify(r.body.results.filter((x) => x.status !== 201)).slice(0, 500));
    }
    // Mid-way: some delivered, many scheduled or in flight.
    await rx.waitFor(20, { path: p });
    first.proc.kill('SIGKILL');
    await first.exited;
    const beforeKill = await rx.requests(p);
    assert.ok(beforeKill.length < LEARNERS, `all ${LEARNERS} were delivered before the kill (${beforeKill.length}): nothing was left in flight`);
    console.log(`crash test: ${beforeKill.length} requests reached the receiver before SIGKILL (${beforeKill.filter((r) => r.response.outcome !== 'sent').length} of them cut off in flight)`);

    const t0 = performance.now();
    second = await restartOnSameDb(first, { args: ARGS });
    const c2 = orgClient(second, 0);
    const events = await allEvents(second, { key: c2.key, type: 'learner.created' });
    assert.equal(events.length, LEARNERS, 'every committed learner.created is in GET /events after the restart');
    for (const e of events) validateEvent(e, { organizationId: c2.orgId });
    const wanted = new Set(events.map((e) => e.id));

    // Wait until every event id has arrived at least once (a bounded wait: the receiver's long poll).
    const seen = new Map(); // event id → count
    let all = [];
    const deadline = Date.now() + PROMPTLY_MS;
    for (let have = 0; ;) {
      all = await rx.requests(p);
      seen.clear();
      for (const r of all) seen.set(r.headers['webhook-id'], (seen.get(r.headers['webhook-id']) ?? 0) + 1);
      const missing = [...wanted].filter((id) => !seen.has(id));
      if (missing.length === 0) break;
      if (Date.now() > deadline) {
        assert.fail(`${missing.length} of ${LEARNERS} events never reached the receiver within ${PROMPTLY_MS} ms of the restart, e.g. ${missing.slice(0, 5).join(', ')}`);
      }
      have = all.length;
      // Wait for at least one more request (or give up on this round after a second and re-check).
      await rx.waitFor(have + 1, { path: p, timeoutMs: 1000 }).catch(() => {});
    }
    const took = Math.round(performance.now() - t0);
    const duplicates = all.length - seen.size;
    const redelivered = [...seen.values()].filter((n) => n > 1).length;
    console.log(`crash test: all ${LEARNERS} events delivered ${took} ms after the restart began; ${all.length} requests in all, ${duplicates} duplicates (${redelivered} events delivered more than once)`);
    assert.ok([...seen.keys()].every((id) => wanted.has(id)), 'the receiver got an event id GET /events does not list');

    // What arrived after the restart is signed with the same (persisted) secret and is the envelope of the feed.
    const byId = new Map(events.map((e) => [e.id, e]));
    const afterRestart = all.slice(beforeKill.length);
    assert.ok(afterRestart.length > 0);
    for (const r of afterRestart.slice(0, 20)) {
      verifyStandardWebhookAt(w.secret, r);
      assert.deepEqual(r.json, byId.get(r.json.id));
      validateEvent(r.json, { organizationId: c2.orgId });
    }
    // The audit list agrees: one delivery per event, every one succeeded, none left scheduled.
    const q = new URLSearchParams({ webhook_id: w.id, limit: '500' });
    let url = `/api/v1/deliveries?${q}`;
    const deliveries = [];
    for (let i = 0; url && i < 10; i++) {
      const r = await c2.api('GET', url);
      expectStatus(r, 200);
      deliveries.push(...r.body.results);
      url = r.body.next;
    }
    assert.equal(deliveries.length, LEARNERS, 'one delivery per event and subscription');
    assert.equal(new Set(deliveries.map((d) => d.event_id)).size, LEARNERS);
    // (On PostgreSQL, those cut off in flight are sent again once their leases run out.)
    const settleDeadline = Date.now() + 10_000 + (DB_KIND === 'postgres' ? LEASE_MS : 0);
    let states = deliveries.map((d) => d.state);
    while (states.some((st) => st !== 'succeeded') && Date.now() < settleDeadline) {
      await new Promise((r) => setTimeout(r, 50));
      const r = await c2.api('GET', `/api/v1/deliveries?${new URLSearchParams({ webhook_id: w.id, state: 'succeeded', limit: '1', count: 'exact' })}`);
      expectStatus(r, 200);
      if (r.body.count === LEARNERS) states = Array(LEARNERS).fill('succeeded');
    }
    assert.ok(states.every((st) => st === 'succeeded'), `deliveries not succeeded: ${JSON.stringify(deliveries.filter((d) => d.state !== 'succeeded').slice(0, 3))}`);
  });
});
