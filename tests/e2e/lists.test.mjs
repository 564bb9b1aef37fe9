// Lists: cursors, limits, filters, updated_since (API.md "Lists", DOMAIN.md learner filters).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus, createLearner, listAll } from './lib/server.mjs';

describe('learner lists', () => {
  let s, seven;
  before(async () => {
    s = await startServer();
    seven = [];
    for (let i = 0; i < 7; i++) {
      seven.push(await createLearner(s, {
        email: `list${i}.${i % 2 ? 'Odd' : 'Even'}@Lists.Example.com`,
        firstname: `Pat${i}`,
        lastname: i === 3 ? 'Van der Berg-Müller' : `Person${i}`,
        external_id: `EXT-${i}`,
      }));
    }
  });
  after(async () => { await s?.stop(); });

  it('pages of 3: next/previous cursors, every learner once, oldest first, count 7', async () => {
    const p1 = await s.api('GET', '/api/v1/learners?limit=3');
    expectStatus(p1, 200);
    assert.equal(p1.body.count, 7);
    assert.equal(p1.body.previous, null);
    assert.equal(p1.body.results.length, 3);
    assert.ok(p1.body.next && p1.body.next.startsWith('/'), `next is a relative URL: ${p1.body.next}`);
    const p2 = await s.api('GET', p1.body.next);
    expectStatus(p2, 200);
    assert.equal(p2.body.results.length, 3);
    assert.equal(p2.body.count, 7);
    assert.ok(p2.body.previous);
    const p3 = await s.api('GET', p2.body.next);
    expectStatus(p3, 200);
    assert.equal(p3.body.results.length, 1);
    assert.equal(p3.body.next, null);
    assert.ok(p3.body.previous);
    const ids = [...p1.body.results, ...p2.body.results, ...p3.body.results].map((l) => l.id);
    assert.deepEqual(ids, seven.map((l) => l.id));
    // previous of page 2 is page 1; previous of page 3 is page 2.
    const back1 = await s.api('GET', p2.body.previous);
    assert.deepEqual(back1.body.results.map((l) => l.id), p1.body.results.map((l) => l.id));
    const back2 = await s.api('GET', p3.body.previous);
    assert.deepEqual(back2.body.results.map((l) => l.id), p2.body.results.map((l) => l.id));
    // The results are the learners exactly as GET returns them.
    assert.deepEqual(p1.body.results[0], seven[0]);
  });

  it('ids are strictly increasing (time-ordered)', () => {
    for (let i = 1; i < seven.length; i++) assert.ok(seven[i].id > seven[i - 1].id, `${seven[i - 1].id} < ${seven[i].id}`);
  });

  it('default limit is 50; limit=500 accepted', async () => {
    expectStatus(await s.api('GET', '/api/v1/learners?limit=500'), 200);
    const r = await s.api('GET', '/api/v1/learners');
    assert.equal(r.body.results.length, 7);
    assert.equal(r.body.next, null);
  });

  it('limit 0, 501, abc, -1, 1.5, empty → 400 naming limit', async () => {
    for (const v of ['0', '501', 'abc', '-1', '1.5', '', '10abc', '1e2']) {
      const r = await s.api('GET', `/api/v1/learners?limit=${v}`);
      const p = expectProblem(r, 400, 'malformed');
      assert.ok(JSON.stringify(p).includes('limit'), `limit=${v}: ${r.text}`);
    }
  });

  it('a cursor this server did not issue → 400', async () => {
    const p1 = await s.api('GET', '/api/v1/learners?limit=3');
    const cursor = new URL(p1.body.next, 'http://x').searchParams.get('cursor');
    assert.ok(cursor);
    const flip = (c, i) => c.slice(0, i) + (c[i] === 'A' ? 'B' : 'A') + c.slice(i + 1);
    for (const forged of ['abc', 'eyJpZCI6Imxybl8wMSJ9', flip(cursor, Math.floor(cursor.length / 2)), flip(cursor, cursor.length - 1), cursor + 'x', '%00']) {
      const r = await s.api('GET', `/api/v1/learners?limit=3&cursor=${encodeURIComponent(forged)}`);
      expectProblem(r, 400, 'malformed');
    }
  });

  it('an unknown query parameter → 400 naming it', async () => {
    for (const name of ['foo', 'sort', 'emails', 'LIMIT']) {
      const r = await s.api('GET', `/api/v1/learners?${name}=1`);
      const p = expectProblem(r, 400, 'malformed');
      assert.ok(JSON.stringify(p).includes(name), `${name}: ${r.text}`);
    }
  });

  it('hostile parameters → 200 or 400, never 5xx, and no injection', async () => {
    const hostile = [
      'q=%27%20OR%201=1--', `q=${'x'.repeat(6000)}`, 'q=%00', 'q=%25', 'q=_', 'q=%5C', 'q=%FF%FE', 'q=%E2%82',
      'email=%27%20OR%20%271%27=%271', 'external_id=%27%3B%20DROP%20TABLE%20learners%3B--', 'status=active%27--',
      'q=a&q=b', 'limit=3&limit=4', 'updated_since=%27', 'include_deleted=yes', 'count=maybe', 'q=%', 'cursor=',
    ];
    for (const query of hostile) {
      const r = await s.api('GET', `/api/v1/learners?${query}`);
      expectStatus(r, [200, 400]);
      if (r.status === 200 && /^(q|email|external_id)=/.test(query) && !/^q=(_|%25|a&q=b)$/.test(query)) {
        assert.deepEqual(r.body.results, [], `${query.slice(0, 60)} must match nothing`);
      }
    }
    // LIKE wildcards are literal in q.
    const pct = await s.api('GET', '/api/v1/learners?q=%25');
    expectStatus(pct, 200);
    assert.deepEqual(pct.body.results, [], 'q=% matches nothing (no LIKE wildcard)');
    const us = await s.api('GET', '/api/v1/learners?q=_');
    expectStatus(us, 200);
    assert.deepEqual(us.body.results, [], 'q=_ matches nothing (no LIKE wildcard)');
    const all = await listAll(s, '/api/v1/learners');
    assert.equal(all.length, 7, 'the table survived');
  });

  it('filter email is exact and case-insensitive', async () => {
    const r = await s.api('GET', `/api/v1/learners?email=${encodeURIComponent('LIST2.EVEN@lists.example.COM')}`);
    expectStatus(r, 200);
    assert.deepEqual(r.body.results.map((l) => l.id), [seven[2].id]);
    assert.equal(r.body.count, 1);
    const partial = await s.api('GET', '/api/v1/learners?email=list2');
    assert.deepEqual(partial.body.results, []);
  });

  it('filter external_id is exact', async () => {
    const r = await s.api('GET', '/api/v1/learners?external_id=EXT-4');
    assert.deepEqual(r.body.results.map((l) => l.id), [seven[4].id]);
    const none = await s.api('GET', '/api/v1/learners?external_id=EXT');
    assert.deepEqual(none.body.results, []);
  });

  it('filter status', async () => {
    expectStatus(await s.api('POST', `/api/v1/learners/${seven[5].id}/ban`), 200);
    try {
      const banned = await s.api('GET', '/api/v1/learners?status=banned');
      assert.deepEqual(banned.body.results.map((l) => l.id), [seven[5].id]);
      const active = await s.api('GET', '/api/v1/learners?status=active');
      assert.equal(active.body.count, 6);
      expectProblem(await s.api('GET', '/api/v1/learners?status=sleeping'), 400, 'malformed');
    } finally {
      expectStatus(await s.api('POST', `/api/v1/learners/${seven[5].id}/unban`), 200);
    }
  });

  it('q is a case-insensitive substring of firstname, lastname, email or external_id', async () => {
    const cases = [['pat3', [3]], ['der berg', [3]], ['DER BERG', [3]], ['müller', [3]], ['odd@', [1, 3, 5]], ['ext-6', [6]], ['PERSON', [0, 1, 2, 4, 5, 6]]];
    for (const [q, idx] of cases) {
      const r = await s.api('GET', `/api/v1/learners?q=${encodeURIComponent(q)}`);
      expectStatus(r, 200);
      assert.deepEqual(r.body.results.map((l) => l.id), idx.map((i) => seven[i].id), `q=${q}`);
    }
  });

  it('q is case-insensitive beyond ASCII (MÜLLER finds Müller)', async () => {
    const r = await s.api('GET', `/api/v1/learners?q=${encodeURIComponent('MÜLLER')}`);
    expectStatus(r, 200);
    assert.deepEqual(r.body.results.map((l) => l.id), [seven[3].id]);
  });

  it('filters combine (AND) and page with cursors', async () => {
    const r = await s.api('GET', `/api/v1/learners?q=person&email=${encodeURIComponent('list1.odd@lists.example.com')}`);
    assert.deepEqual(r.body.results.map((l) => l.id), [seven[1].id]);
    const paged = await listAll(s, '/api/v1/learners?q=person&limit=2');
    assert.deepEqual(paged.map((l) => l.id), [0, 1, 2, 4, 5, 6].map((i) => seven[i].id));
  });

  it('count=exact', async () => {
    const r = await s.api('GET', '/api/v1/learners?count=exact&limit=1');
    assert.equal(r.body.count, 7);
    assert.equal(r.body.results.length, 1);
  });

  it('group_id / department_id filters are accepted (no memberships yet → empty)', async () => {
    for (const q of ['group_id=grp_01JDQ7ZK3M8X2V5N9R4T6W0Y1B', 'department_id=dep_01JDQ7ZK3M8X2V5N9R4T6W0Y1B']) {
      const r = await s.api('GET', `/api/v1/learners?${q}`);
      expectStatus(r, [200, 400]);
      if (r.status === 200) assert.deepEqual(r.body.results, []);
    }
  });

  it('updated_since lists by (updated_at, id), inclusive, any offset', async () => {
    const current = await listAll(s, '/api/v1/learners');
    const lastCreated = current.map((l) => l.updated_at).sort().at(-1);
    const since = new Date(Date.parse(lastCreated) + 1).toISOString();
    await s.advanceClock(10);
    // Update 4, then 1: order must follow updated_at, not creation.
    const u4 = await s.api('PATCH', `/api/v1/learners/${seven[4].id}`, { body: { firstname: 'Pat4b' } });
    await s.advanceClock(5);
    const u1 = await s.api('PATCH', `/api/v1/learners/${seven[1].id}`, { body: { firstname: 'Pat1b' } });
    expectStatus(u4, 200); expectStatus(u1, 200);
    assert.ok(u4.body.updated_at >= since && u1.body.updated_at > u4.body.updated_at);
    const r = await s.api('GET', `/api/v1/learners?updated_since=${encodeURIComponent(since)}`);
    expectStatus(r, 200);
    assert.deepEqual(r.body.results.map((l) => l.id), [seven[4].id, seven[1].id]);
    // Inclusive: exactly u4's updated_at still lists it.
    const incl = await s.api('GET', `/api/v1/learners?updated_since=${encodeURIComponent(u4.body.updated_at)}`);
    assert.deepEqual(incl.body.results.map((l) => l.id), [seven[4].id, seven[1].id]);
    // Same instant with an offset and extra fractional digits.
    const t = new Date(Date.parse(since) + 2 * 3600e3).toISOString().replace(/\.(\d{3})Z$/, '.$1000000+02:00');
    const off = await s.api('GET', `/api/v1/learners?updated_since=${encodeURIComponent(t)}`);
    expectStatus(off, 200);
    assert.deepEqual(off.body.results.map((l) => l.id), [seven[4].id, seven[1].id]);
    // From the beginning: the untouched ones first (by updated_at, id), then 4, then 1.
    const allBy = await listAll(s, `/api/v1/learners?limit=2&updated_since=${encodeURIComponent('2000-01-01T00:00:00Z')}`);
    const ids = allBy.map((l) => l.id);
    assert.deepEqual(ids.slice(-2), [seven[4].id, seven[1].id]);
    assert.equal(new Set(ids).size, 7);
    for (let i = 1; i < allBy.length; i++) {
      const a = allBy[i - 1], b = allBy[i];
      assert.ok(a.updated_at < b.updated_at || (a.updated_at === b.updated_at && a.id < b.id), 'ordered by (updated_at, id)');
    }
  });

  it('updated_since that is not an RFC 3339 time → 400', async () => {
    for (const v of ['yesterday', '2026-13-01T00:00:00Z', '2026-01-01', '1700000000']) {
      expectProblem(await s.api('GET', `/api/v1/learners?updated_since=${encodeURIComponent(v)}`), 400, 'malformed');
    }
  });

  it('include_deleted accepts true/false only', async () => {
    expectStatus(await s.api('GET', '/api/v1/learners?include_deleted=false'), 200);
    expectStatus(await s.api('GET', '/api/v1/learners?include_deleted=true'), 200);
    expectProblem(await s.api('GET', '/api/v1/learners?include_deleted=maybe'), 400, 'malformed');
  });
});
