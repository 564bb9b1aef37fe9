// trusted_proxies and metrics_listen (PRODUCT.md config): who the client is behind a proxy, and
// operations endpoints on their own address.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus } from './lib/server.mjs';

const BAD_KEY = 'lw_01JD0000000000000000000000_0000000000000000000000000000000000000000000';

async function failAuth(s, n, headers) {
  for (let i = 0; i < n; i++) {
    expectProblem(await s.api('GET', '/api/v1/learners', { key: BAD_KEY, headers }), 401, 'unauthenticated');
  }
}

describe('trusted_proxies', () => {
  const servers = [];
  after(async () => { for (const s of servers) await s.stop(); });

  it('behind a trusted proxy, failed authentications count per forwarded client', async () => {
    const s = await startServer({ args: ['--trusted-proxies', '127.0.0.1/32'] });
    servers.push(s);
    const mallory = { 'x-forwarded-for': '198.51.100.1' };
    await failAuth(s, 20, mallory);
    // More than 20 failures a minute: the 21st is already refused.
    expectProblem(await s.api('GET', '/api/v1/learners', { key: BAD_KEY, headers: mallory }), 429, 'rate-limited');
    // Another client behind the same proxy is not locked out.
    expectStatus(await s.api('GET', '/api/v1/learners', { headers: { 'x-forwarded-for': '198.51.100.2' } }), 200);
  });

  it('an untrusted peer cannot choose its address with X-Forwarded-For', async () => {
    const s = await startServer();
    servers.push(s);
    for (let i = 0; i < 20; i++) {
      expectProblem(await s.api('GET', '/api/v1/learners', { key: BAD_KEY, headers: { 'x-forwarded-for': `198.51.100.${i}` } }), 401, 'unauthenticated');
    }
    const r = await s.api('GET', '/api/v1/learners', { key: BAD_KEY, headers: { 'x-forwarded-for': '198.51.100.200' } });
    expectProblem(r, 429, 'rate-limited');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  });
});

describe('metrics_listen', () => {
  it('moves /metrics to its own address; health answers on both', async () => {
    const s = await startServer({ args: ['--metrics-listen', '127.0.0.1:0'] });
    try {
      const rec = await s.waitForLog((r) => r.msg === 'metrics listening');
      const ops = `http://${rec.metrics_listen}`;
      const metrics = await fetch(`${ops}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^# TYPE learnwire_http_requests_total counter$/m);
      for (const p of ['/healthz', '/readyz']) {
        assert.equal((await fetch(`${ops}${p}`)).status, 200);
        expectStatus(await s.api('GET', p, { key: null }), 200);
      }
      const moved = await fetch(`${s.baseUrl}/metrics`);
      assert.equal(moved.status, 404);
      const api = await fetch(`${ops}/api/v1/learners`, { headers: { authorization: `Bearer ${s.key}` } });
      assert.equal(api.status, 404, 'the API is not served on the metrics address');
    } finally {
      await s.stop();
    }
  });
});
