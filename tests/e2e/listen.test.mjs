// The integrator tools (PRODUCT.md "The CLI"): `learnwire listen` as the receiver of real
// deliveries from a running server (204 when verified, 401 otherwise, one line per request), and
// `learnwire verify` on requests the test receiver captured byte for byte.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { BIN, startServer, runCli, expectStatus } from './lib/server.mjs';
import { startReceiver } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveryFor,
  waitForDelivery, bodyBytes, closedPortUrl,
} from './lib/webhooks.mjs';

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// Listeners never outlive the test process, even one that fails before its `after` hook.
const listenProcs = new Set();
process.on('exit', () => { for (const p of listenProcs) { try { p.kill('SIGKILL'); } catch { /* gone */ } } });

/**
 * Runs `learnwire listen --port 0 …args` (the production binary, on the wall clock) and resolves
 * once it printed its address: {url(path), lines (stdout so far), waitForLines(n), stop()}.
 */
async function startListen(args) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LEARNWIRE_')));
  const proc = spawn(BIN, ['listen', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  listenProcs.add(proc);
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { listenProcs.delete(proc); resolve({ code, signal }); }));
  const lines = [];
  const waiters = new Set();
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  let stderr = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`listen printed no address within 10 s:\n${stderr}`)), 10000);
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(stderr);
      if (m && m[2] !== '0') { clearTimeout(timer); resolve(m[1]); }
    });
    exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`listen exited with ${code}:\n${stderr}`)); });
  });
  return {
    lines,
    stderr: () => stderr,
    url: (p = '/hook') => base + p,
    /** Resolves the lines once there are `n` (or throws, listing them, after `timeoutMs`). */
    waitForLines(n, { timeoutMs = 15000 } = {}) {
      if (lines.length >= n) return Promise.resolve(lines.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`listen: expected ${n} line(s), got:\n${lines.join('\n')}`)); }, timeoutMs);
        function check() {
          if (lines.length >= n) { clearTimeout(timer); waiters.delete(check); resolve(lines.slice()); }
        }
        waiters.add(check);
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

/** `{url, active: false}` first, since the listener needs the secret or key the server makes. */
async function pointAt(c, webhook, url) {
  expectStatus(await c.api('PATCH', `/api/v1/webhooks/${webhook.id}`, { body: { url, active: true } }), 200);
}

/** The parsed text line `<time> <type> <event id> attempt=<n> <verdict>`. */
function parseLine(line) {
  const m = /^(\S+) (\S+) (\S+) attempt=(\S+) (\S+)$/.exec(line);
  assert.ok(m, `not a listen line: ${JSON.stringify(line)}`);
  return { time: m[1], type: m[2], eventId: m[3], attempt: m[4], verdict: m[5] };
}

describe('learnwire listen', () => {
  let s;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  const listeners = [];
  const listen = async (args) => { const l = await startListen(args); listeners.push(l); return l; };
  before(async () => { s = await startServer({ orgs: 5, args: LOCAL_RECEIVER_ARGS }); });
  after(async () => { await Promise.all([s?.stop(), ...listeners.map((l) => l.stop('SIGKILL'))]); });

  it('verifies a real hmac delivery (204, an ok line) and refuses one signed with another secret (401, bad-signature)', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'listen', url: await closedPortUrl(), active: false });
    const l = await listen(['--secret', w.secret]);
    await pointAt(c, w, l.url('/good'));
    const other = await createWebhook(c, { name: 'other secret', url: l.url('/other') });
    assert.notEqual(other.secret, w.secret);
    const { event } = await createLearnerWithEvent(c);
    const lines = (await l.waitForLines(2)).map(parseLine);
    const ok = lines.filter((x) => x.verdict === 'ok');
    const bad = lines.filter((x) => x.verdict === 'bad-signature');
    assert.equal(ok.length, 1, lines.map((x) => JSON.stringify(x)).join('\n'));
    assert.equal(bad.length, 1, lines.map((x) => JSON.stringify(x)).join('\n'));
    for (const x of lines) {
      assert.match(x.time, RFC3339_UTC);
      assert.ok(Math.abs(Date.parse(x.time) - Date.now()) < 60000, x.time);
      assert.equal(x.type, 'learner.created');
      assert.equal(x.eventId, event.id);
      assert.equal(x.attempt, '1');
    }
    // The server recorded the listener's answers.
    const d = await waitForDelivery(c, (await deliveryFor(c, w.id, event.id)).id, (x) => x.state === 'succeeded');
    assert.equal(d.attempts.length, 1);
    assert.equal(d.attempts[0].status, 204);
    const d2 = await waitForDelivery(c, (await deliveryFor(c, other.id, event.id)).id, (x) => x.attempts.length >= 1);
    assert.equal(d2.attempts[0].status, 401);
    assert.notEqual(d2.state, 'succeeded');
    // Stops on SIGTERM with 0, and never prints the secret.
    assert.deepEqual(await l.stop('SIGTERM'), { code: 0, signal: null });
    assert.ok(!l.lines.join('\n').includes(w.secret.slice(6)) && !l.stderr().includes(w.secret.slice(6)));
  });

  it('--json: one object per line with the event; requests without headers are missing-headers (401)', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'json', url: await closedPortUrl(), active: false });
    const l = await listen(['--secret', w.secret, '--json']);
    await pointAt(c, w, l.url('/json'));
    const { event } = await createLearnerWithEvent(c);
    const [line] = await l.waitForLines(1);
    const rec = JSON.parse(line);
    const d = await deliveryFor(c, w.id, event.id);
    assert.deepEqual(Object.keys(rec).sort(), ['attempt', 'delivery_id', 'event', 'event_id', 'ok', 'time', 'type']);
    assert.match(rec.time, RFC3339_UTC);
    assert.equal(rec.type, 'learner.created');
    assert.equal(rec.event_id, event.id);
    assert.equal(rec.attempt, 1);
    assert.equal(rec.delivery_id, d.id);
    assert.equal(rec.ok, true);
    assert.deepEqual(rec.event, event);
    // Not a webhook at all: 401, and a line saying why.
    const res = await fetch(l.url('/json'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"made.up"}' });
    assert.equal(res.status, 401);
    const [, second] = await l.waitForLines(2);
    const r2 = JSON.parse(second);
    assert.equal(r2.ok, false);
    assert.equal(r2.reason, 'missing-headers');
    assert.equal(r2.type, 'made.up');
    assert.equal(r2.event_id, null);
    assert.equal(r2.attempt, null);
    assert.deepEqual(r2.event, { type: 'made.up' });
    assert.equal(l.lines.length, 2, 'one line per request');
  });

  it('ed25519: --public-key verifies the v1a signature of a real delivery', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'ed', url: await closedPortUrl(), active: false, signature_scheme: 'ed25519' });
    assert.match(w.public_key, /^whpk_/);
    const l = await listen(['--public-key', w.public_key]);
    await pointAt(c, w, l.url('/ed'));
    const { event } = await createLearnerWithEvent(c);
    const [line] = await l.waitForLines(1);
    const x = parseLine(line);
    assert.deepEqual([x.type, x.eventId, x.attempt, x.verdict], ['learner.created', event.id, '1', 'ok']);
    const d = await waitForDelivery(c, (await deliveryFor(c, w.id, event.id)).id, (x) => x.state === 'succeeded');
    assert.equal(d.attempts[0].status, 204);
  });

  it('bad usage exits 2 with one line; a port in use exits 1', async () => {
    const neither = await runCli(['listen', '--port', '0']);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /--secret.*--public-key/);
    const bad = await runCli(['listen', '--port', '0', '--secret', 'whsec_c2VjcmV0']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.ok(!bad.stderr.includes('c2VjcmV0'), 'the secret is not printed');
    const taken = new URL(s.baseUrl).port;
    const busy = await runCli(['listen', '--port', taken, '--secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw']);
    assert.equal(busy.code, 1, busy.stderr);
  });

  // Last: it moves the server's clock, which would make later deliveries stale too.
  it('a delivery whose webhook-timestamp is over 5 minutes from now is refused as stale-timestamp', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'stale', url: await closedPortUrl(), active: false });
    const l = await listen(['--secret', w.secret, '--json']);
    await pointAt(c, w, l.url('/stale'));
    await s.advanceClock(10 * 60 * 1000);
    const { event } = await createLearnerWithEvent(c);
    const rec = JSON.parse((await l.waitForLines(1))[0]);
    assert.equal(rec.event_id, event.id);
    assert.equal(rec.ok, false);
    assert.equal(rec.reason, 'stale-timestamp');
    const d = await waitForDelivery(c, (await deliveryFor(c, w.id, event.id)).id, (x) => x.attempts.length >= 1);
    assert.equal(d.attempts[0].status, 401);
  });
});

describe('learnwire verify', () => {
  let s, rx, dir;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 4, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
    dir = mkdtempSync(path.join(tmpdir(), 'learnwire-verify-'));
  });
  after(async () => {
    await Promise.all([s?.stop(), rx?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let files = 0;
  /** Saves a captured request as the two files `verify` reads: the headers as sent, the body bytes. */
  function save(req, body = bodyBytes(req)) {
    const n = ++files;
    const headers = path.join(dir, `headers-${n}.txt`);
    const bodyFile = path.join(dir, `body-${n}.json`);
    const lines = [`${req.method} ${req.url} HTTP/1.1`, ...req.raw_headers.map(([k, v]) => `${k}: ${v}`)];
    writeFileSync(headers, `${lines.join('\r\n')}\r\n\r\n`);
    writeFileSync(bodyFile, body);
    return { headers, body: bodyFile };
  }

  /** Creates a learner and resolves the request the receiver captured at `p`. */
  async function capture(c, p) {
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    return req;
  }

  const verify = (args, f) => runCli(['verify', ...args, '--headers', f.headers, '--body', f.body]);

  it('hmac: a captured delivery is valid; a tampered body or another secret is invalid; key options are usage errors', async () => {
    const c = nextOrg();
    const p = uniquePath('verify-hmac');
    const w = await createWebhook(c, { name: 'verify', url: rx.url(p) });
    const other = await createWebhook(c, { name: 'unused', url: rx.url(uniquePath('unused')), active: false });
    const req = await capture(c, p);
    const f = save(req);

    const good = await verify(['--secret', w.secret], f);
    assert.equal(good.code, 0, good.stderr);

    const tampered = save(req, Buffer.concat([bodyBytes(req), Buffer.from(' ')]));
    const t = await verify(['--secret', w.secret], tampered);
    assert.equal(t.code, 1);
    assert.equal(t.stderr.trim().split('\n').length, 1, t.stderr);
    assert.match(t.stderr, /bad-signature/);

    const wrong = await verify(['--secret', other.secret], f);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /bad-signature/);

    for (const args of [[], ['--secret', w.secret, '--public-key', 'whpk_AAAA']]) {
      const r = await verify(args, f);
      assert.equal(r.code, 2, `${args}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    const malformed = await verify(['--secret', `${w.secret}x`], f);
    assert.equal(malformed.code, 2);
    assert.ok(!malformed.stderr.includes(w.secret.slice(6)), 'the secret is not printed');
    const unreadable = await verify(['--secret', w.secret], { headers: path.join(dir, 'absent'), body: f.body });
    assert.equal(unreadable.code, 2);
    assert.match(unreadable.stderr, /--headers/);

    // A request without its signature header: invalid, naming the header.
    const headersOnly = path.join(dir, 'no-signature.txt');
    writeFileSync(headersOnly, req.raw_headers.filter(([k]) => k.toLowerCase() !== 'webhook-signature').map(([k, v]) => `${k}: ${v}\n`).join(''));
    const missing = await verify(['--secret', w.secret], { headers: headersOnly, body: f.body });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /webhook-signature/);
  });

  it('ed25519: --public-key verifies a captured delivery; another key does not', async () => {
    const c = nextOrg();
    const p = uniquePath('verify-ed');
    const w = await createWebhook(c, { name: 'ed', url: rx.url(p), signature_scheme: 'ed25519' });
    const other = await createWebhook(c, { name: 'ed2', url: rx.url(uniquePath('unused')), active: false, signature_scheme: 'ed25519' });
    const f = save(await capture(c, p));
    const good = await verify(['--public-key', w.public_key], f);
    assert.equal(good.code, 0, good.stderr);
    const wrong = await verify(['--public-key', other.public_key], f);
    assert.equal(wrong.code, 1);
  });

  it('checks the signature only, not the age: a request timestamped an hour away is still valid', async () => {
    const c = nextOrg();
    const p = uniquePath('verify-old');
    const w = await createWebhook(c, { name: 'old', url: rx.url(p) });
    await s.advanceClock(60 * 60 * 1000);
    const req = await capture(c, p);
    assert.ok(Math.abs(Number(req.headers['webhook-timestamp']) - Date.now() / 1000) > 3000);
    const r = await verify(['--secret', w.secret], save(req));
    assert.equal(r.code, 0, r.stderr);
  });
});
