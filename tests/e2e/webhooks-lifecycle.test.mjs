// What operators and privacy rules need of delivery (issue 3 "Operations", DOMAIN.md erasure):
// erasure reaches the audit's copies, /metrics shows the queue, retention purges finished work but
// never scheduled deliveries, and SIGTERM lets in-flight attempts finish.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveryFor,
  waitForDelivery, pollApi, restartOnSameDb,
} from './lib/webhooks.mjs';

const DAY_MS = 86_400_000;

async function metricsText(s) {
  const res = await fetch(`${s.baseUrl}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function sample(text, name, labels = '') {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('delivery operations', () => {
  let s, rx;
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 3, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('erasing a learner scrubs the envelope every delivery shows', async () => {
    const c = orgClient(s, 0);
    const p = uniquePath('erase');
    const w = await createWebhook(c, { name: 'crm', url: rx.url(p) });
    const { learner, event } = await createLearnerWithEvent(c, { external_id: 'ERASE-ME' });
    const d = await deliveryFor(c, w.id, event.id);
    await waitForDelivery(c, d.id, (x) => x.state === 'succeeded');
    expectStatus(await c.api('POST', `/api/v1/learners/${learner.id}/erase`, { body: {} }), 200);
    const after = await c.api('GET', `/api/v1/deliveries/${d.id}`);
    expectStatus(after, 200);
    const data = after.body.event.data;
    assert.equal(data.email, 'erased');
    assert.equal(data.firstname, 'erased');
    assert.equal(data.external_id, null);
    assert.ok(!JSON.stringify(after.body).includes(learner.email), 'the address is still in the delivery');
  });

  it('/metrics shows attempts by outcome, deliveries by state, queue depth, oldest due age and first-attempt latency', async () => {
    const c = orgClient(s, 1);
    const ok = uniquePath('metrics-ok');
    const bad = uniquePath('metrics-bad');
    // 500, not 503: a 503 would halve the subscription's concurrency, and the queue-depth check
    // below needs all 8 slots.
    await rx.setMode(bad, { status: 500 });
    const wOk = await createWebhook(c, { name: 'ok', url: rx.url(ok) });
    const wBad = await createWebhook(c, { name: 'bad', url: rx.url(bad) });
    const { event } = await createLearnerWithEvent(c);
    await waitForDelivery(c, (await deliveryFor(c, wOk.id, event.id)).id, (x) => x.state === 'succeeded');
    await waitForDelivery(c, (await deliveryFor(c, wBad.id, event.id)).id, (x) => x.attempt_count === 1);
    const m = await metricsText(s);
    assert.ok(sample(m, 'learnwire_webhook_attempts_total', '{outcome="success"}') >= 1, m);
    assert.ok(sample(m, 'learnwire_webhook_attempts_total', '{outcome="http_5xx"}') >= 1);
    assert.ok(sample(m, 'learnwire_webhook_deliveries', '{state="succeeded"}') >= 1);
    assert.ok(sample(m, 'learnwire_webhook_deliveries', '{state="scheduled"}') >= 1);
    assert.ok(sample(m, 'learnwire_webhook_first_attempt_latency_seconds_count') >= 2);
    // The failed one waits ~2 s for its retry: due later, so the queue of due work is empty now…
    assert.equal(sample(m, 'learnwire_webhook_queue_depth'), 0);
    assert.equal(sample(m, 'learnwire_webhook_oldest_due_age_seconds'), 0);
    // …and with more due than the subscription's 8 slots (the receiver now hangs), the rest wait:
    // 9 more failures, then a minute later all 10 are due, 8 go out and 2 wait, 58 s overdue.
    const bulk = await c.api('POST', '/api/v1/learners/bulk', {
      body: { learners: Array.from({ length: 9 }, (_, i) => ({ email: `m${i}.${Date.now()}@example.com`, firstname: 'M', lastname: `${i}` })) },
    });
    expectStatus(bulk, 200);
    await pollApi(c, `/api/v1/deliveries?webhook_id=${wBad.id}&state=scheduled`,
      (b) => b.results.length === 10 && b.results.every((x) => x.attempt_count === 1), { what: 'ten first attempts' });
    await rx.setMode(bad, { hang: true });
    await s.advanceClock(60_000);
    await rx.waitFor(8 + 10, { path: bad });
    const later = await metricsText(s);
    assert.equal(sample(later, 'learnwire_webhook_queue_depth'), 2, later);
    const age = sample(later, 'learnwire_webhook_oldest_due_age_seconds');
    assert.ok(age >= 57 && age <= 60, `oldest due age ${age}`);
    await rx.setMode(bad, { status: 200 });
  });

  it('retention purges finished deliveries and their events, never a scheduled one or its event', async () => {
    const c = orgClient(s, 2);
    const done = uniquePath('retention-done');
    const failing = uniquePath('retention-failing');
    await rx.setMode(failing, { status: 500 });
    const wDone = await createWebhook(c, { name: 'done', url: rx.url(done) });
    // One retry a day apart: the delivery is still scheduled when the first one is purged.
    const wFailing = await createWebhook(c, {
      name: 'failing', url: rx.url(failing), event_types: ['learner.updated'],
      retry_policy: { schedule: 'custom', delays_s: [86400, 86400, 86400], jitter: 0 },
    });
    const { learner, event } = await createLearnerWithEvent(c);
    const finished = await deliveryFor(c, wDone.id, event.id);
    await waitForDelivery(c, finished.id, (x) => x.state === 'succeeded');
    expectStatus(await c.api('PATCH', `/api/v1/learners/${learner.id}`, { body: { firstname: 'Kept' } }), 200);
    const updated = (await c.api('GET', '/api/v1/events?type=learner.updated')).body.results.at(-1);
    const scheduled = await deliveryFor(c, wFailing.id, updated.id);
    await waitForDelivery(c, scheduled.id, (x) => x.attempt_count === 1);
    // 31 days later (retention_days = 30), in one step: the retries come due at once.
    await s.advanceClock(31 * DAY_MS);
    await pollApi(c, `/api/v1/webhooks/${wDone.id}/deliveries`, (b) => b.results.length === 0, { what: 'the purge' });
    const gone = await c.api('GET', `/api/v1/deliveries/${finished.id}`);
    assert.equal(gone.status, 404);
    const kept = await c.api('GET', `/api/v1/deliveries/${scheduled.id}`);
    expectStatus(kept, 200);
    assert.ok(['scheduled', 'failed'].includes(kept.body.state));
    assert.equal(kept.body.event.id, updated.id, 'the event of a delivery that was scheduled is kept');
    expectStatus(await c.api('GET', `/api/v1/events/${updated.id}`), 200);
  });
});

describe('a lease that runs out while its attempt is alive', () => {
  let s, rx;
  before(async () => {
    [s, rx] = await Promise.all([startServer({ args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('a clock step past the lease during an attempt sends nothing twice and records one attempt', async () => {
    const c = orgClient(s, 0);
    const p = uniquePath('clock-step');
    await rx.setMode(p, { status: 200, delay_ms: 800 });
    const w = await createWebhook(c, { name: 'slow', url: rx.url(p) });
    const { event } = await createLearnerWithEvent(c);
    await rx.waitFor(1, { path: p });       // the attempt is in flight…
    await s.advanceClock(10 * 60_000);      // …when its lease (timeout + 10 s) runs out
    const d = await deliveryFor(c, w.id, event.id);
    const done = await waitForDelivery(c, d.id, (x) => x.state === 'succeeded');
    assert.equal(done.attempts.length, 1);
    // A later event goes out normally: nothing is stuck.
    const next = await createLearnerWithEvent(c);
    await rx.waitFor(2, { path: p });
    const requests = await rx.requests(p);
    assert.equal(requests.filter((r) => r.headers['webhook-id'] === event.id).length, 1, 'sent twice');
    assert.ok(requests.some((r) => r.headers['webhook-id'] === next.event.id));
  });
});

describe('SIGTERM and deliveries in flight', () => {
  let first, second, rx;
  before(async () => {
    [first, rx] = await Promise.all([startServer({ args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await second?.stop(); await first?.stop(); await rx?.stop(); });

  it('an attempt in flight finishes and is recorded; the process exits 0; nothing is sent twice', async () => {
    const c = orgClient(first, 0);
    const p = uniquePath('drain');
    await rx.setMode(p, { status: 200, delay_ms: 700 });
    const w = await createWebhook(c, { name: 'slow', url: rx.url(p) });
    const { event } = await createLearnerWithEvent(c);
    const d = await deliveryFor(c, w.id, event.id);
    await rx.waitFor(1, { path: p });  // received, still being answered
    first.proc.kill('SIGTERM');
    const exit = await first.exited;
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    const [req] = await rx.requests(p, { settled: true });
    assert.equal(req.response.outcome, 'sent', 'the attempt was cut off instead of finishing');
    second = await restartOnSameDb(first, { args: LOCAL_RECEIVER_ARGS });
    const after = await orgClient(second, 0).api('GET', `/api/v1/deliveries/${d.id}`);
    expectStatus(after, 200);
    assert.equal(after.body.state, 'succeeded');
    assert.equal(after.body.attempts.length, 1);
    // A restart sends nothing again.
    await createLearnerWithEvent(orgClient(second, 0));
    await rx.waitFor(2, { path: p });
    assert.equal((await rx.requests(p)).filter((r) => r.headers['webhook-id'] === event.id).length, 1);
  });
});
