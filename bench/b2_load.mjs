// B2 load generator (BENCHMARKS.md): creates learners through the API as fast as the server takes
// them, over a fixed number of keep-alive connections, for a fixed time, and prints one JSON line of
// figures. Driven by bench/run (bench/endtoend.py); measures, never asserts.
//
//   node bench/b2_load.mjs --api http://127.0.0.1:P --key KEY --mode single|bulk
//        [--batch 1000] [--seconds 10] [--warmup-s 1] [--connections 32] [--tag t]
//        [--body-bytes 1024] [--max-learners 1000000]
//
// Closed loop: each connection sends its next request as soon as the previous answer is in, so the
// offered load is whatever the server accepts. `single` POSTs /api/v1/learners (one learner per
// request); `bulk` POSTs /api/v1/learners/bulk with `--batch` learners per request. Every learner has
// its own email, so every one is a create and one `learner.created` event. A custom field pads each
// event envelope to about `--body-bytes` (as B3 does).
//
// The client speaks HTTP/1.1 on plain sockets (node:net) rather than node:http: it shares the cores
// with the server, and node:http cost about 130 µs of CPU per request here (this client about 60 µs),
// half of what the server spends on a create. It needs the `content-length` the server always sends; a response without one
// counts as an error and its connection is replaced.
//
// Time: `--warmup-s` of unmeasured load, then `--seconds` measured; no request starts after the
// measured window, the ones in flight are awaited. A response counts in the window when it arrived
// inside it. The window's ends are also printed as Unix ms (this machine's clock), so the harness can
// count the events the server committed inside it. Bounded: at most `--max-learners` learners, and the
// process exits on its own 60 s after the window.
import net from 'node:net';

const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.indexOf(name);
  return i < 0 ? dflt : argv[i + 1];
}
const API = new URL(opt('--api'));
const KEY = opt('--key');
const MODE = opt('--mode', 'single');
const BATCH = MODE === 'bulk' ? Number(opt('--batch', '1000')) : 1;
const SECONDS = Number(opt('--seconds', '10'));
const WARMUP_S = Number(opt('--warmup-s', '1'));
const CONNECTIONS = Number(opt('--connections', '32'));
const TAG = opt('--tag', String(process.pid));
const BODY_BYTES = Number(opt('--body-bytes', '1024'));
const MAX_LEARNERS = Number(opt('--max-learners', '1000000'));
// Envelope bytes around the custom field for this learner shape (the same figure as b3_load.mjs).
const ENVELOPE_OVERHEAD = 600;
if (!['single', 'bulk'].includes(MODE)) throw new Error(`--mode: single or bulk, not ${MODE}`);

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const pad = 'n'.repeat(Math.max(0, BODY_BYTES - ENVELOPE_OVERHEAD));
const PATH = MODE === 'bulk' ? '/api/v1/learners/bulk' : '/api/v1/learners';
const HEAD = `POST ${PATH} HTTP/1.1\r\nhost: ${API.host}\r\nauthorization: Bearer ${KEY}\r\n`
  + 'content-type: application/json\r\ncontent-length: ';

// One learner's JSON, numbered n (unique in this process; the tag makes it unique across runs).
function learner(n) {
  return `{"email":"b2-${TAG}-${n}@example.com","firstname":"Bench","lastname":"Load${n}",`
    + `"custom_fields":{"notes":"${pad}"}}`;
}

// One keep-alive connection: one request at a time; request() resolves {status, body} (body only
// when `wantBody`) or {error}.
class Conn {
  constructor() {
    this.sock = net.connect({ host: API.hostname, port: Number(API.port) });
    this.sock.setNoDelay(true);
    this.chunks = [];
    this.len = 0;
    this.head = null; // {status, bodyStart, need} once the status line and headers are in
    this.pending = null;
    this.dead = false;
    this.sock.on('data', (d) => this.onData(d));
    const fail = (e) => {
      this.dead = true;
      if (this.pending) this.finish({ error: e?.code ?? 'closed' });
    };
    this.sock.on('error', fail);
    this.sock.on('close', () => fail(null));
  }

  request(body, wantBody) {
    return new Promise((resolve) => {
      this.pending = { resolve, wantBody };
      this.sock.write(`${HEAD}${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  finish(r) {
    const { resolve } = this.pending;
    this.pending = null;
    resolve(r);
  }

  onData(d) {
    this.chunks.push(d);
    this.len += d.length;
    if (!this.pending) return;
    if (!this.head) {
      const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [buf];
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const cl = lines.find((l) => l.toLowerCase().startsWith('content-length:'));
      if (!cl) {
        this.dead = true;
        this.sock.destroy();
        this.finish({ error: 'no-content-length' });
        return;
      }
      this.head = { status: Number(lines[0].split(' ')[1]), bodyStart: end + 4, need: end + 4 + Number(cl.slice(15)) };
    }
    if (this.len < this.head.need) return;
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const { status, bodyStart, need } = this.head;
    const body = this.pending.wantBody ? buf.subarray(bodyStart, need) : null;
    const rest = buf.subarray(need);
    this.chunks = rest.length ? [rest] : [];
    this.len = rest.length;
    this.head = null;
    this.finish({ status, body });
  }

  close() {
    this.sock.destroy();
  }
}

// Times: monotonic µs for durations, Unix ms (Date.now) for the window printed to the harness.
const startUs = nowUs();
const startMs = Date.now();
const fromUs = startUs + WARMUP_S * 1e6;
const toUs = fromUs + SECONDS * 1e6;

let nextLearner = 0;
const m = { requests: 0, created: 0, itemErrors: 0, non2xx: 0, errors: 0 }; // measured window
const all = { requests: 0, created: 0, itemErrors: 0, non2xx: 0, errors: 0 }; // warm-up and tail too
const statuses = {};
const latUs = []; // measured requests: response complete − send
let lastRespUs = startUs;

function bump(key) {
  statuses[key] = (statuses[key] ?? 0) + 1;
}

function count(c, r) {
  c.requests++;
  c.created += r.created;
  c.itemErrors += r.itemErrors;
  if (r.error) c.errors++;
  else if (r.status < 200 || r.status > 299) c.non2xx++;
}

// One request of n learners from number `first`; resolves {status|error, created, itemErrors}.
async function post(conn, first, n) {
  let body;
  if (MODE === 'bulk') {
    const items = [];
    for (let k = 0; k < n; k++) items.push(learner(first + k));
    body = `{"learners":[${items.join(',')}]}`;
  } else {
    body = learner(first);
  }
  const res = await conn.request(body, MODE === 'bulk');
  const r = { ...res, created: 0, itemErrors: 0 };
  if (res.status === 201 && MODE === 'single') r.created = 1;
  else if (res.status === 200 && MODE === 'bulk') {
    for (const item of JSON.parse(res.body.toString('utf8')).results) {
      if (item.status === 201) r.created++;
      else {
        r.itemErrors++;
        bump(`item ${item.status}`);
      }
    }
  }
  return r;
}

// One connection's loop: request after request until the window closes or the learners run out.
async function loop() {
  let conn = new Conn();
  while (nowUs() < toUs && nextLearner < MAX_LEARNERS) {
    if (conn.dead) conn = new Conn();
    const n = Math.min(BATCH, MAX_LEARNERS - nextLearner);
    const first = nextLearner;
    nextLearner += n;
    const sentUs = nowUs();
    const r = await post(conn, first, n);
    const doneUs = nowUs();
    lastRespUs = Math.max(lastRespUs, doneUs);
    bump(r.error ?? r.status);
    count(all, r);
    if (doneUs >= fromUs && doneUs <= toUs) {
      count(m, r);
      latUs.push(doneUs - sentUs);
    }
  }
  conn.close();
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[k];
}

setTimeout(() => {
  process.stderr.write('b2_load: still running 60 s after the window closed; giving up\n');
  process.exit(1);
}, (WARMUP_S + SECONDS + 60) * 1000).unref();

await Promise.all(Array.from({ length: CONNECTIONS }, loop));
latUs.sort((a, b) => a - b);
const ms = (us) => (us === null ? null : us / 1000);
const unixMs = (us) => startMs + (us - startUs) / 1000;
process.stdout.write(`${JSON.stringify({
  mode: MODE, batch: BATCH, connections: CONNECTIONS, seconds: SECONDS, warmup_s: WARMUP_S,
  start_ms: startMs, from_ms: unixMs(fromUs), to_ms: unixMs(toUs), end_ms: unixMs(lastRespUs),
  requests: m.requests, created: m.created, item_errors: m.itemErrors, non2xx: m.non2xx, errors: m.errors,
  total: { requests: all.requests, created: all.created, item_errors: all.itemErrors, non2xx: all.non2xx, errors: all.errors },
  statuses,
  events_per_s: m.created / SECONDS,
  requests_per_s: m.requests / SECONDS,
  capped: nextLearner >= MAX_LEARNERS,
  api_ms: { p50: ms(percentile(latUs, 0.5)), p99: ms(percentile(latUs, 0.99)), max: ms(latUs[latUs.length - 1] ?? null) },
})}\n`);
process.exit(0);
