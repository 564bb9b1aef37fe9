// Writes racing each other (on SQLite writers take turns; on PostgreSQL, E2E_DB=postgres, the row
// locks of read-then-write paths must give the same results): no limit is overshot, no update
// lost, and the events tell a story that adds up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, createLearner, allEvents } from './lib/server.mjs';

describe('concurrent writes', () => {
  let s;
  before(async () => {
    s = await startServer({ orgs: 2, args: ['--max-webhooks-per-org', '3', '--allowed-private-networks', '127.0.0.0/8'] });
  });
  after(async () => { await s?.stop(); });

  it('twelve webhooks created at once against a limit of 3: exactly 3 are created', async () => {
    const key = s.orgs[1].key;
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => s.api('POST', '/api/v1/webhooks', {
      key, body: { name: `w${i}`, url: `http://127.0.0.1:9/hook${i}` },
    })));
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((x) => x === 201).length, 3, JSON.stringify(statuses));
    assert.equal(statuses.filter((x) => x === 409).length, 9, JSON.stringify(statuses));
    for (const r of results.filter((x) => x.status === 409)) assert.match(r.body.type, /limit-reached$/);
    const list = expectStatus(await s.api('GET', '/api/v1/webhooks', { key }), 200);
    assert.equal(list.count, 3);
  });

  it('PATCHes of different fields at once: none is lost, and each event\'s `previous` is the state before it', async () => {
    const learner = await createLearner(s);
    const patches = [];
    for (let i = 0; i < 10; i++) {
      patches.push({ firstname: `First${i}` }, { lastname: `Last${i}` });
    }
    const results = await Promise.all(patches.map((body) => s.api('PATCH', `/api/v1/learners/${learner.id}`, { body })));
    for (const r of results) expectStatus(r, 200);
    const final = expectStatus(await s.api('GET', `/api/v1/learners/${learner.id}`), 200);
    // Replaying the learner.updated events in feed order from the created state gives the final
    // state, and each event's `previous` holds exactly the values the replay had before it.
    const events = (await allEvents(s)).filter((e) => e.data.id === learner.id && e.type === 'learner.updated');
    assert.ok(events.length >= 2, `${events.length} updates`);
    const state = { firstname: learner.firstname, lastname: learner.lastname };
    for (const e of events) {
      for (const f of e.data.changed_fields) {
        if (f in state) {
          assert.equal(e.data.previous[f], state[f], `event ${e.id}: previous.${f} is not the state before it (a lost update)`);
          state[f] = e.data[f];
        }
      }
    }
    assert.equal(final.firstname, state.firstname);
    assert.equal(final.lastname, state.lastname);
    // The last write of each field is the one that stands.
    assert.match(final.firstname, /^First\d$/);
    assert.match(final.lastname, /^Last\d$/);
  });
});
