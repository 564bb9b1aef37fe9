// Learners: create, read, update, replace, delete, ban, unban, erase (DOMAIN.md "Learner", API.md "Requests").
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, expectProblem, expectStatus, createLearner, newLearner, allEvents, lastEventId, listAll, stripEventExtras, checkSchema,
} from './lib/server.mjs';

const ID = /^lrn_[0-9A-HJKMNP-TV-Z]{26}$/;

describe('learners CRUD', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  async function eventsOf(id, after) {
    return (await allEvents(s, { after: after ?? undefined })).filter((e) => e.data?.id === id);
  }

  it('POST → 201 with Location and the learner, defaults filled in', async () => {
    const input = newLearner({ external_id: 'HR-0001', custom_fields: { team: 'blue', level: 3, manager: false } });
    const r = await s.api('POST', '/api/v1/learners', { body: input });
    expectStatus(r, 201);
    const l = r.body;
    assert.match(l.id, ID);
    assert.ok(r.headers.get('location').endsWith(`/api/v1/learners/${l.id}`), `Location: ${r.headers.get('location')}`);
    assert.equal(l.email, input.email);
    assert.equal(l.firstname, input.firstname);
    assert.equal(l.lastname, input.lastname);
    assert.equal(l.external_id, 'HR-0001');
    assert.deepEqual(l.custom_fields, { team: 'blue', level: 3, manager: false });
    assert.equal(l.username, null);
    assert.equal(l.language, 'en');
    assert.equal(l.status, 'active');
    assert.deepEqual(l.group_ids, []);
    assert.deepEqual(l.department_ids, []);
    assert.equal(l.deleted_at, null);
    assert.equal(l.created_at, l.updated_at);
    const age = Date.now() - Date.parse(l.created_at);
    assert.ok(age > -5000 && age < 60000, `created_at is now-ish: ${l.created_at}`);
  });

  it('GET /learners/{id} returns what POST returned', async () => {
    const l = await createLearner(s, { username: 'ada', language: 'fr-CA' });
    const r = await s.api('GET', `/api/v1/learners/${l.id}`);
    expectStatus(r, 200);
    assert.deepEqual(r.body, l);
  });

  it('GET of an unknown or malformed id → 404', async () => {
    expectProblem(await s.api('GET', '/api/v1/learners/lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B'), 404, 'not-found');
    expectProblem(await s.api('GET', '/api/v1/learners/nope'), 404, 'not-found');
    expectProblem(await s.api('GET', '/api/v1/learners/grp_01JDQ7ZK3M8X2V5N9R4T6W0Y1B'), 404, 'not-found');
  });

  it('POST emits exactly one learner.created whose data is the learner', async () => {
    const before = await lastEventId(s);
    const l = await createLearner(s);
    const evs = await allEvents(s, { after: before ?? undefined });
    assert.deepEqual(evs.map((e) => e.type), ['learner.created']);
    assert.deepEqual(evs[0].data, l);
  });

  it('PATCH changes only the given fields, bumps updated_at, emits learner.updated with changed_fields and previous', async () => {
    const l = await createLearner(s, { external_id: 'HR-PATCH', custom_fields: { a: 1 } });
    await s.advanceClock(5);
    const before = await lastEventId(s);
    const r = await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { firstname: 'Changed', username: 'chg' } });
    expectStatus(r, 200);
    const { firstname, username, updated_at, ...rest } = r.body;
    const { firstname: f0, username: u0, updated_at: t0, ...rest0 } = l;
    assert.equal(firstname, 'Changed');
    assert.equal(username, 'chg');
    assert.deepEqual(rest, rest0, 'other fields unchanged');
    assert.ok(updated_at > t0, `updated_at bumped: ${t0} → ${updated_at}`);
    const evs = await eventsOf(l.id, before);
    assert.deepEqual(evs.map((e) => e.type), ['learner.updated']);
    const d = evs[0].data;
    assert.deepEqual([...d.changed_fields].sort(), ['firstname', 'username']);
    assert.deepEqual(d.previous, { firstname: f0, username: u0 });
    assert.deepEqual(stripEventExtras(d), r.body);
    assert.equal('bulk_id' in d, false, 'no bulk_id outside bulk calls');
  });

  it('PATCH that changes nothing → 200, updated_at unchanged, no event', async () => {
    const l = await createLearner(s, { username: 'same' });
    await s.advanceClock(5);
    const before = await lastEventId(s);
    for (const body of [{ firstname: l.firstname }, {}, { username: 'same', email: l.email, status: 'active', id: l.id, created_at: l.created_at }]) {
      const r = await s.api('PATCH', `/api/v1/learners/${l.id}`, { body });
      expectStatus(r, 200);
      assert.deepEqual(r.body, l, `PATCH ${JSON.stringify(body)}`);
    }
    // No body at all counts as {}.
    const r = await s.api('PATCH', `/api/v1/learners/${l.id}`);
    expectStatus(r, 200);
    assert.deepEqual(r.body, l);
    assert.deepEqual(await eventsOf(l.id, before), []);
  });

  it('PATCH with the email in another case changes the stored email (and is not a conflict with itself)', async () => {
    const l = await createLearner(s);
    const r = await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { email: l.email.toUpperCase() } });
    expectStatus(r, 200);
    assert.equal(r.body.email.toLowerCase(), l.email.toLowerCase());
  });

  it('PUT replaces: omitted optional fields return to their defaults', async () => {
    const l = await createLearner(s, { username: 'u1', language: 'de', external_id: 'HR-PUT', custom_fields: { k: 'v' } });
    await s.advanceClock(5);
    const before = await lastEventId(s);
    const r = await s.api('PUT', `/api/v1/learners/${l.id}`, { body: { email: l.email, firstname: l.firstname, lastname: 'Replaced' } });
    expectStatus(r, 200);
    assert.equal(r.body.lastname, 'Replaced');
    assert.equal(r.body.username, null);
    assert.equal(r.body.language, 'en');
    assert.equal(r.body.external_id, null);
    assert.deepEqual(r.body.custom_fields, {});
    assert.equal(r.body.id, l.id);
    assert.equal(r.body.created_at, l.created_at);
    assert.ok(r.body.updated_at > l.updated_at);
    const evs = await eventsOf(l.id, before);
    assert.deepEqual(evs.map((e) => e.type), ['learner.updated']);
    assert.deepEqual([...evs[0].data.changed_fields].sort(), ['custom_fields', 'external_id', 'language', 'lastname', 'username']);
    assert.deepEqual(evs[0].data.previous, { custom_fields: { k: 'v' }, external_id: 'HR-PUT', language: 'de', lastname: l.lastname, username: 'u1' });
  });

  it('PUT of the learner exactly as GET returned it (read-only fields included) → 200, nothing changes, no event', async () => {
    const l = await createLearner(s, { username: 'rt', external_id: 'HR-RT', custom_fields: { x: true } });
    await s.advanceClock(5);
    const before = await lastEventId(s);
    const r = await s.api('PUT', `/api/v1/learners/${l.id}`, { body: l });
    expectStatus(r, 200);
    assert.deepEqual(r.body, l);
    assert.deepEqual(await eventsOf(l.id, before), []);
  });

  it('PUT without a required field → 422', async () => {
    const l = await createLearner(s);
    const p = expectProblem(await s.api('PUT', `/api/v1/learners/${l.id}`, { body: { email: l.email, firstname: 'x' } }), 422, 'validation');
    assert.ok(p.errors.some((e) => e.field === 'lastname'), JSON.stringify(p));
  });

  it('DELETE → 204, then GET → 404, DELETE again → 404, and learner.deleted carries the last snapshot', async () => {
    const l = await createLearner(s, { external_id: 'HR-DEL' });
    const before = await lastEventId(s);
    const d = await s.api('DELETE', `/api/v1/learners/${l.id}`);
    expectStatus(d, 204);
    assert.equal(d.text, '');
    expectProblem(await s.api('GET', `/api/v1/learners/${l.id}`), 404, 'not-found');
    expectProblem(await s.api('DELETE', `/api/v1/learners/${l.id}`), 404, 'not-found');
    expectProblem(await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { firstname: 'x' } }), 404, 'not-found');
    const evs = await eventsOf(l.id, before);
    assert.deepEqual(evs.map((e) => e.type), ['learner.deleted']);
    const data = evs[0].data;
    assert.equal(checkSchema('LearnerOut', data), null);
    assert.equal(typeof data.deleted_at, 'string');
    assert.equal(data.email, l.email);
    assert.equal(data.external_id, 'HR-DEL');
  });

  it('a deleted learner leaves the list; include_deleted=true shows a tombstone {id, deleted_at}', async () => {
    const l = await createLearner(s);
    expectStatus(await s.api('DELETE', `/api/v1/learners/${l.id}`), 204);
    const plain = await listAll(s, '/api/v1/learners?limit=500');
    assert.equal(plain.some((x) => x.id === l.id), false);
    const withDeleted = await listAll(s, '/api/v1/learners?limit=500&include_deleted=true');
    const t = withDeleted.find((x) => x.id === l.id);
    assert.ok(t, 'tombstone listed');
    assert.deepEqual(Object.keys(t).sort(), ['deleted_at', 'id']);
    assert.equal(checkSchema('Tombstone', t), null);
    const byEmail = await s.api('GET', `/api/v1/learners?email=${encodeURIComponent(l.email)}`);
    assert.deepEqual(byEmail.body.results, []);
  });

  it('the email and external_id of a deleted learner can be reused', async () => {
    const l = await createLearner(s, { external_id: 'HR-REUSE' });
    expectStatus(await s.api('DELETE', `/api/v1/learners/${l.id}`), 204);
    const r = await s.api('POST', '/api/v1/learners', { body: newLearner({ email: l.email, external_id: 'HR-REUSE' }) });
    expectStatus(r, 201);
    assert.notEqual(r.body.id, l.id);
  });

  it('ban → status banned + learner.banned; unban → active + learner.unbanned', async () => {
    const l = await createLearner(s);
    await s.advanceClock(5);
    const before = await lastEventId(s);
    const b = await s.api('POST', `/api/v1/learners/${l.id}/ban`);
    expectStatus(b, 200);
    assert.equal(b.body.status, 'banned');
    assert.ok(b.body.updated_at > l.updated_at);
    const g = await s.api('GET', `/api/v1/learners/${l.id}`);
    assert.equal(g.body.status, 'banned');
    const u = await s.api('POST', `/api/v1/learners/${l.id}/unban`, { body: {} });
    expectStatus(u, 200);
    assert.equal(u.body.status, 'active');
    const evs = await eventsOf(l.id, before);
    assert.deepEqual(evs.map((e) => e.type), ['learner.banned', 'learner.unbanned']);
    assert.equal(evs[0].data.status, 'banned');
    assert.equal(evs[1].data.status, 'active');
  });

  it('banning a banned learner → 200, no second event', async () => {
    const l = await createLearner(s);
    expectStatus(await s.api('POST', `/api/v1/learners/${l.id}/ban`), 200);
    const before = await lastEventId(s);
    const again = await s.api('POST', `/api/v1/learners/${l.id}/ban`);
    expectStatus(again, 200);
    assert.equal(again.body.status, 'banned');
    assert.deepEqual(await eventsOf(l.id, before), []);
  });

  it('an action with unknown body fields → 422', async () => {
    const l = await createLearner(s);
    const p = expectProblem(await s.api('POST', `/api/v1/learners/${l.id}/ban`, { body: { reason: 'spam' } }), 422, 'validation');
    assert.ok(p.errors.some((e) => e.field === 'reason'));
    assert.equal((await s.api('GET', `/api/v1/learners/${l.id}`)).body.status, 'active');
  });

  it('status is read-only: PATCH status=banned → 422, learner unchanged', async () => {
    const l = await createLearner(s);
    const p = expectProblem(await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { status: 'banned' } }), 422, 'validation');
    assert.ok(p.errors.some((e) => e.field === 'status'));
    assert.deepEqual((await s.api('GET', `/api/v1/learners/${l.id}`)).body, l);
  });

  it('erase → 200 with the learner (LearnerOut), none of its personal data left in it', async () => {
    const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const l = await createLearner(s, { email: `erase.resp.${tag}@privacy.example.org`, firstname: `Eraseable${tag}`, lastname: `Forgotten${tag}`, username: `user${tag}`, external_id: `HR-ER-${tag}` });
    const r = await s.api('POST', `/api/v1/learners/${l.id}/erase`);
    expectStatus(r, 200);
    assert.equal(r.body.id, l.id);
    assert.equal(r.text.includes(tag), false, `erase response still contains personal data: ${r.text}`);
  });

  it('erase → learner.erased {id, external_id: null}; personal data gone from every stored event', async () => {
    const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const secret = { email: `erase.me.${tag}@privacy.example.org`, firstname: `Eraseable${tag}`, lastname: `Forgotten${tag}`, username: `user${tag}`, external_id: `HR-ERASE-${tag}` };
    const l = await createLearner(s, secret);
    expectStatus(await s.api('PATCH', `/api/v1/learners/${l.id}`, { body: { firstname: `Renamed${tag}` } }), 200);
    expectStatus(await s.api('POST', `/api/v1/learners/${l.id}/ban`), 200);
    const before = await lastEventId(s);
    expectStatus(await s.api('POST', `/api/v1/learners/${l.id}/erase`), 200);
    const evs = await eventsOf(l.id, before);
    assert.deepEqual(evs.map((e) => e.type), ['learner.erased']);
    assert.deepEqual(evs[0].data, { id: l.id, external_id: null });
    const feed = JSON.stringify(await allEvents(s));
    for (const v of [...Object.values(secret), `Renamed${tag}`, tag]) assert.equal(feed.includes(v), false, `GET /events still contains ${v}`);
    // The earlier events are still listed (only their personal fields changed).
    const mine = (await allEvents(s)).filter((e) => e.data?.id === l.id);
    assert.deepEqual(mine.map((e) => e.type), ['learner.created', 'learner.updated', 'learner.banned', 'learner.erased']);
    for (const e of mine) {
      const one = await s.api('GET', `/api/v1/events/${e.id}`);
      expectStatus(one, 200);
      assert.equal(one.text.includes(tag), false, `GET /events/${e.id} still contains personal data`);
    }
    const g = await s.api('GET', `/api/v1/learners/${l.id}`);
    if (g.status === 200) assert.equal(g.text.includes(tag), false, 'GET learner after erase still shows personal data');
    else expectStatus(g, 404);
  });

  it('erase frees the email: a new learner with that email can be created', async () => {
    const l = await createLearner(s, { external_id: 'HR-ERASE-REUSE' });
    expectStatus(await s.api('POST', `/api/v1/learners/${l.id}/erase`), 200);
    expectStatus(await s.api('POST', '/api/v1/learners', { body: newLearner({ email: l.email, external_id: 'HR-ERASE-REUSE' }) }), 201);
  });
});
