// Rate limits per API key (API.md "Rate limits") and for failed authentication.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus } from './lib/server.mjs';

describe('rate limit per key (--rate-limit-per-key 2, burst 4)', () => {
  let s;
  before(async () => { s = await startServer({ args: ['--rate-limit-per-key', '2'] }); });
  after(async () => { await s?.stop(); });

  it('x-ratelimit-limit 2, remaining decreasing, the 5th quick request → 429 with Retry-After', async () => {
    const rs = [];
    for (let i = 0; i < 6; i++) rs.push(await s.api('GET', '/api/v1/learners'));
    const statuses = rs.map((r) => r.status);
    assert.deepEqual(statuses.slice(0, 4), [200, 200, 200, 200], JSON.stringify(statuses));
    for (const r of rs.slice(0, 4)) assert.equal(r.headers.get('x-ratelimit-limit'), '2');
    const remaining = rs.slice(0, 4).map((r) => Number(r.headers.get('x-ratelimit-remaining')));
    assert.deepEqual(remaining, [3, 2, 1, 0], `remaining: ${remaining}`);
    expectProblem(rs[4], 429, 'rate-limited');
    const ra = Number(rs[4].headers.get('retry-after'));
    assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 2, `Retry-After: ${rs[4].headers.get('retry-after')}`);
    assert.equal(rs[4].headers.get('x-ratelimit-limit'), '2');
    assert.equal(rs[4].headers.get('x-ratelimit-remaining'), '0');
    expectProblem(rs[5], 429, 'rate-limited');
  });

  it('another key has its own bucket', async () => {
    const k = await s.createKey(['read']);
    const r = await s.api('GET', '/api/v1/learners', { key: k.key });
    expectStatus(r, 200);
    assert.equal(r.headers.get('x-ratelimit-remaining'), '3');
  });

  it('after Retry-After the key is served again', async () => {
    let r;
    for (let i = 0; i < 6; i++) r = await s.api('GET', '/api/v1/learners');
    expectProblem(r, 429, 'rate-limited');
    const wait = Number(r.headers.get('retry-after'));
    assert.ok(wait >= 1, `Retry-After ${wait}`);
    await s.advanceClock(wait * 1000);
    expectStatus(await s.api('GET', '/api/v1/learners'), 200);
  });

  it('public endpoints are not limited per key', async () => {
    for (let i = 0; i < 8; i++) expectStatus(await s.api('GET', '/healthz', { key: null }), 200);
  });
});

describe('rate limit configured by environment (LEARNWIRE_RATE_LIMIT_PER_KEY=3)', () => {
  let s;
  before(async () => { s = await startServer({ env: { LEARNWIRE_RATE_LIMIT_PER_KEY: '3' } }); });
  after(async () => { await s?.stop(); });

  it('x-ratelimit-limit is 3 and the burst is 6', async () => {
    const rs = [];
    for (let i = 0; i < 7; i++) rs.push(await s.api('GET', '/api/v1/learners'));
    assert.equal(rs[0].headers.get('x-ratelimit-limit'), '3');
    assert.equal(rs[0].headers.get('x-ratelimit-remaining'), '5');
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200, 200, 429]);
  });
});

describe('rate limiting off (--rate-limit-per-key 0)', () => {
  let s;
  before(async () => { s = await startServer({ args: ['--rate-limit-per-key', '0'] }); });
  after(async () => { await s?.stop(); });

  it('no x-ratelimit headers and no 429', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await s.api('GET', '/api/v1/learners');
      expectStatus(r, 200);
      assert.equal(r.headers.get('x-ratelimit-limit'), null);
      assert.equal(r.headers.get('x-ratelimit-remaining'), null);
    }
  });
});

describe('failed authentication limit', () => {
  let s;
  before(async () => { s = await startServer(); });
  after(async () => { await s?.stop(); });

  it('more than 20 failed authentications a minute from one address → 429 with Retry-After', async () => {
    const statuses = [];
    let last;
    for (let i = 0; i < 22; i++) {
      last = await s.api('GET', '/api/v1/learners', { key: `lw_${'0'.repeat(26)}_${'a'.repeat(43)}` });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses.slice(0, 20), Array(20).fill(401), JSON.stringify(statuses));
    expectProblem(last, 429, 'rate-limited');
    assert.ok(Number(last.headers.get('retry-after')) >= 1);
  });
});
