// Several nodes on one PostgreSQL (ARCHITECTURE.md "One binary, three roles"): two `--role api`
// and two `--role worker` processes of the production binary share one database and coordinate
// through it alone. Events are created through both API nodes while a reader pages GET /events;
// one worker is killed with SIGKILL mid-flight. Every event must reach the receiver; a delivery may
// be sent twice only when the dead worker's lease ran out (attempt timeout + 10 s after its claim),
// and the test reports how many were. Also: what a worker serves, the roles SQLite refuses, and a
// revoked key refused by every node within a second.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, expectStatus, allEvents, runCli, DB_KIND } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import { LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, learnerBody, deliveriesOf, verifyStandardWebhookAt, maxOverlap, collapsedOrder } from './lib/webhooks.mjs';

const ATTEMPT_TIMEOUT_S = 2;
const LEASE_MS = (ATTEMPT_TIMEOUT_S + 10) * 1000;
const LEARNERS = 240;
const NODE_ARGS = [...LOCAL_RECEIVER_ARGS, '--attempt-timeout-s', String(ATTEMPT_TIMEOUT_S)];

const tick = (ms) => new Promise((r) => setTimeout(r, ms));

/** The sum of a Prometheus counter's samples (all label sets). */
async function counterTotal(node, name) {
  const text = await (await fetch(`${node.baseUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('roles on SQLite', () => {
  for (const role of ['api', 'worker']) {
    it(`--role ${role} with a SQLite database exits 2, saying PostgreSQL is needed`, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'learnwire-role-'));
      try {
        const r = await runCli(['serve', '--role', role, '--db', `sqlite:${path.join(dir, 'lw.db')}`, '--listen', '127.0.0.1:0']);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /PostgreSQL/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('two API nodes and two workers on one PostgreSQL', { skip: DB_KIND !== 'postgres' && 'needs PostgreSQL (E2E_DB=postgres)' }, () => {
  let api1, api2, w1, w2, w3, rx, data;
  before(async () => {
    [api1, rx] = await Promise.all([startServer({ clock: 'system', args: [...NODE_ARGS, '--role', 'api'] }), startReceiver()]);
    data = { dir: api1.dir, db: api1.db, orgs: api1.orgs };
    [api2, w1, w2] = await Promise.all([
      startServer({ clock: 'system', data, args: [...NODE_ARGS, '--role', 'api'] }),
      startServer({ clock: 'system', data, args: [...NODE_ARGS, '--role', 'worker'] }),
      startServer({ clock: 'system', data, args: [...NODE_ARGS, '--role', 'worker'] }),
    ]);
  });
  after(async () => {
    // The database goes with the last node to stop; workers serve no events to check.
    await Promise.all([w1, w2, w3].map((w) => w?.stop('SIGTERM', { keepData: true, checkEvents: false })));
    await api2?.stop('SIGTERM', { keepData: true });
    await api1?.stop();
    await rx?.stop();
  });

  it('a worker serves health and metrics only', async () => {
    for (const p of ['/healthz', '/readyz', '/metrics']) {
      assert.equal((await fetch(w1.baseUrl + p)).status, 200, p);
    }
    for (const p of ['/api/v1/learners', '/api/v1/events', '/api/v1/webhooks', '/openapi.json']) {
      const res = await fetch(w1.baseUrl + p, { headers: { authorization: `Bearer ${api1.key}` } });
      assert.equal(res.status, 404, `${p} on a worker`);
    }
  });

  it('events made through both API nodes all reach the receiver though a worker is killed mid-flight; only expired leases are sent twice', async () => {
    const c1 = orgClient(api1, 0);
    const c2 = orgClient(api2, 0);
    const p = uniquePath('multinode');
    await rx.setMode(p, { status: 200, delay_ms: 300 }); // slow enough that each worker has many in flight
    const w = await createWebhook(c1, { name: 'warehouse', url: rx.url(p), event_types: ['learner.created'] });

    // A reader follows GET /events?after= on one node while both nodes commit: it must skip nothing.
    const seenByReader = new Set();
    let readerAfter = null;
    let writing = true;
    const readOnce = async () => {
      const q = readerAfter ? `?after=${readerAfter}&limit=100` : '?limit=100';
      const r = await c1.api('GET', `/api/v1/events${q}`);
      expectStatus(r, 200);
      for (const e of r.body.results) if (e.type === 'learner.created') seenByReader.add(e.id);
      if (r.body.results.length) readerAfter = r.body.results.at(-1).id;
      return r.body.results.length;
    };
    const reader = (async () => {
      while (writing) { await readOnce(); await tick(5); }
      while (await readOnce() > 0) { /* catch up */ }
    })();

    // Writes through both API nodes, eight at a time.
    const created = [];
    let next = 0;
    const writer = async () => {
      while (next < LEARNERS) {
        const i = next++;
        const client = i % 2 ? c2 : c1;
        const r = await client.api('POST', '/api/v1/learners', { body: learnerBody({ email: `multi.${i}.${process.pid}@example.com` }) });
        expectStatus(r, 201);
        created.push(r.body.id);
      }
    };
    const writers = Promise.all(Array.from({ length: 8 }, writer));

    // Mid-way, with attempts in flight on both workers, one worker dies.
    await rx.waitFor(40, { path: p, timeoutMs: 30_000 });
    const w1Attempts = await counterTotal(w1, 'learnwire_webhook_attempts_total');
    w1.proc.kill('SIGKILL');
    await w1.exited;
    const killedAt = Date.now();
    await writers;
    writing = false;
    await reader;

    const events = await allEvents(api2, { key: api2.key, type: 'learner.created' });
    assert.equal(events.length, LEARNERS, 'every learner.created is in GET /events');
    const wanted = new Set(events.map((e) => e.id));
    const missedByReader = [...wanted].filter((id) => !seenByReader.has(id));
    assert.deepEqual(missedByReader, [], 'GET /events?after= skipped events committed through the other node');

    // Every delivery ends succeeded: the survivor takes the dead worker's work once its leases run
    // out (some of it had reached the receiver already, unrecorded: those are sent again).
    const deadline = Date.now() + LEASE_MS + 45_000;
    for (;;) {
      const open = (await deliveriesOf(c1, w.id)).filter((d) => d.state !== 'succeeded');
      if (open.length === 0) break;
      if (Date.now() > deadline) assert.fail(`${open.length} deliveries never succeeded, e.g. ${open.slice(0, 5).map((d) => `${d.id}: ${d.state}`).join(', ')}`);
      await tick(500);
    }
    const requests = await rx.requests(p, { settled: true });
    const arrived = new Set(requests.map((r) => r.headers['webhook-id']));
    assert.deepEqual([...wanted].filter((id) => !arrived.has(id)), [], 'events that never reached the receiver');
    assert.equal(arrived.size, LEARNERS, 'the receiver got an event GET /events does not list');
    const w2Attempts = await counterTotal(w2, 'learnwire_webhook_attempts_total');
    assert.ok(w1Attempts > 0, 'the killed worker had recorded attempts: both workers were claiming');
    assert.ok(w2Attempts > 0, 'the surviving worker recorded attempts');
    for (const a of [api1, api2]) {
      assert.equal(await counterTotal(a, 'learnwire_webhook_attempts_total'), 0, 'an API node claimed and attempted deliveries');
    }

    // Duplicates: only deliveries the dead worker had in flight, sent again after its lease ran out.
    const byId = new Map();
    for (const r of requests) {
      const id = r.headers['webhook-id'];
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id).push(r);
    }
    const twice = [...byId.entries()].filter(([, rs]) => rs.length > 1);
    for (const [id, rs] of twice) {
      assert.equal(rs.length, 2, `${id} was sent ${rs.length} times`);
      const [first, second] = rs.sort((a, b) => a.received_ms - b.received_ms);
      assert.ok(first.received_ms <= killedAt, `${id}: a duplicate whose first send came after the kill`);
      // The lease was taken just before the first send and runs LEASE_MS on the database clock;
      // the second send comes after it ran out (1 s allowed for the clocks of two processes).
      assert.ok(second.received_ms - first.received_ms >= LEASE_MS - 1000,
        `${id}: sent again ${second.received_ms - first.received_ms} ms after the first send, before the lease (${LEASE_MS} ms) could run out`);
    }
    console.log(`multi-node test: ${LEARNERS} events through 2 API nodes, delivered by 2 workers (one SIGKILLed after ${w1Attempts} attempts); ${requests.length} requests, ${twice.length} sent twice (leases of the killed worker that ran out)`);

    for (const r of requests.slice(0, 20)) assert.ok(verifyStandardWebhookAt(w.secret, r), 'signature');
    assert.equal(new Set(created).size, LEARNERS);
  });

  it('an ordered subscription: one delivery at a time across both workers, in commit order, under retries', async () => {
    const c1 = orgClient(api1, 0);
    const c2 = orgClient(api2, 0);
    const p = uniquePath('ordered-multi');
    // Two live workers again (the test above killed one).
    w3 = await startServer({ clock: 'system', data, args: [...NODE_ARGS, '--role', 'worker'] });
    // The third and the sixth requests fail: each head is retried (1 s later) before anything behind it.
    await rx.setMode(p, { sequence: [{ status: 200 }, { status: 200 }, { status: 503 }, { status: 200 }, { status: 200 }, { status: 500 }, { status: 200, delay_ms: 30 }] });
    const w = await createWebhook(c1, { name: 'ordered', url: rx.url(p), ordered: true, event_types: ['learner.created'], retry_policy: { schedule: 'custom', delays_s: [1, 1, 1], jitter: 0 } });
    // Events committed through both API nodes, some at the same time.
    const made = [];
    for (let i = 0; i < 6; i++) {
      made.push(...await Promise.all([c1, c2].map(async (c) => {
        const r = await c.api('POST', '/api/v1/learners', { body: learnerBody() });
        expectStatus(r, 201);
        return r.body.id;
      })));
    }
    const got = await rx.waitFor(14, { path: p, settled: true, timeoutMs: 30_000 });
    const events = (await allEvents(api1, { key: api1.key, type: 'learner.created' }));
    const mine = new Set(got.map((r) => r.headers['webhook-id']));
    const order = events.map((e) => e.id).filter((id) => mine.has(id));
    assert.equal(order.length, 12, 'every event of this test reached the receiver');
    assert.deepEqual(collapsedOrder(got), order, 'arrivals are not in commit order');
    assert.equal(maxOverlap(got), 1, 'two deliveries of an ordered subscription were open at once');
    const done = await deliveriesOf(c1, w.id);
    assert.equal(done.filter((d) => d.state === 'succeeded').length, 12);
    const attempts = [w2, w3].map((n) => counterTotal(n, 'learnwire_webhook_attempts_total'));
    console.log(`ordered on 2 workers: ${got.length} requests, attempts recorded per worker so far ${(await Promise.all(attempts)).join(', ')}`);
  });

  it('a key revoked through one API node is refused by the other within a second', async () => {
    const c1 = orgClient(api1, 0);
    const made = await c1.api('POST', '/api/v1/api-keys', { body: { name: 'short-lived', scopes: ['read'] } });
    expectStatus(made, 201);
    const key = made.body.key;
    // The other node has it in its cache…
    expectStatus(await api2.api('GET', '/api/v1/learners?limit=1', { key }), 200);
    expectStatus(await c1.api('DELETE', `/api/v1/api-keys/${made.body.id}`), 204);
    // …and refuses it a second later.
    await tick(1100);
    const r = await api2.api('GET', '/api/v1/learners?limit=1', { key });
    assert.equal(r.status, 401, `a revoked key still works on the other node after 1.1 s: ${r.status}`);
  });
});
