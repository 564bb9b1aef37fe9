// Idempotency-Key on POST (API.md "Idempotency").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, newLearner, allEvents, lastEventId, listAll } from './lib/server.mjs';

describe('idempotency keys', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  const post = (path, raw, key, extra = {}) => s.api('POST', path, { rawBody: raw, headers: { 'content-type': 'application/json', 'idempotency-key': key, ...extra } });

  it('same key + same body → same status and body, idempotent-replayed: true, one learner, one event', async () => {
    const before = await lastEventId(s);
    const raw = JSON.stringify(newLearner());
    const first = await post('/api/v1/learners', raw, 'create-1');
    expectStatus(first, 201);
    assert.equal(first.headers.get('idempotent-replayed'), null, 'the first response is not a replay');
    const second = await post('/api/v1/learners', raw, 'create-1');
    expectStatus(second, 201);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(second.body, first.body);
    assert.equal(second.headers.get('location'), first.headers.get('location'));
    const third = await post('/api/v1/learners', raw, 'create-1');
    assert.deepEqual(third.body, first.body);
    const all = await listAll(s, `/api/v1/learners?email=${encodeURIComponent(first.body.email)}`);
    assert.equal(all.length, 1);
    const evs = await allEvents(s, { after: before ?? undefined });
    assert.equal(evs.filter((e) => e.type === 'learner.created' && e.data.id === first.body.id).length, 1);
    assert.equal(evs.length, 1);
  });

  it('same key + different body → 409 idempotency-key-reused, nothing created', async () => {
    const a = newLearner();
    expectStatus(await post('/api/v1/learners', JSON.stringify(a), 'create-2'), 201);
    const b = newLearner();
    expectProblem(await post('/api/v1/learners', JSON.stringify(b), 'create-2'), 409, 'idempotency-key-reused');
    assert.deepEqual((await s.api('GET', `/api/v1/learners?email=${encodeURIComponent(b.email)}`)).body.results, []);
  });

  it('the body is compared byte for byte: the same JSON with other whitespace is another body → 409', async () => {
    const l = newLearner();
    expectStatus(await post('/api/v1/learners', JSON.stringify(l), 'create-3'), 201);
    expectProblem(await post('/api/v1/learners', JSON.stringify(l, null, 2), 'create-3'), 409, 'idempotency-key-reused');
  });

  it('4xx responses are stored and replayed too', async () => {
    const raw = JSON.stringify({ email: 'broken', firstname: 'x', lastname: 'y' });
    const first = await post('/api/v1/learners', raw, 'bad-1');
    expectProblem(first, 422, 'validation');
    const second = await post('/api/v1/learners', raw, 'bad-1');
    expectProblem(second, 422, 'validation');
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(second.body, first.body);
  });

  it('keys are scoped by path: the same key on another path is a new request', async () => {
    const l = await post('/api/v1/learners', JSON.stringify(newLearner()), 'scoped-1');
    expectStatus(l, 201);
    const b = await post(`/api/v1/learners/${l.body.id}/ban`, '{}', 'scoped-1');
    expectStatus(b, 200);
    assert.equal(b.headers.get('idempotent-replayed'), null);
    assert.equal(b.body.status, 'banned');
  });

  it('keys are scoped by credential: another key of the same organization is not replayed', async () => {
    const other = await s.createKey(['read', 'write']);
    const raw = JSON.stringify(newLearner());
    const first = await post('/api/v1/learners', raw, 'cred-1');
    expectStatus(first, 201);
    const r = await s.api('POST', '/api/v1/learners', { key: other.key, rawBody: raw, headers: { 'content-type': 'application/json', 'idempotency-key': 'cred-1' } });
    // Not a replay: processed afresh, so the email is a duplicate.
    expectProblem(r, 409, 'conflict');
    assert.equal(r.headers.get('idempotent-replayed'), null);
  });

  it('a replayed action does not act twice (ban → unban → replayed ban stays unbanned)', async () => {
    const l = await post('/api/v1/learners', JSON.stringify(newLearner()), 'act-create');
    const ban = await post(`/api/v1/learners/${l.body.id}/ban`, '{}', 'act-ban');
    expectStatus(ban, 200);
    expectStatus(await s.api('POST', `/api/v1/learners/${l.body.id}/unban`), 200);
    const before = await lastEventId(s);
    const again = await post(`/api/v1/learners/${l.body.id}/ban`, '{}', 'act-ban');
    expectStatus(again, 200);
    assert.equal(again.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(again.body, ban.body);
    assert.equal((await s.api('GET', `/api/v1/learners/${l.body.id}`)).body.status, 'active');
    assert.deepEqual(await allEvents(s, { after: before ?? undefined }), []);
  });

  it('bulk with an Idempotency-Key is replayed with the same bulk_id', async () => {
    const raw = JSON.stringify({ learners: [newLearner(), newLearner()] });
    const first = await post('/api/v1/learners/bulk', raw, 'bulk-1');
    expectStatus(first, 200);
    const second = await post('/api/v1/learners/bulk', raw, 'bulk-1');
    expectStatus(second, 200);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(second.body, first.body);
  });

  it('concurrent repeats of one key: one creates, the others replay or get 409 idempotency-in-progress', async () => {
    const raw = JSON.stringify(newLearner());
    const rs = await Promise.all(Array.from({ length: 8 }, () => post('/api/v1/learners', raw, 'race-1')));
    const created = rs.filter((r) => r.status === 201);
    assert.ok(created.length >= 1);
    for (const r of rs) {
      if (r.status === 201) assert.deepEqual(r.body, created[0].body);
      else expectProblem(r, 409, 'idempotency-in-progress');
    }
    assert.equal(rs.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') !== 'true').length, 1, 'exactly one original');
  });

  it('an Idempotency-Key longer than 255 characters or with non-visible characters → 400', async () => {
    for (const key of ['k'.repeat(256), 'has space']) {
      const r = await post('/api/v1/learners', JSON.stringify(newLearner()), key);
      expectProblem(r, 400, 'malformed');
    }
  });
});
