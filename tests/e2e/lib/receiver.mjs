// The client side of the webhook test receiver (tests/fakes/receiver.mjs): starts it as a separate
// process, tells it how to answer, reads what it received, and checks webhook signatures
// (WEBHOOKS.md §3) the way a receiver would.
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import readline from 'node:readline';
import { Webhook } from 'standardwebhooks';

export const RECEIVER_SCRIPT = fileURLToPath(new URL('../../fakes/receiver.mjs', import.meta.url));
const START_TIMEOUT_MS = 10000;
const CONTROL_TIMEOUT_MS = 10000;

const children = new Set();
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

/** One line per record (the newest `max`), for error messages. */
function summarize(recs, max = 30) {
  const lines = recs.slice(-max).map((r) => {
    const body = r.body.length > 120 ? `${r.body.slice(0, 120)}…` : r.body;
    const answer = r.response.status === null ? r.response.kind : `${r.response.kind} ${r.response.status}`;
    return `  #${r.seq} ${r.method} ${r.url} → ${answer} (${r.response.outcome}) ${JSON.stringify(body)}`;
  });
  if (recs.length > max) lines.unshift(`  … ${recs.length - max} earlier`);
  return lines.length ? lines.join('\n') : '  (none)';
}

/** Adds `json`: the body parsed, or undefined when it is not JSON. */
function withJson(r) {
  let json;
  try { json = JSON.parse(r.body); } catch { json = undefined; }
  return { ...r, json };
}

/**
 * Starts a receiver process on 127.0.0.1 (a free port). Options:
 *   maxRecords: how many records it keeps (default 100,000; the oldest are dropped beyond that)
 * Resolves an object:
 *   port, baseUrl, proc
 *   url(path = '/hook')                → 'http://127.0.0.1:PORT/hook'
 *   setMode(path, mode)                → how requests under `path` are answered (path null = every
 *                                        path without its own mode; mode null = back to 200 "ok").
 *                                        Modes: {status, body?, headers?, delay_ms?}, {hang: true},
 *                                        {delay_ms, status}, {sequence: [mode, …]},
 *                                        {large_body_bytes, status?}, {redirect: url}, {reset: true},
 *                                        and the extras in tests/fakes/receiver.mjs
 *   requests(path?, {after, settled}?) → the records, oldest first (see receiver.mjs for the fields;
 *                                        each also has `json`, the body parsed)
 *   waitFor(count, {path, after, settled, timeoutMs = 15000}?)
 *                                      → resolves the records (≥ count) as soon as `count` requests under
 *                                        `path` (after sequence number `after`) have arrived — or, with
 *                                        `settled: true`, have also been answered or given up on by the
 *                                        client; throws, listing what arrived, on timeout
 *   reset()                            → forgets records and modes
 *   stop()                             → stops the process (releasing hanging requests); resolves {code, signal}
 * A `path` selects that path and everything below it ('/hook-a' matches '/hook-a/x', not '/hook-ab').
 */
export async function startReceiver({ maxRecords } = {}) {
  const args = [RECEIVER_SCRIPT, '--exit-with-stdin'];
  if (maxRecords) args.push('--max-records', String(maxRecords));
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); }));

  const port = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stdout });
    const fail = (e) => { clearTimeout(timer); proc.kill('SIGKILL'); reject(new Error(`receiver: ${e.message}\nstderr:\n${stderr}`)); };
    const timer = setTimeout(() => fail(new Error(`no {"port": N} line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    rl.once('line', (line) => {
      clearTimeout(timer);
      try {
        const p = JSON.parse(line).port;
        if (!Number.isInteger(p) || p <= 0) throw new Error(`bad port line: ${line}`);
        resolve(p);
      } catch (e) { fail(e); }
    });
    proc.on('error', fail);
    exited.then(({ code, signal }) => fail(new Error(`exited before listening (code ${code}, signal ${signal})`)));
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  // A test file that forgets stop() still ends: the child does not keep the event loop alive, and
  // the exit hook (or, failing that, the closed stdin pipe) takes it down.
  proc.unref();
  for (const s of [proc.stdin, proc.stdout, proc.stderr]) s.unref();

  /** A control call; resolves {status, body}. */
  async function control(method, p, body, timeoutMs = CONTROL_TIMEOUT_MS) {
    let res;
    try {
      res = await fetch(baseUrl + p, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const dead = proc.exitCode !== null || proc.signalCode !== null ? ` (the receiver has exited: code ${proc.exitCode}, signal ${proc.signalCode})\nstderr:\n${stderr}` : '';
      throw new Error(`receiver ${method} ${p}: ${e.message} ${e.cause ? `(${e.cause.code || e.cause.message})` : ''}${dead}`);
    }
    const text = await res.text();
    let parsed;
    try { parsed = JSON.parse(text); } catch { throw new Error(`receiver ${method} ${p}: ${res.status}, not JSON: ${text.slice(0, 500)}`); }
    if (res.status !== 200 && res.status !== 408) throw new Error(`receiver ${method} ${p}: ${res.status} ${parsed.error ?? text}`);
    return { status: res.status, body: parsed };
  }

  function query({ path, after, settled, ...more } = {}) {
    const q = new URLSearchParams();
    if (path) q.set('path', path);
    if (after) q.set('after', String(after));
    if (settled) q.set('settled', '1');
    for (const [k, v] of Object.entries(more)) q.set(k, String(v));
    return q.toString();
  }

  let stopped = null;
  const receiver = {
    port,
    baseUrl,
    proc,
    url(path = '/hook') { return baseUrl + path; },
    async setMode(path, mode) {
      await control('POST', '/__control/mode', path ? { path, mode } : { mode });
    },
    async requests(path, { after, settled } = {}) {
      const r = await control('GET', `/__control/requests?${query({ path, after, settled })}`);
      return r.body.requests.map(withJson);
    },
    async waitFor(count, { path, after, settled, timeoutMs = 15000 } = {}) {
      const r = await control('GET', `/__control/wait?${query({ path, after, settled, count, timeout_ms: timeoutMs })}`, undefined, timeoutMs + CONTROL_TIMEOUT_MS);
      if (r.status === 200) return r.body.requests.map(withJson);
      const what = `${count} ${settled ? 'settled ' : ''}request(s) to ${path ?? 'any path'}${after ? ` after #${after}` : ''}`;
      let msg = `receiver: expected ${what} within ${timeoutMs} ms, got ${r.body.requests.length}:\n${summarize(r.body.requests)}`;
      if (path) {
        const others = (await control('GET', '/__control/requests')).body.requests.filter((x) => !r.body.requests.some((y) => y.seq === x.seq));
        msg += `\nother requests it has:\n${summarize(others)}`;
      }
      throw new Error(msg);
    },
    async reset() { await control('POST', '/__control/reset', {}); },
    stop({ timeoutMs = 5000 } = {}) {
      if (!stopped) {
        stopped = (async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
          const r = await exited;
          clearTimeout(timer);
          return r;
        })();
      }
      return stopped;
    },
  };
  return receiver;
}

/** The exact bytes of a recorded body. */
function bodyBytes(request) {
  return request.body_base64 !== undefined ? Buffer.from(request.body_base64, 'base64') : Buffer.from(request.body, 'utf8');
}

/**
 * Verifies a recorded request's `webhook-*` headers with the Standard Webhooks reference library
 * (`secret`: `whsec_…`) and returns the parsed payload; throws (WebhookVerificationError) on failure.
 * Note: the library also rejects a `webhook-timestamp` more than 5 minutes from this machine's clock.
 */
export function verifyStandardWebhook(secret, request) {
  return new Webhook(secret).verify(bodyBytes(request), request.headers);
}

/**
 * Whether `x-learnwire-signature` is `sha256=<hex(HMAC-SHA256(key, body))>` for the `whsec_…` secret
 * (key = its base64-decoded part), compared in constant time. False when the header is missing or malformed.
 */
export function legacySignatureOk(secret, request) {
  if (typeof secret !== 'string' || !secret.startsWith('whsec_')) throw new Error(`not a whsec_ secret: ${secret}`);
  const header = request.headers['x-learnwire-signature'];
  if (typeof header !== 'string') return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header);
  if (!m) return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(bodyBytes(request)).digest();
  return timingSafeEqual(Buffer.from(m[1], 'hex'), expected);
}
