// Tenant isolation: one organization never sees another's data (API.md, PRODUCT.md "Reliability").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, createLearner, newLearner, allEvents, listAll } from './lib/server.mjs';

describe('tenant isolation', () => {
  let s, A, B, bLearner, bEventIds;
  before(async () => {
    s = await startServer({ orgs: 2 });
    [A, B] = s.orgs;
    bLearner = await createLearner(s, { external_id: 'B-ONLY-1' }, { key: B.key });
    expectStatus(await s.api('PATCH', `/api/v1/learners/${bLearner.id}`, { key: B.key, body: { lastname: 'Bee' } }), 200);
    bLearner = (await s.api('GET', `/api/v1/learners/${bLearner.id}`, { key: B.key })).body;
    await createLearner(s, {}, { key: A.key });
    bEventIds = (await allEvents(s, { key: B.key })).map((e) => e.id);
  });
  after(async () => { await s?.stop(); });

  it('org B\'s learner via org A → 404 on GET, PATCH, PUT, DELETE', async () => {
    const p = `/api/v1/learners/${bLearner.id}`;
    expectProblem(await s.api('GET', p, { key: A.key }), 404, 'not-found');
    expectProblem(await s.api('PATCH', p, { key: A.key, body: { firstname: 'Hijacked' } }), 404, 'not-found');
    expectProblem(await s.api('PUT', p, { key: A.key, body: newLearner() }), 404, 'not-found');
    expectProblem(await s.api('DELETE', p, { key: A.key }), 404, 'not-found');
  });

  it('org B\'s learner via org A → 404 on ban, unban, erase', async () => {
    for (const a of ['ban', 'unban', 'erase']) {
      expectProblem(await s.api('POST', `/api/v1/learners/${bLearner.id}/${a}`, { key: A.key }), 404, 'not-found');
    }
  });

  it('org B\'s learner is untouched by org A\'s attempts', async () => {
    const r = await s.api('GET', `/api/v1/learners/${bLearner.id}`, { key: B.key });
    expectStatus(r, 200);
    assert.deepEqual(r.body, bLearner);
    const evs = await allEvents(s, { key: B.key });
    assert.deepEqual(evs.map((e) => e.id), bEventIds, 'no event was added to B by A\'s requests');
  });

  it('org B\'s learner is absent from org A\'s list, filters and search', async () => {
    const all = await listAll(s, '/api/v1/learners?include_deleted=true', { key: A.key });
    assert.equal(all.some((l) => l.id === bLearner.id), false);
    const q = [`email=${encodeURIComponent(bLearner.email)}`, 'external_id=B-ONLY-1', `q=${encodeURIComponent(bLearner.firstname)}`, 'q=Bee'];
    for (const query of q) {
      const r = await s.api('GET', `/api/v1/learners?${query}`, { key: A.key });
      expectStatus(r, 200);
      assert.deepEqual(r.body.results, [], query);
      assert.equal(r.body.count, 0, query);
    }
    const total = await s.api('GET', '/api/v1/learners?count=exact', { key: A.key });
    assert.equal(total.body.count, 1);
  });

  it('org B\'s events are absent from org A\'s feed and GET /events/{id}', async () => {
    const aEvents = await allEvents(s, { key: A.key });
    assert.ok(aEvents.length >= 1, 'A sees its own learner.created');
    for (const e of aEvents) assert.equal(e.organization_id, A.orgId);
    for (const id of bEventIds) {
      assert.equal(aEvents.some((e) => e.id === id), false);
      expectProblem(await s.api('GET', `/api/v1/events/${id}`, { key: A.key }), 404, 'not-found');
    }
    const fam = await allEvents(s, { key: A.key, type: 'learner.*' });
    assert.equal(fam.some((e) => e.organization_id !== A.orgId), false);
    // `after` = B's event id must not leak B's position or events either.
    const r = await s.api('GET', `/api/v1/events?after=${bEventIds[0]}`, { key: A.key });
    if (r.status === 200) for (const e of r.body.results) assert.equal(e.organization_id, A.orgId);
    else expectStatus(r, [400, 404, 410]);
  });

  it('emails and external ids are unique per organization only', async () => {
    const r = await s.api('POST', '/api/v1/learners', { key: A.key, body: newLearner({ email: bLearner.email, external_id: 'B-ONLY-1' }) });
    expectStatus(r, 201);
    assert.notEqual(r.body.id, bLearner.id);
  });

  it('org B\'s API key via org A → 404 on GET and DELETE; B\'s key still works', async () => {
    expectProblem(await s.api('GET', `/api/v1/api-keys/${B.keyId}`, { key: A.key }), 404, 'not-found');
    expectProblem(await s.api('DELETE', `/api/v1/api-keys/${B.keyId}`, { key: A.key }), 404, 'not-found');
    const list = await listAll(s, '/api/v1/api-keys', { key: A.key });
    assert.equal(list.some((k) => k.id === B.keyId), false);
    expectStatus(await s.api('GET', '/api/v1/learners', { key: B.key }), 200);
  });

  it('bulk upsert in org A never matches org B\'s learner', async () => {
    const r = await s.api('POST', '/api/v1/learners/bulk', { key: A.key, body: { learners: [newLearner({ email: bLearner.email.toUpperCase(), external_id: 'B-ONLY-1' })] } });
    expectStatus(r, 200);
    // Either it updates A's own copy (created above) or conflicts; it never returns B's id.
    assert.notEqual(r.body.results[0].id, bLearner.id);
    const b = await s.api('GET', `/api/v1/learners/${bLearner.id}`, { key: B.key });
    assert.deepEqual(b.body, bLearner);
  });
});
