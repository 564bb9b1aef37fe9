// The URL guard (WEBHOOKS.md §7): checked when a subscription is saved and again on the address
// actually connected to, for every attempt. Without DNS of our own, the attempt-time check is shown
// by restarting a server on the same database without the exception that let a subscription in.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, expectProblem } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveryFor, waitForDelivery,
  restartOnSameDb,
} from './lib/webhooks.mjs';

describe('URL guard at save time: names resolved, exceptions exact', () => {
  let s;
  before(async () => { s = await startServer({ args: ['--allowed-private-networks', '127.0.0.2/32'] }); });
  after(async () => { await s?.stop(); });

  it('a host name that resolves to a loopback address → 422 on url, naming the address', async () => {
    const c = orgClient(s, 0);
    const p = expectProblem(await c.api('POST', '/api/v1/webhooks', { body: { name: 'lo', url: 'https://localhost:8443/hook' } }), 422, 'validation');
    assert.equal(p.errors[0].field, 'url');
    assert.match(p.errors[0].message, /127\.0\.0\.1|::1/, p.errors[0].message);
  });

  it('allowed_private_networks opens only the given block', async () => {
    const c = orgClient(s, 0);
    const w = await createWebhook(c, { name: 'inside', url: 'http://127.0.0.2:9/hook' });
    assert.equal(w.url, 'http://127.0.0.2:9/hook');
    const p = expectProblem(await c.api('POST', '/api/v1/webhooks', { body: { name: 'outside', url: 'http://127.0.0.1:9/hook' } }), 422, 'validation');
    assert.equal(p.errors[0].field, 'url');
    assert.match(p.errors[0].message, /127\.0\.0\.1/);
  });
});

describe('proxy environment variables are ignored', () => {
  let s, rx;
  before(async () => {
    // A proxy that refuses every connection: a request sent through it would never arrive.
    const proxy = 'http://127.0.0.1:9';
    const env = { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, ALL_PROXY: proxy, http_proxy: proxy, https_proxy: proxy, all_proxy: proxy, NO_PROXY: '', no_proxy: '' };
    [s, rx] = await Promise.all([startServer({ args: LOCAL_RECEIVER_ARGS, env }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('deliveries go straight to the receiver', async () => {
    const c = orgClient(s, 0);
    const p = uniquePath('no-proxy');
    await createWebhook(c, { name: 'direct', url: rx.url(p) });
    const { event } = await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    assert.equal(req.json.id, event.id);
    assert.equal(req.url, p, 'a proxy would have sent the absolute URL');
  });
});

describe('URL guard at attempt time', () => {
  let first, second, rx;
  before(async () => {
    [first, rx] = await Promise.all([startServer({ args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => {
    await second?.stop();
    await rx?.stop();
    await first?.stop(); // deletes the database (first was stopped by a signal: no event check here)
  });

  it('a subscription saved while 127.0.0.0/8 was allowed is blocked after a restart without it', async () => {
    const c0 = orgClient(first, 0);
    const p = uniquePath('guarded');
    const pName = uniquePath('guarded-by-name');
    const w = await createWebhook(c0, { name: 'loopback', url: rx.url(p) });
    const byName = await createWebhook(c0, { name: 'localhost', url: `http://localhost:${rx.port}${pName}` });
    await createLearnerWithEvent(c0);
    await Promise.all([rx.waitFor(1, { path: p }), rx.waitFor(1, { path: pName })]);
    // Stop it (not first.stop(), which deletes the database) and start again without the exception.
    first.proc.kill('SIGTERM');
    await first.exited;
    second = await restartOnSameDb(first, { args: [] });
    const c = orgClient(second, 0);
    const { event } = await createLearnerWithEvent(c);
    for (const sub of [w, byName]) {
      const d0 = await deliveryFor(c, sub.id, event.id);
      const d = await waitForDelivery(c, d0.id, (x) => x.attempt_count >= 1);
      assert.equal(d.last_error, 'blocked_by_url_guard', `${sub.name}: ${JSON.stringify(d)}`);
      assert.equal(d.last_status, null);
      assert.equal(d.attempts[0].error, 'blocked_by_url_guard');
      assert.equal(d.state, 'scheduled', 'a blocked attempt is a failed attempt, retried');
    }
    assert.equal((await rx.requests(p)).length, 1, 'the receiver got a request past the URL guard');
    assert.equal((await rx.requests(pName)).length, 1, 'the receiver got a request past the URL guard');
    // A test send is blocked the same way.
    const t = await c.api('POST', `/api/v1/webhooks/${w.id}/test`, { body: {} });
    expectStatus(t, 200);
    assert.equal(t.body.error, 'blocked_by_url_guard');
    assert.equal(t.body.status, null);
    assert.equal((await rx.requests(p)).length, 1);
    // Retries stay blocked.
    await second.advanceClock(10_000);
    assert.equal((await rx.requests(p)).length, 1);
  });
});
