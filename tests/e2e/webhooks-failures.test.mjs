// Failed attempts and canceled deliveries (WEBHOOKS.md §1 active/delete, §3 redirects, §4 States and
// attempt errors, §5): redirects are not followed, timeouts, refused and reset connections, the
// response excerpt, deactivation and deletion, and the configuration used at attempt time.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, expectProblem } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveriesOf, waitForDelivery,
  deliveryFor, closedPortUrl, expectedSignature, signaturesOf,
} from './lib/webhooks.mjs';

describe('failed attempts and canceled deliveries', () => {
  let s, rx;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 18, args: [...LOCAL_RECEIVER_ARGS, '--attempt-timeout-s', '1'] }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  /** A subscription at `url` (default: a fresh receiver path answered with `mode`). */
  async function subscription(mode, extra = {}, url) {
    const c = nextOrg();
    const p = uniquePath('fail');
    if (mode) await rx.setMode(p, mode);
    const w = await createWebhook(c, { name: `fail ${p}`, url: url ?? rx.url(p), ...extra });
    return { c, p, w };
  }

  /** Creates a learner; resolves its delivery once the first attempt is recorded. */
  async function attempted(c, w) {
    const { event } = await createLearnerWithEvent(c);
    const d = await deliveryFor(c, w.id, event.id);
    return waitForDelivery(c, d.id, (x) => x.attempt_count >= 1 && x.attempts.length >= 1);
  }

  it('a 3xx is a failed attempt and is not followed: the redirect target receives nothing', async () => {
    const target = uniquePath('redirect-target');
    const { c, p, w } = await subscription({ redirect: rx.url(target), status: 302 });
    const d = await attempted(c, w);
    assert.equal(d.state, 'scheduled');
    assert.equal(d.last_status, 302);
    assert.equal(d.attempts[0].status, 302);
    assert.equal((await rx.requests(p)).length, 1);
    assert.equal((await rx.requests(target)).length, 0, 'the redirect was followed');
    const perm = await subscription({ redirect: rx.url(target), status: 308 });
    const d2 = await attempted(perm.c, perm.w);
    assert.equal(d2.last_status, 308);
    assert.equal(d2.state, 'scheduled');
    assert.equal((await rx.requests(target)).length, 0, 'the 308 redirect was followed');
  });

  it('a receiver that never answers: the attempt ends with error "timeout" after attempt_timeout_s', async () => {
    const { c, p, w } = await subscription({ hang: true });
    const t0 = performance.now();
    const d = await attempted(c, w);
    const took = performance.now() - t0;
    assert.equal(d.state, 'scheduled');
    assert.equal(d.last_error, 'timeout');
    assert.equal(d.last_status, null);
    assert.equal(d.attempts[0].error, 'timeout');
    assert.equal(d.attempts[0].status, null);
    assert.ok(d.attempts[0].duration_ms >= 900 && d.attempts[0].duration_ms <= 3000, `duration_ms ${d.attempts[0].duration_ms}`);
    assert.ok(took < 5000, `the timeout took ${took} ms`);
    const [req] = await rx.waitFor(1, { path: p, settled: true });
    assert.equal(req.response.outcome, 'client_closed');
  });

  it('a status line followed by a body that never ends: the status decides (200 → succeeded)', async () => {
    const { c, w } = await subscription({ status: 200, body: 'x'.repeat(100), hang_body: true });
    const d = await attempted(c, w);
    const done = await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled');
    assert.equal(done.state, 'succeeded');
    assert.equal(done.last_status, 200);
  });

  it('a refused connection → "connection_refused"; a reset → "connection_reset"; garbage → "invalid_response"', async () => {
    const refused = await subscription(null, {}, await closedPortUrl());
    const d1 = await attempted(refused.c, refused.w);
    assert.equal(d1.state, 'scheduled');
    assert.equal(d1.last_error, 'connection_refused');
    assert.equal(d1.attempts[0].error, 'connection_refused');
    assert.equal(d1.attempts[0].status, null);
    const reset = await subscription({ reset: true });
    const d2 = await attempted(reset.c, reset.w);
    assert.equal(d2.last_error, 'connection_reset');
    const garbage = await subscription({ raw: 'NOT HTTP AT ALL\r\n\r\n' });
    const d3 = await attempted(garbage.c, garbage.w);
    assert.equal(d3.last_error, 'invalid_response');
    assert.equal(d3.state, 'scheduled');
  });

  it('https:// to a peer that does not speak TLS → "tls"', async () => {
    const p = uniquePath('not-tls');
    const { c, w } = await subscription(null, {}, rx.url(p).replace(/^http:/, 'https:'));
    const d = await attempted(c, w);
    assert.equal(d.last_error, 'tls');
    assert.equal(d.last_status, null);
    assert.equal(d.state, 'scheduled');
  });

  it('a large response body: response_excerpt holds at most 4 KiB, and the 2xx still counts', async () => {
    const { c, w } = await subscription({ large_body_bytes: 5 * 1024 * 1024, status: 200 });
    const d = await attempted(c, w);
    const done = await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled');
    assert.equal(done.state, 'succeeded');
    const ex = done.attempts[0].response_excerpt;
    assert.ok(Buffer.byteLength(ex, 'utf8') <= 4096, `response_excerpt is ${Buffer.byteLength(ex, 'utf8')} bytes`);
    assert.ok(ex.length >= 1 && /^x+$/.test(ex), `excerpt: ${ex.slice(0, 50)}`);
    assert.ok(done.attempts[0].duration_ms < 2000, `reading the excerpt took ${done.attempts[0].duration_ms} ms`);
  });

  it('response_excerpt is UTF-8 with invalid bytes replaced; response_headers are recorded', async () => {
    const body = Buffer.concat([Buffer.from('bad: '), Buffer.from([0xff, 0xfe]), Buffer.from(' ok é')]);
    const { c, w } = await subscription({ status: 500, body_base64: body.toString('base64'), headers: { 'x-receiver': 'yes' } });
    const d = await attempted(c, w);
    const a = d.attempts[0];
    assert.equal(a.status, 500);
    assert.ok(a.response_excerpt.startsWith('bad: ') && a.response_excerpt.endsWith(' ok é'), JSON.stringify(a.response_excerpt));
    assert.ok(a.response_excerpt.includes('\uFFFD'), `invalid bytes not replaced: ${JSON.stringify(a.response_excerpt)}`);
    const rh = Object.fromEntries(Object.entries(a.response_headers).map(([k, v]) => [k.toLowerCase(), v]));
    assert.equal(rh['x-receiver'], 'yes');
  });

  it('PATCH active:false cancels scheduled deliveries ("manual"); active:true clears the reason and resends nothing', async () => {
    const { c, p, w } = await subscription({ status: 500 });
    const d1 = await attempted(c, w);
    const d2 = await attempted(c, w);
    const off = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: false } });
    expectStatus(off, 200);
    assert.equal(off.body.active, false);
    assert.equal(off.body.deactivate_reason, 'manual');
    for (const d of [d1, d2]) {
      const x = await waitForDelivery(c, d.id, (y) => y.state !== 'scheduled');
      assert.equal(x.state, 'canceled');
      assert.equal(x.next_attempt_at, null);
      assert.equal(x.attempt_count, 1);
    }
    // Events while inactive are not delivered.
    await createLearnerWithEvent(c);
    assert.equal((await deliveriesOf(c, w.id)).length, 2);
    await rx.setMode(p, null);
    const on = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: true } });
    expectStatus(on, 200);
    assert.equal(on.body.active, true);
    assert.equal(on.body.deactivate_reason, null);
    await s.advanceClock(7_200_000);
    assert.equal((await rx.requests(p)).length, 2, 'reactivation resent something');
    const list = await deliveriesOf(c, w.id);
    assert.deepEqual(list.map((d) => d.state), ['canceled', 'canceled']);
    // It works again for new events.
    const { event } = await createLearnerWithEvent(c);
    const [req] = (await rx.waitFor(3, { path: p })).slice(2);
    assert.equal(req.json.id, event.id);
  });

  it('DELETE cancels scheduled deliveries; they stay readable through /deliveries', async () => {
    const { c, p, w } = await subscription({ status: 500 });
    const d = await attempted(c, w);
    expectStatus(await c.api('DELETE', `/api/v1/webhooks/${w.id}`), 204);
    const x = await waitForDelivery(c, d.id, (y) => y.state !== 'scheduled');
    assert.equal(x.state, 'canceled');
    assert.equal(x.webhook_id, w.id);
    assert.equal(x.attempts.length, 1);
    const byWebhook = await c.api('GET', `/api/v1/deliveries?webhook_id=${w.id}`);
    expectStatus(byWebhook, 200);
    assert.deepEqual(byWebhook.body.results.map((y) => y.id), [d.id]);
    await s.advanceClock(7_200_000);
    assert.equal((await rx.requests(p)).length, 1);
  });

  it('an attempt in flight when the subscription is deactivated is recorded; not a 2xx → canceled', async () => {
    const { c, p, w } = await subscription({ status: 500, delay_ms: 300 });
    const { event } = await createLearnerWithEvent(c);
    await rx.waitFor(1, { path: p }); // the attempt is in flight (the receiver answers in 300 ms)
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { active: false } }), 200);
    const d = await deliveryFor(c, w.id, event.id);
    const x = await waitForDelivery(c, d.id, (y) => y.attempts.length === 1 && y.state !== 'scheduled');
    assert.equal(x.state, 'canceled');
    assert.equal(x.attempts[0].status, 500);
    assert.equal(x.attempt_count, 1);
  });

  it('every attempt uses the configuration at attempt time: URL, headers, basic auth, secret', async () => {
    const { c, p, w } = await subscription({ status: 500 }, { headers: { 'x-version': 'one' }, retry_policy: { jitter: 0 } });
    const d = await attempted(c, w);
    const p2 = uniquePath('moved');
    const r = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { url: rx.url(p2), headers: { 'x-version': 'two' }, basic_auth: { username: 'later', password: 'pw2' } } });
    expectStatus(r, 200);
    const rot = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: { overlap_s: 0 } });
    expectStatus(rot, 200);
    await s.advanceClock(2000);
    const [req] = await rx.waitFor(1, { path: p2 });
    assert.equal(req.headers['x-learnwire-attempt'], '2');
    assert.equal(req.headers['x-learnwire-delivery'], d.id);
    assert.equal(req.headers['x-version'], 'two');
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('later:pw2').toString('base64')}`);
    assert.deepEqual(signaturesOf(req), [expectedSignature(rot.body.secret, req)]);
    assert.equal((await rx.requests(p)).length, 1);
    assert.equal((await waitForDelivery(c, d.id, (x) => x.state !== 'scheduled')).state, 'succeeded');
  });

  it('POST /deliveries/{id}/retry of an unknown delivery → 404', async () => {
    const c = nextOrg();
    expectProblem(await c.api('POST', '/api/v1/deliveries/dlv_01JD0000000000000000000000/retry', { body: {} }), 404, 'not-found');
    expectProblem(await c.api('GET', '/api/v1/deliveries/dlv_01JD0000000000000000000000'), 404, 'not-found');
    expectProblem(await c.api('GET', '/api/v1/deliveries/not-an-id'), 404, 'not-found');
  });
});
