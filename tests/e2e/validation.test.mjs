// Input validation and the HTTP layer's limits (API.md "Requests", "Errors").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, expectProblem, expectStatus, createLearner, newLearner, rawRequest, checkResponse, listAll,
} from './lib/server.mjs';

function fieldsOf(problem) { return (problem.errors ?? []).map((e) => e.field); }

function domainOfLength(n) {
  // labels of ≤ 63 characters, ending in ".com"
  let d = '.com';
  let i = 0;
  while (d.length < n) {
    const room = n - d.length;
    const len = Math.min(63, room - 1 > 0 ? room - 1 : room);
    if (room === 1) { d = 'x' + d; break; }
    d = String.fromCharCode(97 + (i++ % 26)).repeat(len) + '.' + d.slice(d.startsWith('.') ? 1 : 0);
  }
  return d.startsWith('.') ? d.slice(1) : d;
}

describe('validation', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  const post = (body, opts = {}) => s.api('POST', '/api/v1/learners', { body, ...opts });

  it('unknown fields → 422 naming each', async () => {
    const p = expectProblem(await post(newLearner({ foo: 1, favourite_colour: 'red' })), 422, 'validation');
    assert.ok(fieldsOf(p).includes('foo'), JSON.stringify(p));
    assert.ok(fieldsOf(p).includes('favourite_colour'), JSON.stringify(p));
  });

  it('missing required fields → 422 naming each', async () => {
    const p = expectProblem(await post({ email: 'only.email@example.com' }), 422, 'validation');
    assert.ok(fieldsOf(p).includes('firstname'));
    assert.ok(fieldsOf(p).includes('lastname'));
  });

  it('a POST without a body counts as {} → 422 (not 400/415)', async () => {
    const p = expectProblem(await s.api('POST', '/api/v1/learners'), 422, 'validation');
    for (const f of ['email', 'firstname', 'lastname']) assert.ok(fieldsOf(p).includes(f), f);
  });

  it('wrong types → 422 naming the field (dotted path inside custom_fields)', async () => {
    for (const [over, field] of [[{ firstname: 5 }, 'firstname'], [{ lastname: null }, 'lastname'], [{ email: ['a@b.co'] }, 'email'],
      [{ username: 7 }, 'username'], [{ custom_fields: [] }, 'custom_fields'], [{ language: '' }, 'language']]) {
      const p = expectProblem(await post(newLearner(over)), 422, 'validation');
      assert.ok(fieldsOf(p).includes(field), `${JSON.stringify(over)} → ${JSON.stringify(p)}`);
    }
    const p = expectProblem(await post(newLearner({ custom_fields: { nested: { a: 1 } } })), 422, 'validation');
    assert.ok(fieldsOf(p).some((f) => f === 'custom_fields.nested' || f === 'custom_fields'), JSON.stringify(p));
  });

  it('custom_fields limits: 51 keys or a 1,001-character value → 422', async () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    expectProblem(await post(newLearner({ custom_fields: many })), 422, 'validation');
    expectProblem(await post(newLearner({ custom_fields: { long: 'x'.repeat(1001) } })), 422, 'validation');
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i % 2 ? 'v'.repeat(1000) : true]));
    expectStatus(await post(newLearner({ custom_fields: fifty })), 201);
  });

  it('a read-only field with a different value → 422 naming it; equal values are accepted', async () => {
    const l = await createLearner(s);
    for (const [body, field] of [[{ status: 'banned' }, 'status'], [{ id: 'lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B' }, 'id'],
      [{ created_at: '2020-01-01T00:00:00.000Z' }, 'created_at'], [{ updated_at: '2020-01-01T00:00:00.000Z' }, 'updated_at'],
      [{ group_ids: ['grp_01JDQ7ZK3M8X2V5N9R4T6W0Y1B'] }, 'group_ids'], [{ department_ids: ['dep_01JDQ7ZK3M8X2V5N9R4T6W0Y1B'] }, 'department_ids'],
      [{ deleted_at: '2020-01-01T00:00:00.000Z' }, 'deleted_at']]) {
      const p = expectProblem(await s.api('PATCH', `/api/v1/learners/${l.id}`, { body }), 422, 'validation');
      assert.ok(fieldsOf(p).includes(field), `${JSON.stringify(body)} → ${JSON.stringify(p)}`);
    }
    const ok = await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { status: 'active', group_ids: [], department_ids: [], deleted_at: null, id: l.id, created_at: l.created_at, updated_at: l.updated_at } });
    expectStatus(ok, 200);
    assert.deepEqual(ok.body, l);
    // On create: status "banned" or an id → 422.
    expectProblem(await post(newLearner({ status: 'banned' })), 422, 'validation');
    expectProblem(await post(newLearner({ id: 'lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B' })), 422, 'validation');
  });

  it('an equal read-only time in another offset is accepted (times compare as instants)', async () => {
    const l = await createLearner(s);
    const t = new Date(Date.parse(l.created_at));
    const shifted = new Date(t.getTime() + 2 * 3600e3).toISOString().replace('Z', '+02:00');
    const r = await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { created_at: shifted } });
    expectStatus(r, [200, 422]);
    if (r.status === 422) assert.fail(`created_at ${shifted} equals ${l.created_at} but was refused: ${r.text}`);
  });

  it('bad emails → 422 with field "email"', async () => {
    const cases = {
      'no @': 'no-at-sign.example.com',
      'no dot in domain': 'someone@localhost',
      'space': 'some one@example.com',
      'two @': 'a@b@example.com',
      'quote': 'a"b@example.com',
      'empty local part': '@example.com',
      'empty domain': 'someone@',
      '65-char local part': `${'l'.repeat(65)}@example.com`,
      '255 characters': `${'l'.repeat(64)}@${domainOfLength(190)}`,
      'control character': 'a\u0001b@example.com',
      'U+FFFD': 'a\uFFFDb@example.com',
      'empty': '',
    };
    assert.equal(cases['255 characters'].length, 255);
    for (const [why, email] of Object.entries(cases)) {
      const r = await post(newLearner({ email }));
      const p = expectProblem(r, 422, 'validation');
      assert.ok(fieldsOf(p).includes('email'), `${why}: ${JSON.stringify(p)}`);
    }
  });

  it('boundary emails are accepted: 64-char local part, 254 characters, unicode local part', async () => {
    const e64 = `${'m'.repeat(64)}@example.com`;
    const e254 = `${'n'.repeat(64)}@${domainOfLength(189)}`;
    assert.equal(e254.length, 254);
    for (const email of [e64, e254, 'zoë.李@example.com', 'o\'brien+tag@sub.example.co.uk']) {
      const r = await post(newLearner({ email }));
      expectStatus(r, 201);
      assert.equal(r.body.email, email);
    }
  });

  it('a duplicate email differing only in case → 409 conflict', async () => {
    const l = await createLearner(s, { email: `Case.Test.${Date.now()}@Example.COM` });
    const p = expectProblem(await post(newLearner({ email: l.email.toLowerCase() })), 409, 'conflict');
    assert.ok(p.detail);
    expectProblem(await post(newLearner({ email: l.email.toUpperCase() })), 409, 'conflict');
  });

  it('a duplicate external_id → 409; PATCH to another learner\'s email → 409', async () => {
    const a = await createLearner(s, { external_id: 'DUP-EXT' });
    expectProblem(await post(newLearner({ external_id: 'DUP-EXT' })), 409, 'conflict');
    const b = await createLearner(s);
    expectProblem(await s.api('PATCH', `/api/v1/learners/${b.id}`, { body: { email: a.email.toUpperCase() } }), 409, 'conflict');
    expectProblem(await s.api('PATCH', `/api/v1/learners/${b.id}`, { body: { external_id: 'DUP-EXT' } }), 409, 'conflict');
  });

  it('names: control characters → 422; 200 characters ok, 201 → 422; external_id "" → 422', async () => {
    expectProblem(await post(newLearner({ firstname: 'bell\u0007' })), 422, 'validation');
    expectProblem(await post(newLearner({ lastname: 'new\nline' })), 422, 'validation');
    expectStatus(await post(newLearner({ firstname: 'f'.repeat(200) })), 201);
    const p = expectProblem(await post(newLearner({ firstname: 'f'.repeat(201) })), 422, 'validation');
    assert.ok(fieldsOf(p).includes('firstname'));
    expectProblem(await post(newLearner({ external_id: '' })), 422, 'validation');
    expectProblem(await post(newLearner({ external_id: 'e'.repeat(201) })), 422, 'validation');
  });

  it('SQL-looking and non-ASCII names are stored and returned verbatim', async () => {
    const input = newLearner({ firstname: "Robert'); DROP TABLE learners;--", lastname: 'Zoë 李 🚀', username: "' OR '1'='1", custom_fields: { note: 'e\u0301 vs é, \u202Eright-to-left, "quotes" \\ backslash' } });
    const r = await post(input);
    expectStatus(r, 201);
    const g = await s.api('GET', `/api/v1/learners/${r.body.id}`);
    expectStatus(g, 200);
    for (const k of ['firstname', 'lastname', 'username']) assert.equal(g.body[k], input[k], k);
    assert.deepEqual(g.body.custom_fields, input.custom_fields);
    // The table is still there, and search finds the learner by its non-ASCII name.
    const q = await s.api('GET', `/api/v1/learners?q=${encodeURIComponent('李')}`);
    expectStatus(q, 200);
    assert.ok(q.body.results.some((x) => x.id === r.body.id));
    const q2 = await s.api('GET', `/api/v1/learners?q=${encodeURIComponent('DROP TABLE')}`);
    assert.ok(q2.body.results.some((x) => x.id === r.body.id));
  });

  it('malformed JSON → 400 malformed', async () => {
    for (const raw of ['{"email":', '{email: "x"}', "{'a':1}", '{"a":1,}', '{"a":1} trailing', 'NaN', '']) {
      if (raw === '') continue;
      const r = await s.api('POST', '/api/v1/learners', { rawBody: raw, headers: { 'content-type': 'application/json' } });
      expectProblem(r, 400, 'malformed');
    }
  });

  it('a body that is valid JSON but not an object → 400 or 422, never 2xx/5xx', async () => {
    for (const raw of ['[]', '"string"', '42', 'null']) {
      const r = await s.api('POST', '/api/v1/learners', { rawBody: raw, headers: { 'content-type': 'application/json' } });
      expectStatus(r, [400, 422]);
    }
  });

  it('invalid UTF-8 in the body → 400', async () => {
    const body = Buffer.concat([Buffer.from('{"email":"a@example.com","firstname":"'), Buffer.from([0xC3, 0x28, 0xFF]), Buffer.from('","lastname":"x"}')]);
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: body, headers: { 'content-type': 'application/json' } }), 400, 'malformed');
    // An overlong encoding and a lone surrogate (CESU) are invalid UTF-8 too.
    for (const bad of [[0xC0, 0xAF], [0xED, 0xA0, 0x80]]) {
      const b = Buffer.concat([Buffer.from('{"email":"a@example.com","firstname":"'), Buffer.from(bad), Buffer.from('","lastname":"x"}')]);
      expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: b, headers: { 'content-type': 'application/json' } }), 400, 'malformed');
    }
  });

  it('JSON nested 65 levels → 400; 64 levels is parsed (→ 422 for the bad value)', async () => {
    const nest = (arrays) => `{"email":"deep@example.com","firstname":"a","lastname":"b","custom_fields":{"x":${'['.repeat(arrays)}${']'.repeat(arrays)}}}`;
    // depth = 2 objects + N arrays
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: nest(63), headers: { 'content-type': 'application/json' } }), 400, 'malformed');
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: nest(62), headers: { 'content-type': 'application/json' } }), 422, 'validation');
    // Very deep nesting must not crash the parser.
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: '['.repeat(100000), headers: { 'content-type': 'application/json' } }), 400, 'malformed');
  });

  it('a body with another content-type → 415; charset parameter is fine', async () => {
    const raw = JSON.stringify(newLearner());
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: raw, headers: { 'content-type': 'text/plain' } }), 415, 'unsupported-media-type');
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported-media-type');
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: raw }), 415, 'unsupported-media-type');
    expectStatus(await s.api('POST', '/api/v1/learners', { rawBody: raw, headers: { 'content-type': 'application/json; charset=utf-8' } }), 201);
  });

  it('415 is checked before 400 (bad JSON with a wrong content-type)', async () => {
    expectProblem(await s.api('POST', '/api/v1/learners', { rawBody: '{oops', headers: { 'content-type': 'text/plain' } }), 415, 'unsupported-media-type');
  });

  it('request line over 8 KiB → 414 problem (raw socket)', async () => {
    const target = `/api/v1/learners?q=${'a'.repeat(9000)}`;
    const res = await rawRequest(s, `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\nConnection: close\r\n\r\n`);
    assert.equal(res.status, 414, res.text);
    checkResponse('GET', '/nowhere-414', res);
    assert.ok(res.body.type.endsWith('/uri-too-long'));
  });

  it('headers over 16 KiB → 431 problem (raw socket)', async () => {
    const big = Array.from({ length: 20 }, (_, i) => `X-Filler-${i}: ${'h'.repeat(1000)}\r\n`).join('');
    const res = await rawRequest(s, `GET /api/v1/learners HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\n${big}Connection: close\r\n\r\n`);
    assert.equal(res.status, 431, res.text);
    checkResponse('GET', '/nowhere-431', res);
    assert.ok(res.body.type.endsWith('/headers-too-large'));
  });

  it('the server still works after the hostile requests', async () => {
    expectStatus(await s.api('GET', '/healthz', { key: null }), 200);
    const all = await listAll(s, '/api/v1/learners?limit=500');
    assert.ok(all.length > 5);
  });
});

describe('body size limit (--max-body-bytes 1024)', () => {
  let s;
  before(async () => { s = await startServer({ args: ['--max-body-bytes', '1024'] }); });
  after(async () => { await s?.stop(); });

  it('a body over max_body_bytes → 413 problem', async () => {
    const body = newLearner({ custom_fields: { pad: 'p'.repeat(990) } });
    assert.ok(JSON.stringify(body).length > 1024);
    expectProblem(await s.api('POST', '/api/v1/learners', { body }), 413, 'payload-too-large');
    // Just under the limit is fine.
    const small = newLearner({ custom_fields: { pad: 'p'.repeat(500) } });
    expectStatus(await s.api('POST', '/api/v1/learners', { body: small }), 201);
  });

  it('413 is answered from content-length before the body is sent (raw socket)', async () => {
    const res = await rawRequest(s, `POST /api/v1/learners HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n{"email":`, { timeoutMs: 5000 });
    assert.equal(res.status, 413, res.text);
    checkResponse('POST', '/api/v1/learners', res);
  });

  it('an oversize body without a key → 401 (authentication is checked before size)', async () => {
    const r = await s.api('POST', '/api/v1/learners', { key: null, body: newLearner({ custom_fields: { pad: 'p'.repeat(2000) } }) });
    expectProblem(r, 401, 'unauthenticated');
  });

  it('a chunked body over the limit → 413', async () => {
    const chunk = '{"email":"chunky@example.com","firstname":"' + 'c'.repeat(1500) + '","lastname":"x"}';
    const req = `POST /api/v1/learners HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
    const res = await rawRequest(s, req);
    assert.equal(res.status, 413, res.text);
    checkResponse('POST', '/api/v1/learners', res);
  });
});
