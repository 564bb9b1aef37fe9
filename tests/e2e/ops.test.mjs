// Health, readiness, metrics, the OpenAPI document and /docs (API.md "Health and operations").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startServer, expectStatus, OPENAPI_FILE } from './lib/server.mjs';

describe('operations endpoints', () => {
  let s;
  // The production binary, on the wall clock: these endpoints are what an operator sees.
  before(async () => { s = await startServer({ clock: 'system' }); });
  after(async () => { await s?.stop(); });

  it('GET /healthz → 200 {"status":"ok"}', async () => {
    const r = await s.api('GET', '/healthz', { key: null });
    expectStatus(r, 200);
    assert.deepEqual(r.body, { status: 'ok' });
  });

  it('GET /readyz → 200 {"status":"ready"}', async () => {
    const r = await s.api('GET', '/readyz', { key: null });
    expectStatus(r, 200);
    assert.deepEqual(r.body, { status: 'ready' });
  });

  it('GET /metrics → Prometheus text with learnwire_http_requests_total', async () => {
    await s.api('GET', '/api/v1/learners');
    await s.api('GET', '/api/v1/learners', { key: null });
    await s.api('GET', '/api/v1/learners/lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B');
    await s.api('GET', '/api/v1/some-unknown-route-abc123');
    const r = await s.api('GET', '/metrics', { key: null });
    expectStatus(r, 200);
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    assert.match(r.text, /^# TYPE learnwire_http_requests_total counter$/m);
    const lines = r.text.split('\n').filter((l) => l.startsWith('learnwire_http_requests_total{'));
    assert.ok(lines.length > 0, 'has samples');
    assert.ok(lines.some((l) => /status="401"/.test(l)), 'counts by status');
    // name{label="value",...} number — label values may contain braces (route templates) and escapes.
    for (const l of lines) assert.match(l, /^learnwire_http_requests_total\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\} \d+(\.\d+)?(e[+-]?\d+)?$/, l);
    // Routes are templates, not raw paths (bounded cardinality).
    assert.equal(r.text.includes('lrn_'), false, 'no ids in labels');
    assert.equal(r.text.includes('some-unknown-route-abc123'), false, 'unknown paths are not labels');
  });

  it('the production binary has no test clock: POST /__test/clock → 404', async () => {
    const res = await fetch(`${s.baseUrl}/__test/clock`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"advance_ms":1}',
    });
    assert.equal(res.status, 404);
    assert.match(res.headers.get('content-type'), /^application\/problem\+json/);
  });

  it('GET /openapi.json equals api/openapi.json', async () => {
    const r = await s.api('GET', '/openapi.json', { key: null });
    expectStatus(r, 200);
    assert.deepEqual(r.body, JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')));
  });

  it('GET /docs → HTML whose swagger-ui assets load (200) and which points at /openapi.json', async () => {
    const r = await s.api('GET', '/docs', { key: null });
    expectStatus(r, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    const html = r.text;
    assert.match(html, /swagger-ui/i);
    const refs = [...html.matchAll(/(?:src|href)\s*=\s*["']([^"'#]+)["']/g)].map((m) => m[1]).filter((u) => !/^(https?:)?\/\//.test(u) && !u.startsWith('data:'));
    assert.ok(refs.some((u) => /swagger-ui.*\.js$/.test(u)), `references a swagger-ui script: ${refs}`);
    assert.ok(refs.some((u) => /swagger-ui.*\.css$/.test(u)), `references the swagger-ui stylesheet: ${refs}`);
    assert.equal(/<(script|link)[^>]+(src|href)=["']https?:\/\//i.test(html), false, 'no assets from other hosts');
    let sawOpenApiUrl = html.includes('openapi.json');
    for (const ref of refs) {
      const u = new URL(ref, r.url);
      assert.equal(u.origin, new URL(s.baseUrl).origin);
      const a = await s.api('GET', u.pathname + u.search, { key: null });
      expectStatus(a, 200);
      assert.ok(a.text.length > 0, `${u.pathname} is not empty`);
      if (u.pathname.endsWith('.js')) assert.match(a.headers.get('content-type'), /javascript/, u.pathname);
      if (u.pathname.endsWith('.css')) assert.match(a.headers.get('content-type'), /^text\/css/, u.pathname);
      if (a.text.includes('openapi.json')) sawOpenApiUrl = true;
    }
    assert.ok(sawOpenApiUrl, 'the page or its initializer loads /openapi.json');
  });

  it('/docs assets: path traversal is refused', async () => {
    for (const p of ['/docs/../../../../etc/passwd', '/docs/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/docs/..%2f..%2f..%2fetc%2fpasswd']) {
      const r = await s.api('GET', p, { key: null });
      assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
      assert.equal(r.text.includes('root:'), false);
    }
  });
});
