// x-request-id, routing errors, problem+json everywhere (API.md "Requests", "Errors").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, rawRequest, checkResponse } from './lib/server.mjs';

const RID = /^[A-Za-z0-9._-]{1,64}$/;

describe('request ids and errors', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  it('a valid x-request-id is echoed (also on errors and public endpoints)', async () => {
    for (const id of ['abc-123_X.y', 'a', 'Z'.repeat(64)]) {
      for (const [p, key] of [['/api/v1/learners', undefined], ['/api/v1/learners', null], ['/healthz', null], ['/api/v1/nowhere', undefined]]) {
        const r = await s.api('GET', p, { key, headers: { 'x-request-id': id } });
        assert.equal(r.headers.get('x-request-id'), id, `${p} ${r.status}`);
      }
    }
  });

  it('an invalid x-request-id is replaced by a generated one', async () => {
    for (const id of ['Z'.repeat(65), 'has space', 'semi;colon', 'ünï', '']) {
      const r = await s.api('GET', '/api/v1/learners', { headers: { 'x-request-id': id } });
      expectStatus(r, 200);
      const got = r.headers.get('x-request-id');
      assert.notEqual(got, id);
      assert.match(got, RID);
    }
  });

  it('without x-request-id each response gets a distinct generated one', async () => {
    const ids = new Set();
    for (let i = 0; i < 5; i++) {
      const r = await s.api('GET', '/healthz', { key: null });
      assert.match(r.headers.get('x-request-id'), RID);
      ids.add(r.headers.get('x-request-id'));
    }
    assert.equal(ids.size, 5);
  });

  it('an unknown route → 404 problem, before authentication', async () => {
    expectProblem(await s.api('GET', '/api/v1/nowhere', { key: null }), 404, 'not-found');
    expectProblem(await s.api('GET', '/api/v1/nowhere'), 404, 'not-found');
    expectProblem(await s.api('POST', '/api/v1/learners/lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B/explode'), 404, 'not-found');
    expectProblem(await s.api('GET', '/api/v2/learners'), 404, 'not-found');
  });

  it('a method the path does not accept → 405 with Allow, before authentication', async () => {
    for (const [m, p, must] of [['DELETE', '/api/v1/learners', ['GET', 'POST']], ['PUT', '/api/v1/events', ['GET']], ['POST', '/healthz', ['GET']],
      ['GET', '/api/v1/learners/lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B/ban', ['POST']], ['PATCH', '/api/v1/api-keys/key_01JDQ7ZK3M8X2V5N9R4T6W0Y1B', ['GET', 'DELETE']]]) {
      for (const key of [undefined, null]) {
        const r = await s.api(m, p, { key });
        expectProblem(r, 405, 'method-not-allowed');
        const allow = (r.headers.get('allow') ?? '').split(',').map((x) => x.trim().toUpperCase());
        for (const x of must) assert.ok(allow.includes(x), `${m} ${p}: Allow ${r.headers.get('allow')}`);
      }
    }
  });

  it('every error response is problem+json with matching status (helper checks), and its detail is non-empty', async () => {
    const rs = [
      await s.api('GET', '/api/v1/learners', { key: null }),
      await s.api('GET', '/api/v1/learners?limit=0'),
      await s.api('GET', '/api/v1/learners/lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B'),
      await s.api('POST', '/api/v1/learners', { body: {} }),
      await s.api('POST', '/api/v1/learners', { rawBody: 'x', headers: { 'content-type': 'text/plain' } }),
    ];
    for (const r of rs) {
      assert.ok(r.status >= 400);
      assert.equal(typeof r.body.detail, 'string');
      assert.ok(r.body.detail.length > 0);
      assert.ok(r.body.title.length > 0);
    }
  });

  it('a malformed HTTP request gets a 400 problem, and the server lives on (raw socket)', async () => {
    const res = await rawRequest(s, 'GARBAGE\r\n\r\n');
    assert.ok(res.status === 400 || res.status === 405 || res.status === 501, `status ${res.status}`);
    checkResponse('GARBAGE', '/nowhere-bad-request', res);
    expectStatus(await s.api('GET', '/healthz', { key: null }), 200);
  });
});
