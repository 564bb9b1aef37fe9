// The events feed (WEBHOOKS.md §2 envelope, §4 "The events feed"; EVENTS.md learner.* rows).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, newLearner, allEvents, stripEventExtras, checkSchema } from './lib/server.mjs';

describe('events feed', () => {
  let s, learner, evs;
  before(async () => {
    s = await startServer();
    // One of each learner change, in a known order.
    const c = await s.api('POST', '/api/v1/learners', { body: newLearner({ external_id: 'EV-1' }) });
    expectStatus(c, 201);
    learner = c.body;
    const id = learner.id;
    expectStatus(await s.api('PATCH', `/api/v1/learners/${id}`, { body: { lastname: 'Evented' } }), 200);
    await s.advanceClock(10); // distinct timestamps for the since/until checks
    expectStatus(await s.api('PATCH', `/api/v1/learners/${id}`, { body: { lastname: 'Evented' } }), 200); // no change, no event
    expectStatus(await s.api('PUT', `/api/v1/learners/${id}`, { body: { email: learner.email, firstname: learner.firstname, lastname: 'Evented', language: 'nl' } }), 200);
    await s.advanceClock(10); // distinct timestamps for the since/until checks
    expectStatus(await s.api('POST', `/api/v1/learners/${id}/ban`), 200);
    await s.advanceClock(10); // distinct timestamps for the since/until checks
    expectStatus(await s.api('POST', `/api/v1/learners/${id}/unban`), 200);
    await s.advanceClock(10); // distinct timestamps for the since/until checks
    const second = await s.api('POST', '/api/v1/learners', { body: newLearner() });
    expectStatus(second, 201);
    await s.advanceClock(10); // distinct timestamps for the since/until checks
    expectStatus(await s.api('DELETE', `/api/v1/learners/${id}`), 204);
    await s.advanceClock(10); // distinct timestamps for the since/until checks
    evs = await allEvents(s);
  });
  after(async () => { await s?.stop(); });

  it('every change produced exactly one event of the right type, in order', () => {
    assert.deepEqual(evs.map((e) => e.type), ['learner.created', 'learner.updated', 'learner.updated', 'learner.banned', 'learner.unbanned', 'learner.created', 'learner.deleted']);
    const mine = evs.filter((e) => e.data.id === learner.id).length;
    assert.equal(mine, 6);
  });

  it('the envelope: id, type, version "1", timestamp, organization_id, actor {api_key, key_…}, data', () => {
    for (const e of evs) {
      assert.deepEqual(Object.keys(e).sort(), ['actor', 'data', 'id', 'organization_id', 'timestamp', 'type', 'version']);
      assert.match(e.id, /^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
      assert.equal(e.version, '1');
      assert.equal(e.organization_id, s.orgId);
      assert.deepEqual(e.actor, { type: 'api_key', id: s.keyId });
      assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });

  it('ids strictly increase and timestamps never go back', () => {
    for (let i = 1; i < evs.length; i++) {
      assert.ok(evs[i].id > evs[i - 1].id, `${evs[i - 1].id} < ${evs[i].id}`);
      assert.ok(evs[i].timestamp >= evs[i - 1].timestamp);
    }
  });

  it('data is the learner as GET returns it, plus changed_fields/previous on updates', () => {
    assert.deepEqual(evs[0].data, learner);
    for (const e of evs) {
      assert.equal(checkSchema('LearnerOut', stripEventExtras(e.data)), null, `${e.type}: ${checkSchema('LearnerOut', stripEventExtras(e.data))}`);
      if (e.type === 'learner.updated') {
        assert.ok(Array.isArray(e.data.changed_fields) && e.data.changed_fields.length > 0);
        assert.deepEqual(Object.keys(e.data.previous).sort(), [...e.data.changed_fields].sort());
      } else {
        assert.equal('changed_fields' in e.data, false, e.type);
        assert.equal('previous' in e.data, false, e.type);
      }
      assert.equal('bulk_id' in e.data, false);
    }
    assert.deepEqual(evs[1].data.changed_fields, ['lastname']);
    assert.deepEqual(evs[1].data.previous, { lastname: learner.lastname });
    assert.deepEqual([...evs[2].data.changed_fields].sort(), ['external_id', 'language']);
    assert.deepEqual(evs[2].data.previous, { external_id: 'EV-1', language: 'en' });
    assert.equal(evs[3].data.status, 'banned');
    assert.equal(evs[4].data.status, 'active');
    assert.equal(typeof evs[6].data.deleted_at, 'string');
    assert.equal(evs[6].data.lastname, 'Evented');
  });

  it('the event timestamp is the commit time: the updated_at of the change', () => {
    assert.equal(evs[0].timestamp >= evs[0].data.created_at, true);
    for (const e of evs.slice(0, 5)) {
      const skew = Math.abs(Date.parse(e.timestamp) - Date.parse(e.data.updated_at));
      assert.ok(skew < 1000, `${e.type}: timestamp ${e.timestamp} vs updated_at ${e.data.updated_at}`);
    }
  });

  it('after=<id> returns only later events; after the newest → empty', async () => {
    for (let i = 0; i < evs.length; i++) {
      const later = await allEvents(s, { after: evs[i].id });
      assert.deepEqual(later.map((e) => e.id), evs.slice(i + 1).map((e) => e.id), `after ${i}`);
    }
    const r = await s.api('GET', `/api/v1/events?after=${evs.at(-1).id}`);
    expectStatus(r, 200);
    assert.deepEqual(r.body.results, []);
    assert.equal(r.body.next, null);
  });

  it('after=<not an event id> → 400', async () => {
    for (const v of ['nope', 'lrn_01JDQ7ZK3M8X2V5N9R4T6W0Y1B']) expectProblem(await s.api('GET', `/api/v1/events?after=${v}`), 400, 'malformed');
  });

  it('type=learner.created (exact) and type=learner.* (family)', async () => {
    const created = await allEvents(s, { type: 'learner.created' });
    assert.deepEqual(created.map((e) => e.id), evs.filter((e) => e.type === 'learner.created').map((e) => e.id));
    const fam = await allEvents(s, { type: 'learner.*' });
    assert.deepEqual(fam.map((e) => e.id), evs.map((e) => e.id));
    const none = await allEvents(s, { type: 'enrollment.*' });
    assert.deepEqual(none, []);
    const banned = await allEvents(s, { type: 'learner.banned', after: evs[0].id });
    assert.deepEqual(banned.map((e) => e.id), [evs[3].id]);
  });

  it('a type that is not in the catalog → 400 or an empty list, never another event', async () => {
    for (const t of ['learner.exploded', 'nonsense', 'learner.*.*', 'learner', '*']) {
      const r = await s.api('GET', `/api/v1/events?type=${encodeURIComponent(t)}`);
      expectStatus(r, t === '*' ? [200, 400] : [200, 400]);
      if (r.status === 200 && t !== '*') assert.deepEqual(r.body.results, [], t);
      if (r.status === 400) expectProblem(r, 400, 'malformed');
    }
  });

  it('paging with limit=2 sees every event once, in order', async () => {
    const seen = [];
    let url = '/api/v1/events?limit=2';
    while (url) {
      const r = await s.api('GET', url);
      expectStatus(r, 200);
      assert.ok(r.body.results.length <= 2);
      seen.push(...r.body.results.map((e) => e.id));
      url = r.body.next;
    }
    assert.deepEqual(seen, evs.map((e) => e.id));
  });

  it('since / until bound the feed by timestamp', async () => {
    const since = evs[3].timestamp;
    const r = await allEvents(s);
    const q = await s.api('GET', `/api/v1/events?since=${encodeURIComponent(since)}&limit=500`);
    expectStatus(q, 200);
    const expected = r.filter((e) => e.timestamp >= since).map((e) => e.id);
    assert.deepEqual(q.body.results.map((e) => e.id), expected);
    const until = evs[3].timestamp;
    const u = await s.api('GET', `/api/v1/events?until=${encodeURIComponent(until)}&limit=500`);
    expectStatus(u, 200);
    for (const e of u.body.results) assert.ok(e.timestamp <= until);
    assert.ok(u.body.results.some((e) => e.id === evs[0].id));
    expectProblem(await s.api('GET', '/api/v1/events?since=yesterday'), 400, 'malformed');
  });

  it('unknown query parameter on /events → 400 naming it', async () => {
    const p = expectProblem(await s.api('GET', '/api/v1/events?typ=learner.created'), 400, 'malformed');
    assert.ok(JSON.stringify(p).includes('typ'));
  });

  it('GET /events/{id} returns the same envelope as the list; unknown → 404', async () => {
    for (const e of evs) {
      const r = await s.api('GET', `/api/v1/events/${e.id}`);
      expectStatus(r, 200);
      assert.deepEqual(r.body, e);
    }
    expectProblem(await s.api('GET', '/api/v1/events/evt_01JDQ7ZK3M8X2V5N9R4T6W0Y1B'), 404, 'not-found');
    expectProblem(await s.api('GET', '/api/v1/events/nope'), 404, 'not-found');
  });

  it('a new change appears in the feed at once (visible to the next reader)', async () => {
    const last = evs.at(-1).id;
    const c = await s.api('POST', '/api/v1/learners', { body: newLearner() });
    expectStatus(c, 201);
    const later = await allEvents(s, { after: last });
    assert.deepEqual(later.map((e) => [e.type, e.data.id]), [['learner.created', c.body.id]]);
  });

  it('actor is the key that made the change', async () => {
    const k = await s.createKey(['read', 'write']);
    const last = (await allEvents(s)).at(-1).id;
    expectStatus(await s.api('POST', '/api/v1/learners', { key: k.key, body: newLearner() }), 201);
    const later = await allEvents(s, { after: last, key: k.key });
    assert.deepEqual(later.map((e) => e.actor), [{ type: 'api_key', id: k.id }]);
  });
});
