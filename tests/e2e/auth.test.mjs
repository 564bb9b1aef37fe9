// Authentication and scopes (API.md "Authentication and scopes").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, newLearner, keyIdOf } from './lib/server.mjs';

const CROCK = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const rand = (alphabet, n) => Array.from({ length: n }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');

function expect401(res) {
  expectProblem(res, 401, 'unauthenticated');
  assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/, 'WWW-Authenticate: Bearer');
}

describe('authentication and scopes', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  it('no Authorization header → 401 with WWW-Authenticate: Bearer', async () => {
    expect401(await s.api('GET', '/api/v1/learners', { key: null }));
  });

  it('malformed credentials → 401', async () => {
    for (const value of ['Bearer', 'Bearer ', 'Bearer garbage', 'Basic dXNlcjpwYXNz', `Token ${s.key}`, `Bearer lw_short_secret`,
      `Bearer ${s.key}x`, `Bearer ${s.key.toLowerCase()}`, `Bearer ${s.key.slice(0, -1)}`]) {
      const r = await s.api('GET', '/api/v1/learners', { key: null, headers: { authorization: value } });
      expect401(r);
    }
  });

  it('a well-formed but unknown key → 401', async () => {
    expect401(await s.api('GET', '/api/v1/learners', { key: `lw_${rand(CROCK, 26)}_${rand(B62, 43)}` }));
  });

  it('a known key id with a wrong secret → 401', async () => {
    const secret = s.key.slice(-43);
    const other = secret.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'));
    expect401(await s.api('GET', '/api/v1/learners', { key: s.key.slice(0, -43) + other }));
  });

  it('401 on every method and path under /api/v1, before validation (POST with a bad body)', async () => {
    expect401(await s.api('POST', '/api/v1/learners', { key: null, rawBody: '{not json', headers: { 'content-type': 'application/json' } }));
    expect401(await s.api('POST', '/api/v1/learners', { key: null, rawBody: 'x', headers: { 'content-type': 'text/plain' } }));
    expect401(await s.api('GET', '/api/v1/events', { key: null }));
    expect401(await s.api('GET', '/api/v1/api-keys', { key: null }));
  });

  it('key create --scopes read: GET → 200, POST /learners → 403', async () => {
    const k = await s.createKey(['read']);
    assert.match(k.id, /^key_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.deepEqual(k.scopes, ['read']);
    assert.equal(keyIdOf(k.key), k.id);
    expectStatus(await s.api('GET', '/api/v1/learners', { key: k.key }), 200);
    expectStatus(await s.api('GET', '/api/v1/events', { key: k.key }), 200);
    expectProblem(await s.api('POST', '/api/v1/learners', { key: k.key, body: newLearner() }), 403, 'forbidden');
  });

  it('403 comes before 415/400/422 (scope checked before the body)', async () => {
    const k = await s.createKey(['read']);
    expectProblem(await s.api('POST', '/api/v1/learners', { key: k.key, rawBody: '{oops', headers: { 'content-type': 'application/json' } }), 403, 'forbidden');
    expectProblem(await s.api('POST', '/api/v1/learners', { key: k.key, rawBody: 'hello', headers: { 'content-type': 'text/plain' } }), 403, 'forbidden');
    expectProblem(await s.api('POST', '/api/v1/learners', { key: k.key, body: { nope: 1 } }), 403, 'forbidden');
  });

  it('no scope implies another: a write-only key cannot GET', async () => {
    const k = await s.createKey(['write']);
    expectStatus(await s.api('POST', '/api/v1/learners', { key: k.key, body: newLearner() }), 201);
    expectProblem(await s.api('GET', '/api/v1/learners', { key: k.key }), 403, 'forbidden');
  });

  it('the org create key has all four scopes and reaches /api-keys', async () => {
    const r = await s.api('GET', `/api/v1/api-keys/${s.keyId}`);
    expectStatus(r, 200);
    assert.deepEqual([...r.body.scopes].sort(), ['admin', 'read', 'webhooks', 'write']);
    assert.equal(r.body.prefix, s.key.slice(0, 29));
    assert.equal(JSON.stringify(r.body).includes(s.key.slice(-43)), false, 'the secret is never shown again');
  });

  it('/api-keys needs admin: read,write,webhooks key → 403 on GET, POST, DELETE', async () => {
    const k = await s.createKey(['read', 'write', 'webhooks']);
    expectProblem(await s.api('GET', '/api/v1/api-keys', { key: k.key }), 403, 'forbidden');
    expectProblem(await s.api('POST', '/api/v1/api-keys', { key: k.key, body: { name: 'x' } }), 403, 'forbidden');
    expectProblem(await s.api('GET', `/api/v1/api-keys/${k.id}`, { key: k.key }), 403, 'forbidden');
    expectProblem(await s.api('DELETE', `/api/v1/api-keys/${k.id}`, { key: k.key }), 403, 'forbidden');
  });

  it('POST /api-keys: default scopes, key shown once, listed without key', async () => {
    const r = await s.api('POST', '/api/v1/api-keys', { body: { name: 'integration' } });
    expectStatus(r, 201);
    assert.deepEqual(r.body.scopes, ['read', 'write', 'webhooks']);
    assert.equal(r.body.name, 'integration');
    assert.equal(keyIdOf(r.body.key), r.body.id);
    assert.equal(r.body.prefix, r.body.key.slice(0, 29));
    assert.equal(r.body.expires_at, null);
    assert.ok(r.headers.get('location').endsWith(`/api/v1/api-keys/${r.body.id}`), r.headers.get('location'));
    const g = await s.api('GET', `/api/v1/api-keys/${r.body.id}`);
    expectStatus(g, 200);
    assert.equal(g.body.key, undefined);
    const list = await s.api('GET', '/api/v1/api-keys');
    expectStatus(list, 200);
    const item = list.body.results.find((x) => x.id === r.body.id);
    assert.ok(item, 'new key listed');
    assert.equal(JSON.stringify(list.body).includes(r.body.key.slice(-43)), false, 'no secret in the list');
    // The new key works.
    expectStatus(await s.api('GET', '/api/v1/learners', { key: r.body.key }), 200);
  });

  it('POST /api-keys validation: missing name, unknown scope, unknown field → 422', async () => {
    for (const [body, field] of [[{}, 'name'], [{ name: '' }, 'name'], [{ name: 'x'.repeat(201) }, 'name'], [{ name: 'x', scopes: ['root'] }, 'scopes'], [{ name: 'x', color: 'red' }, 'color']]) {
      const r = await s.api('POST', '/api/v1/api-keys', { body });
      const p = expectProblem(r, 422, 'validation');
      assert.ok(p.errors?.some((e) => e.field === field || e.field.startsWith(`${field}.`)), `${JSON.stringify(body)}: errors name ${field}: ${r.text}`);
    }
  });

  it('a revoked key is refused at once (DELETE /api-keys/{id} → 204, then 401)', async () => {
    const c = await s.api('POST', '/api/v1/api-keys', { body: { name: 'to revoke', scopes: ['read'] } });
    expectStatus(c, 201);
    expectStatus(await s.api('GET', '/api/v1/learners', { key: c.body.key }), 200);
    const d = await s.api('DELETE', `/api/v1/api-keys/${c.body.id}`);
    expectStatus(d, 204);
    assert.equal(d.text, '');
    expect401(await s.api('GET', '/api/v1/learners', { key: c.body.key }));
    expectProblem(await s.api('DELETE', `/api/v1/api-keys/${c.body.id}`), 404, 'not-found');
  });

  it('a key created by the CLI while the server runs works at once', async () => {
    const k = await s.createKey(['read', 'write']);
    expectStatus(await s.api('POST', '/api/v1/learners', { key: k.key, body: newLearner() }), 201);
  });

  it('an expired key → 401', async () => {
    const now = await s.advanceClock(0);
    const expires = new Date(now + 60_000).toISOString();
    const c = await s.api('POST', '/api/v1/api-keys', { body: { name: 'short-lived', scopes: ['read'], expires_at: expires } });
    expectStatus(c, 201);
    assert.equal(c.body.expires_at, expires);
    await s.advanceClock(59_999);
    expectStatus(await s.api('GET', '/api/v1/learners', { key: c.body.key }), 200);
    await s.advanceClock(1);
    expect401(await s.api('GET', '/api/v1/learners', { key: c.body.key }));
  });

  it('public endpoints need no key', async () => {
    for (const p of ['/', '/healthz', '/readyz', '/openapi.json', '/metrics', '/docs']) {
      expectStatus(await s.api('GET', p, { key: null }), 200);
    }
  });
});
