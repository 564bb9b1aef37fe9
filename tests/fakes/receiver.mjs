// The webhook test receiver: a real, separate HTTP/1.1 process that webhook subscriptions point at.
// It records every request it gets (exact bytes, headers, monotonic and wall-clock receive times, the
// response it gave) and answers the way a test tells it to: a status, a slow answer, no answer at all,
// a redirect, a huge body, a reset connection. Tests drive it through tests/e2e/lib/receiver.mjs.
//
//   node tests/fakes/receiver.mjs [--exit-with-stdin] [--max-records N] [--max-body-bytes N]
//
// Listens on 127.0.0.1, port 0, and prints one line of JSON to stdout, {"port": N}, once listening.
// --exit-with-stdin: exit when stdin closes (the client library passes it, so a receiver never
// outlives the test process, even one killed with SIGKILL).
//
// Control API (JSON, on the same server; these paths are never recorded):
//   POST /__control/mode      {path?, mode}   mode for requests under `path` (or for all when absent);
//                                             mode null = back to the default (200 "ok")
//   GET  /__control/requests?path=&after=     {requests, last_seq, dropped}
//   GET  /__control/wait?count=&path=&after=&settled=1&timeout_ms=
//                                             long poll: 200 {requests, …} as soon as `count` matching
//                                             requests are recorded, 408 with what there is on timeout
//   POST /__control/reset                     forgets every record and mode (sequence numbers go on)
//
// A `path` selects that path and everything below it: "/hook-a" matches "/hook-a", "/hook-a/x" and
// "/hook-a?q", not "/hook-ab". For modes the longest matching path wins, then the global mode.
//
// Modes (exactly one kind per object; unknown keys → 400, so a typo never silently means "200"):
//   {"status": 200, "body"?: "…" | "body_base64"?: "…", "headers"?: {…}, "delay_ms"?: N, "hang_body"?: true}
//        a plain answer (body empty unless given); delay_ms waits before the status line; hang_body
//        sends the status line and headers (with the body's content-length) and then nothing more
//   {"delay_ms": 500, …}           shorthand for the above with status 200
//   {"hang": true}                 never answer; the socket stays open until the client gives up
//   {"sequence": [mode, …]}        one mode per successive request to that path, then the last again
//   {"large_body_bytes": N, "status"?, "headers"?, "delay_ms"?}   an N-byte body of "x", content-length set
//   {"redirect": "http://…", "status"?: 302}                     a redirect with Location
//   {"reset": true}                read the request, then reset the connection (TCP RST), no answer
//   {"close": true}                read the request, then close the connection (FIN), no answer
//   {"raw": "HTTP/1.1 …"}          write these bytes (latin1) as the whole response, then close
//
// A record: {seq, method, path, url, query, http_version, connection, remote_port, headers (lower-case
// names; repeats joined with ", "), raw_headers ([[name, value], …] as sent), body (UTF-8 text),
// body_base64 (the exact bytes), body_bytes, body_truncated, received_us (process.hrtime.bigint() in
// µs when the body was complete; CLOCK_MONOTONIC, comparable with the test process's own),
// received_ms (Date.now()), response: {kind, status, headers, body_bytes, outcome, settled_us}}.
// response.outcome: "pending" (not answered yet: delaying or hanging), "sent" (the whole response
// was written), "client_closed" (the client closed the connection first), "reset" / "closed" (the
// receiver dropped it on purpose). `settled=1` on /wait counts only requests no longer pending.
//
// Memory: at most --max-records records (default 100,000) and --max-body-bytes of stored bodies
// (default 256 MiB); beyond that the oldest are dropped and counted in `dropped`. A request body over
// 16 MiB is stored truncated (body_truncated: true).
import http from 'node:http';

const args = process.argv.slice(2);
function flag(name, dflt) {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const n = Number(args[i + 1]);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer`);
  return n;
}
const MAX_RECORDS = flag('--max-records', 100_000);
const MAX_STORED_BODY_BYTES = flag('--max-body-bytes', 256 * 1024 * 1024);
const MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024;
const CONTROL = '/__control/';
const DEFAULT_WAIT_MS = 10_000;
const MAX_WAIT_MS = 600_000;

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

// ---- state -----------------------------------------------------------------------------------

let seq = 0; // last sequence number handed out; never reset
let records = []; // oldest first
let storedBodyBytes = 0;
let dropped = 0;
/** path ('' = global) → {mode, next}; `next` is the position in a sequence */
let modes = new Map();
/** pending long polls: {path, after, count, settled, have, res, timer} */
const waiters = new Set();
let connectionCounter = 0;

/** Does request path `p` fall under `prefix` (the prefix itself, or below it)? */
function under(p, prefix) {
  if (!prefix) return true;
  if (p === prefix) return true;
  if (!p.startsWith(prefix)) return false;
  return prefix.endsWith('/') || p[prefix.length] === '/';
}

function matches(rec, w) {
  return rec.seq > w.after && under(rec.path, w.path) && (!w.settled || rec.response.outcome !== 'pending');
}

function store(rec) {
  records.push(rec);
  storedBodyBytes += rec.bodyBuf.length;
  let drop = 0;
  while (records.length - drop > MAX_RECORDS || (storedBodyBytes > MAX_STORED_BODY_BYTES && records.length - drop > 1)) {
    storedBodyBytes -= records[drop].bodyBuf.length;
    drop++;
  }
  if (drop) {
    for (const r of records.slice(0, drop)) r.live = false;
    records = records.slice(drop);
    dropped += drop;
  }
}

/** A record changed (arrived, or settled): answer the long polls it completes. */
function notify(rec, settling) {
  for (const w of waiters) {
    // Each waiter counts a record once: on arrival if it does not need settled records, on settling if it does.
    if (w.settled !== settling || !rec.live || !matches(rec, w)) continue;
    if (++w.have >= w.count) finishWait(w, 200);
  }
}

function settle(rec, outcome) {
  if (rec.response.outcome !== 'pending') return;
  rec.response.outcome = outcome;
  rec.response.settled_us = nowUs();
  notify(rec, true);
}

function toJson(rec) {
  const { bodyBuf, live, response, ...rest } = rec;
  return { ...rest, body: bodyBuf.toString('utf8'), body_base64: bodyBuf.toString('base64'), response };
}

function select({ path = '', after = 0, settled = false }) {
  return records.filter((r) => matches(r, { path, after, settled }));
}

// ---- modes -----------------------------------------------------------------------------------

const STATUS_KEYS = new Set(['status', 'body', 'body_base64', 'headers', 'delay_ms', 'hang_body']);
const KINDS = {
  hang: new Set(['hang']),
  sequence: new Set(['sequence']),
  large_body_bytes: new Set(['large_body_bytes', 'status', 'headers', 'delay_ms']),
  redirect: new Set(['redirect', 'status']),
  reset: new Set(['reset']),
  close: new Set(['close']),
  raw: new Set(['raw']),
};

/** Checks a mode object; returns an error message or null. */
function checkMode(m, nested = false) {
  if (m === null || typeof m !== 'object' || Array.isArray(m)) return 'a mode is an object';
  const kinds = Object.keys(KINDS).filter((k) => k in m);
  if (kinds.length > 1) return `one kind per mode, got ${kinds.join(' and ')}`;
  const kind = kinds[0] ?? 'status';
  const allowed = kinds.length ? KINDS[kind] : STATUS_KEYS;
  for (const k of Object.keys(m)) if (!allowed.has(k)) return `unknown key "${k}" for a ${kind} mode`;
  if ('status' in m && !(Number.isInteger(m.status) && m.status >= 200 && m.status <= 599)) return 'status: an integer 200–599 (use raw for anything else)';
  if ('delay_ms' in m && !(Number.isInteger(m.delay_ms) && m.delay_ms >= 0)) return 'delay_ms: a non-negative integer';
  if ('body' in m && typeof m.body !== 'string') return 'body: a string';
  if ('body_base64' in m && typeof m.body_base64 !== 'string') return 'body_base64: a string';
  if ('body' in m && 'body_base64' in m) return 'body or body_base64, not both';
  if ('hang_body' in m && m.hang_body !== true) return 'hang_body: true';
  if ('headers' in m) {
    if (m.headers === null || typeof m.headers !== 'object' || Array.isArray(m.headers)) return 'headers: an object';
    for (const v of Object.values(m.headers)) if (typeof v !== 'string') return 'headers: string values';
  }
  switch (kind) {
    case 'status':
      if (kinds.length === 0 && !('status' in m) && !('delay_ms' in m)) return 'a mode needs status, delay_ms, hang, sequence, large_body_bytes, redirect, reset, close or raw';
      break;
    case 'hang': if (m.hang !== true) return 'hang: true'; break;
    case 'reset': if (m.reset !== true) return 'reset: true'; break;
    case 'close': if (m.close !== true) return 'close: true'; break;
    case 'raw': if (typeof m.raw !== 'string' || m.raw === '') return 'raw: a non-empty string'; break;
    case 'redirect':
      if (typeof m.redirect !== 'string') return 'redirect: a URL string';
      if ('status' in m && !(m.status >= 300 && m.status <= 399)) return 'redirect status: 3xx';
      break;
    case 'large_body_bytes':
      if (!(Number.isSafeInteger(m.large_body_bytes) && m.large_body_bytes >= 0 && m.large_body_bytes <= 1024 ** 3)) return 'large_body_bytes: an integer 0–1 GiB';
      break;
    case 'sequence':
      if (nested) return 'a sequence cannot contain a sequence';
      if (!Array.isArray(m.sequence) || m.sequence.length === 0) return 'sequence: a non-empty array of modes';
      for (const [i, s] of m.sequence.entries()) {
        const e = checkMode(s, true);
        if (e) return `sequence[${i}]: ${e}`;
      }
      break;
    default: break;
  }
  return null;
}

/** The mode for this request (advancing a sequence), or null for the default. */
function modeFor(p) {
  let best = null;
  let bestLen = -1;
  for (const [prefix, entry] of modes) {
    if (prefix.length > bestLen && under(p, prefix)) { best = entry; bestLen = prefix.length; }
  }
  if (!best) return null;
  const m = best.mode;
  if (!m.sequence) return m;
  const step = m.sequence[Math.min(best.next, m.sequence.length - 1)];
  best.next++;
  return step;
}

// ---- recorded requests -------------------------------------------------------------------------

/** The request target as a URL; an odd target (`//x`, `http://[`) is taken as a path, never thrown on. */
function parseTarget(target) {
  try {
    if (target.startsWith('/') && !target.startsWith('//')) return new URL(target, 'http://receiver');
  } catch { /* below */ }
  const q = target.indexOf('?');
  return { pathname: q < 0 ? target : target.slice(0, q), searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
}

function lowerHeaders(h = {}) {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Writes headers + body, after `delay_ms`, unless the client has gone. */
function answer(res, rec, { status, headers, body, delayMs = 0, hangBody = false }) {
  rec.response.status = status;
  rec.response.headers = headers;
  rec.response.body_bytes = body.length;
  const go = () => {
    if (res.destroyed) return;
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    if (hangBody) { res.flushHeaders(); return; }
    if (body.length <= 65536) { res.end(body); return; }
    // Big bodies go out with backpressure, so a client that stops reading does not fill memory.
    let off = 0;
    const pump = () => {
      while (off < body.length && !res.destroyed) {
        const chunk = body.subarray(off, off + 65536);
        off += chunk.length;
        if (off >= body.length) { res.end(chunk); return; }
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
    };
    pump();
  };
  if (delayMs > 0) {
    const t = setTimeout(go, delayMs);
    res.once('close', () => clearTimeout(t));
  } else go();
}

function respond(req, res, rec) {
  const m = modeFor(rec.path) ?? { status: 200, body: 'ok' };
  const r = rec.response;
  res.once('finish', () => settle(rec, 'sent'));
  res.once('close', () => settle(rec, res.writableFinished ? 'sent' : 'client_closed'));
  if (m.hang) { r.kind = 'hang'; return; }
  if (m.reset) { r.kind = 'reset'; settle(rec, 'reset'); req.socket.resetAndDestroy(); return; }
  if (m.close) { r.kind = 'close'; settle(rec, 'closed'); req.socket.destroy(); return; }
  if (m.raw !== undefined) {
    r.kind = 'raw';
    r.body_bytes = Buffer.byteLength(m.raw, 'latin1');
    settle(rec, 'sent');
    req.socket.end(Buffer.from(m.raw, 'latin1'));
    return;
  }
  if (m.redirect !== undefined) {
    r.kind = 'redirect';
    answer(res, rec, { status: m.status ?? 302, headers: { location: m.redirect }, body: Buffer.alloc(0) });
    return;
  }
  if (m.large_body_bytes !== undefined) {
    r.kind = 'large_body';
    const headers = { 'content-type': 'text/plain', ...lowerHeaders(m.headers) };
    answer(res, rec, { status: m.status ?? 200, headers, body: Buffer.alloc(m.large_body_bytes, 'x'), delayMs: m.delay_ms });
    return;
  }
  r.kind = 'status';
  const status = m.status ?? 200;
  let body = m.body_base64 !== undefined ? Buffer.from(m.body_base64, 'base64') : Buffer.from(m.body ?? '', 'utf8');
  if (status === 204 || status === 304) body = Buffer.alloc(0); // no body allowed
  const headers = body.length ? { 'content-type': 'text/plain; charset=utf-8', ...lowerHeaders(m.headers) } : lowerHeaders(m.headers);
  answer(res, rec, { status, headers, body, delayMs: m.delay_ms, hangBody: m.hang_body });
}

function record(req, res) {
  const chunks = [];
  let size = 0;
  let truncated = false;
  req.on('data', (d) => {
    if (size + d.length > MAX_REQUEST_BODY_BYTES) { truncated = true; d = d.subarray(0, MAX_REQUEST_BODY_BYTES - size); }
    if (d.length) { chunks.push(d); size += d.length; }
  });
  req.on('end', () => {
    const receivedUs = nowUs();
    const u = parseTarget(req.url);
    const rawHeaders = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    const rec = {
      seq: ++seq,
      method: req.method,
      path: u.pathname,
      url: req.url,
      query: Object.fromEntries(u.searchParams),
      http_version: req.httpVersion,
      connection: req.socket.lwConnection,
      remote_port: req.socket.remotePort,
      headers: { ...req.headers },
      raw_headers: rawHeaders,
      bodyBuf: Buffer.concat(chunks, size),
      body_bytes: size,
      body_truncated: truncated,
      received_us: receivedUs,
      received_ms: Date.now(),
      response: { kind: null, status: null, headers: {}, body_bytes: 0, outcome: 'pending', settled_us: null },
      live: true, // false once dropped or reset away (a late settle then counts for nobody)
    };
    store(rec);
    notify(rec, false);
    respond(req, res, rec);
  });
}

// ---- control API -----------------------------------------------------------------------------

function sendJson(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length) });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') { resolve({}); return; }
      try { resolve(JSON.parse(text)); } catch (e) { reject(new Error(`invalid JSON: ${e.message}`)); }
    });
    req.on('error', reject);
  });
}

/** Reads path/after/settled from a query string; throws on nonsense. */
function selection(q) {
  const path = q.get('path') ?? '';
  if (path && !path.startsWith('/')) throw new Error('path must start with /');
  const after = q.has('after') ? Number(q.get('after')) : 0;
  if (!Number.isSafeInteger(after) || after < 0) throw new Error('after: a sequence number');
  const settled = ['1', 'true'].includes(q.get('settled') ?? '');
  return { path, after, settled };
}

function finishWait(w, status) {
  waiters.delete(w);
  clearTimeout(w.timer);
  if (w.res.destroyed) return;
  sendJson(w.res, status, { requests: select(w).map(toJson), count: w.count, last_seq: seq, dropped });
}

async function control(req, res, u) {
  const route = `${req.method} ${u.pathname}`;
  try {
    if (route === 'POST /__control/mode') {
      const b = await readJson(req);
      const path = b.path ?? '';
      if (typeof path !== 'string' || (path && !path.startsWith('/'))) throw new Error('path: a string starting with /');
      if (!('mode' in b)) throw new Error('mode: required (null = the default)');
      if (b.mode === null) { modes.delete(path); sendJson(res, 200, { ok: true }); return; }
      const err = checkMode(b.mode);
      if (err) throw new Error(err);
      modes.set(path, { mode: b.mode, next: 0 });
      sendJson(res, 200, { ok: true });
      return;
    }
    if (route === 'GET /__control/requests') {
      sendJson(res, 200, { requests: select(selection(u.searchParams)).map(toJson), last_seq: seq, dropped });
      return;
    }
    if (route === 'GET /__control/wait') {
      const sel = selection(u.searchParams);
      const count = Number(u.searchParams.get('count') ?? '1');
      if (!Number.isSafeInteger(count) || count < 1) throw new Error('count: a positive integer');
      const timeoutMs = Number(u.searchParams.get('timeout_ms') ?? DEFAULT_WAIT_MS);
      if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_WAIT_MS) throw new Error(`timeout_ms: 0–${MAX_WAIT_MS}`);
      const w = { ...sel, count, have: select(sel).length, res, timer: null };
      if (w.have >= count) { finishWait(w, 200); return; }
      waiters.add(w);
      w.timer = setTimeout(() => finishWait(w, 408), timeoutMs);
      res.once('close', () => { waiters.delete(w); clearTimeout(w.timer); });
      return;
    }
    if (route === 'POST /__control/reset') {
      await readJson(req);
      for (const r of records) r.live = false;
      records = [];
      storedBodyBytes = 0;
      dropped = 0;
      modes = new Map();
      // A long poll in progress counts again from here.
      for (const w of waiters) w.have = 0;
      sendJson(res, 200, { ok: true, last_seq: seq });
      return;
    }
    sendJson(res, 404, { error: `no control route ${route}` });
  } catch (e) {
    sendJson(res, 400, { error: e.message });
  }
}

// ---- server ----------------------------------------------------------------------------------

const server = http.createServer({
  keepAlive: true, // TCP keep-alive on accepted sockets; HTTP keep-alive is on by default
  keepAliveTimeout: 30_000, // idle connections stay open for reuse by the sender's pool
  requestTimeout: 0, // never answer on our own: every response is the mode's
}, (req, res) => {
  const u = parseTarget(req.url);
  if (u.pathname.startsWith(CONTROL)) control(req, res, u);
  else record(req, res);
});
server.on('connection', (sock) => { sock.lwConnection = ++connectionCounter; });
// A client that sends garbage or vanishes mid-request must not take the receiver down.
server.on('clientError', (err, sock) => {
  if (err.code === 'ECONNRESET' || !sock.writable) { sock.destroy(); return; }
  sock.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
});

// A bug in here must not take the receiver down in the middle of a test run: say so and go on.
process.on('uncaughtException', (e) => { process.stderr.write(`receiver: ${e.stack}\n`); });

function shutdown() {
  for (const w of waiters) finishWait(w, 408);
  server.close();
  server.closeAllConnections(); // releases hanging requests
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (args.includes('--exit-with-stdin')) {
  process.stdin.on('end', shutdown).on('close', shutdown).on('error', shutdown);
  process.stdin.resume();
}

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
