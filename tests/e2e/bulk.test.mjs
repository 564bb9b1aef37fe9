// POST /learners/bulk (DOMAIN.md "Learner", API.md "Bulk", EVENTS.md bulk rule).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, createLearner, newLearner, allEvents, lastEventId, listAll, stripEventExtras, checkSchema } from './lib/server.mjs';

describe('bulk upsert of learners', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  it('mixed items: created, updated by email (any case), invalid, created with external_id — per-item results in order, one event per change', async () => {
    const existing = await createLearner(s, { email: `Existing.${Date.now()}@Bulk.Example.com` });
    const n1 = newLearner();
    const n2 = newLearner({ external_id: 'BULK-EXT-1' });
    const items = [
      n1,
      { email: existing.email.toLowerCase(), firstname: 'Updated', lastname: existing.lastname },
      { email: 'not-an-email', firstname: 'Bad', lastname: 'Item' },
      n2,
    ];
    const before = await lastEventId(s);
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners: items } });
    expectStatus(r, 200);
    const res = r.body.results;
    assert.deepEqual(res.map((x) => x.index), [0, 1, 2, 3]);
    assert.deepEqual(res.map((x) => x.status), [201, 200, 422, 201], JSON.stringify(res));
    assert.equal(res[1].id, existing.id);
    assert.ok(res[2].errors?.some((e) => e.field === 'email' || e.field.endsWith('.email')), JSON.stringify(res[2]));
    assert.equal(res[2].id, undefined);
    for (const i of [0, 3]) assert.match(res[i].id, /^lrn_/);

    const g1 = await s.api('GET', `/api/v1/learners/${res[0].id}`);
    assert.equal(g1.body.firstname, n1.firstname);
    const ge = await s.api('GET', `/api/v1/learners/${existing.id}`);
    assert.equal(ge.body.firstname, 'Updated');
    const g4 = await s.api('GET', `/api/v1/learners/${res[3].id}`);
    assert.equal(g4.body.external_id, 'BULK-EXT-1');

    // One event per item changed, each with the call's bulk_id and the same actor.
    const evs = (await allEvents(s, { after: before ?? undefined }));
    assert.deepEqual(evs.map((e) => [e.type, e.data.id]), [['learner.created', res[0].id], ['learner.updated', existing.id], ['learner.created', res[3].id]]);
    for (const e of evs) {
      assert.equal(e.data.bulk_id, r.body.bulk_id);
      assert.deepEqual(e.actor, { type: 'api_key', id: s.keyId });
      assert.equal(checkSchema('LearnerOut', stripEventExtras(e.data)), null);
    }
    assert.ok(evs[1].data.changed_fields.includes('firstname'), JSON.stringify(evs[1].data));
    assert.equal(evs[1].data.previous.firstname, existing.firstname);
  });

  it('two items of one batch for the same learner (same email) → the second gets 409 and changes nothing', async () => {
    const n = newLearner();
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners: [n, { ...n, email: n.email.toUpperCase(), firstname: 'Again' }, newLearner()] } });
    expectStatus(r, 200);
    assert.deepEqual(r.body.results.map((x) => x.status), [201, 409, 201], JSON.stringify(r.body.results));
    const g = await s.api('GET', `/api/v1/learners/${r.body.results[0].id}`);
    assert.equal(g.body.firstname, n.firstname, 'the duplicate item did not overwrite the first');
  });

  it('matches by external_id before email: an item with a known external_id updates that learner\'s email', async () => {
    const l = await createLearner(s, { external_id: 'BULK-EXT-MATCH' });
    const newEmail = `moved.${Date.now()}@bulk.example.com`;
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners: [{ external_id: 'BULK-EXT-MATCH', email: newEmail, firstname: l.firstname, lastname: l.lastname }] } });
    expectStatus(r, 200);
    assert.deepEqual(r.body.results, [{ index: 0, status: 200, id: l.id }]);
    assert.equal((await s.api('GET', `/api/v1/learners/${l.id}`)).body.email, newEmail);
  });

  it('an item matching two different learners (external_id of one, email of another) → 409 for that item only', async () => {
    const a = await createLearner(s, { external_id: 'BULK-TWO-A' });
    const b = await createLearner(s);
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners: [
      { external_id: 'BULK-TWO-A', email: b.email, firstname: 'X', lastname: 'Y' },
      newLearner(),
    ] } });
    expectStatus(r, 200);
    assert.deepEqual(r.body.results.map((x) => x.status), [409, 201]);
    assert.deepEqual((await s.api('GET', `/api/v1/learners/${a.id}`)).body, a);
    assert.deepEqual((await s.api('GET', `/api/v1/learners/${b.id}`)).body, b);
  });

  it('an item identical to the stored learner → 200 and no event', async () => {
    const l = await createLearner(s);
    const before = await lastEventId(s);
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners: [{ email: l.email, firstname: l.firstname, lastname: l.lastname }] } });
    expectStatus(r, 200);
    assert.deepEqual(r.body.results, [{ index: 0, status: 200, id: l.id }]);
    assert.deepEqual(await allEvents(s, { after: before ?? undefined }), []);
    assert.deepEqual((await s.api('GET', `/api/v1/learners/${l.id}`)).body, l);
  });

  it('items with unknown fields or read-only values → 422 per item with the item\'s field', async () => {
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners: [newLearner({ shoe_size: 44 }), newLearner({ status: 'banned' }), newLearner()] } });
    expectStatus(r, 200);
    assert.deepEqual(r.body.results.map((x) => x.status), [422, 422, 201]);
    assert.ok(r.body.results[0].errors.some((e) => e.field.endsWith('shoe_size')));
    assert.ok(r.body.results[1].errors.some((e) => e.field.endsWith('status')));
  });

  it('more than 1,000 items → 422 for the whole call, nothing created', async () => {
    const before = (await listAll(s, '/api/v1/learners?limit=500')).length;
    const learners = Array.from({ length: 1001 }, (_, i) => ({ email: `over${i}.${Date.now()}@bulk.example.com`, firstname: 'O', lastname: `${i}` }));
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners } });
    const p = expectProblem(r, 422, 'validation');
    assert.ok(JSON.stringify(p).includes('learners'), r.text);
    assert.equal((await listAll(s, '/api/v1/learners?limit=500')).length, before);
  });

  it('exactly 1,000 items are accepted', async () => {
    const t = Date.now();
    const learners = Array.from({ length: 1000 }, (_, i) => ({ email: `thousand${i}.${t}@bulk.example.com`, firstname: 'T', lastname: `${i}` }));
    const r = await s.api('POST', '/api/v1/learners/bulk', { body: { learners } });
    expectStatus(r, 200);
    assert.equal(r.body.results.length, 1000);
    assert.ok(r.body.results.every((x, i) => x.index === i && x.status === 201));
  });

  it('an empty array, a missing or non-array learners, or unknown top-level fields → 422', async () => {
    for (const body of [{ learners: [] }, {}, { learners: 'x' }, { learners: [newLearner()], dry_run: true }]) {
      const p = expectProblem(await s.api('POST', '/api/v1/learners/bulk', { body }), 422, 'validation');
      assert.ok(p.errors?.length, JSON.stringify(p));
    }
  });
});
