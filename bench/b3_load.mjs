// B3 load generator (BENCHMARKS.md): creates learners through the API at a steady rate, records when
// each 201 arrived, then asks the webhook receiver (tests/fakes/receiver.mjs) when each delivery came
// in and prints one JSON line of figures. Driven by bench/run; measures, never asserts.
//
//   node bench/b3_load.mjs --api http://127.0.0.1:P --key KEY --receiver http://127.0.0.1:R --path /b3
//        [--rate 1000] [--seconds 30] [--warmup-s 1] [--sockets 4] [--tag t] [--body-bytes 1024]
//
// Requests are scheduled by absolute time (start + i / rate), never "sleep after send", so a slow
// answer does not lower the offered rate; the achieved rate is reported. Times are
// process.hrtime.bigint() in µs (CLOCK_MONOTONIC), the receiver's clock too. The time of a request
// is when its response's status line and headers arrived. Warm-up requests are sent the same way
// before the measured ones and left out of every figure.
import http from 'node:http';

const argv = process.argv.slice(2);
function opt(name, dflt) {
  const i = argv.indexOf(name);
  return i < 0 ? dflt : argv[i + 1];
}
const API = new URL(opt('--api'));
const KEY = opt('--key');
const RECEIVER = new URL(opt('--receiver'));
const PATH = opt('--path', '/b3');
const RATE = Number(opt('--rate', '1000'));
const SECONDS = Number(opt('--seconds', '30'));
const WARMUP_S = Number(opt('--warmup-s', '1'));
const SOCKETS = Number(opt('--sockets', '4'));
const TAG = opt('--tag', String(process.pid));
const BODY_BYTES = Number(opt('--body-bytes', '1024'));
// Envelope bytes around the custom field for this learner shape, found by measuring one real event:
// the padding below makes the event envelope about BODY_BYTES long.
const ENVELOPE_OVERHEAD = 600;

const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const agent = new http.Agent({ keepAlive: true, maxSockets: SOCKETS });
const WARM = Math.round(WARMUP_S * RATE);
const MEASURED = Math.round(SECONDS * RATE);
const TOTAL = WARM + MEASURED;
const intervalUs = 1e6 / RATE;
const pad = 'n'.repeat(Math.max(0, BODY_BYTES - ENVELOPE_OVERHEAD));

const byLearner = new Map(); // learner id → {i, resp_us}
const apiUs = []; // measured requests: response − send, µs
const statuses = {};
let errors = 0;
let answered = 0;
let maxLagUs = 0; // how late a send left compared with its schedule
let firstSendUs = null;
let lastSendUs = null;
let lastRespUs = null;

function send(i, scheduledUs) {
  const sentUs = nowUs();
  maxLagUs = Math.max(maxLagUs, sentUs - scheduledUs);
  if (i === WARM) firstSendUs = sentUs;
  if (i >= WARM) lastSendUs = sentUs;
  const body = JSON.stringify({
    email: `b3-${TAG}-${i}@example.com`, firstname: 'Bench', lastname: `Latency${i}`,
    custom_fields: { notes: pad },
  });
  const req = http.request({
    agent, host: API.hostname, port: API.port, method: 'POST', path: '/api/v1/learners',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  }, (res) => {
    const respUs = nowUs();
    const chunks = [];
    res.on('data', (d) => chunks.push(d));
    res.on('end', () => {
      answered++;
      statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      if (res.statusCode === 201) {
        const id = JSON.parse(Buffer.concat(chunks).toString('utf8')).id;
        byLearner.set(id, { i, respUs });
      } else errors++;
      if (i >= WARM) {
        apiUs.push(respUs - sentUs);
        lastRespUs = Math.max(lastRespUs ?? 0, respUs);
      }
      if (answered === TOTAL) allAnswered();
    });
  });
  req.on('error', (e) => {
    answered++;
    errors++;
    statuses[e.code ?? 'error'] = (statuses[e.code ?? 'error'] ?? 0) + 1;
    if (answered === TOTAL) allAnswered();
  });
  req.end(body);
}

const startUs = nowUs() + 20_000;
let next = 0;
function tick() {
  const now = nowUs();
  while (next < TOTAL && startUs + next * intervalUs <= now) {
    send(next, startUs + next * intervalUs);
    next++;
  }
  if (next < TOTAL) {
    const waitMs = Math.max(0, (startUs + next * intervalUs - nowUs()) / 1000);
    setTimeout(tick, Math.floor(waitMs));
  }
}
setTimeout(tick, 10);

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        try { resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }); } catch (e) { reject(e); }
      });
    }).on('error', reject);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[k];
}

async function allAnswered() {
  agent.destroy();
  const created = byLearner.size;
  // Every created learner's delivery, or what there is after the timeout (the receiver answers 408
  // with what it has).
  const u = new URL('/__control/wait', RECEIVER);
  u.searchParams.set('count', String(created));
  u.searchParams.set('path', PATH);
  u.searchParams.set('timeout_ms', '20000');
  const { body } = await getJson(u);
  const seen = new Set();
  const lat = [];
  let duplicates = 0;
  let unknown = 0;
  const bodyBytes = [];
  for (const rec of body.requests) {
    bodyBytes.push(rec.body_bytes);
    let id;
    try { id = JSON.parse(rec.body).data.id; } catch { unknown++; continue; }
    const sent = byLearner.get(id);
    if (!sent) { unknown++; continue; }
    if (seen.has(id)) { duplicates++; continue; }
    seen.add(id);
    if (sent.i >= WARM) lat.push(rec.received_us - sent.respUs);
  }
  let measuredCreated = 0;
  let missing = 0;
  for (const [id, s] of byLearner) {
    if (s.i < WARM) continue;
    measuredCreated++;
    if (!seen.has(id)) missing++;
  }
  lat.sort((a, b) => a - b);
  apiUs.sort((a, b) => a - b);
  const ms = (us) => (us === null ? null : us / 1000);
  const out = {
    offered: MEASURED,
    created: measuredCreated,
    errors,
    statuses,
    send_window_s: (lastSendUs - firstSendUs) / 1e6,
    offered_rate: (MEASURED - 1) / ((lastSendUs - firstSendUs) / 1e6),
    achieved_rate: measuredCreated / ((lastRespUs - firstSendUs) / 1e6),
    max_send_lag_ms: maxLagUs / 1000,
    matched: lat.length,
    missing,
    duplicates,
    unknown_records: unknown,
    negative: lat.filter((x) => x < 0).length,
    body_bytes: bodyBytes.sort((a, b) => a - b)[bodyBytes.length >> 1] ?? null,
    latency_ms: {
      min: ms(lat[0] ?? null), p50: ms(percentile(lat, 0.5)), p90: ms(percentile(lat, 0.9)),
      p99: ms(percentile(lat, 0.99)), p999: ms(percentile(lat, 0.999)), max: ms(lat[lat.length - 1] ?? null),
    },
    api_ms: { p50: ms(percentile(apiUs, 0.5)), p99: ms(percentile(apiUs, 0.99)), max: ms(apiUs[apiUs.length - 1] ?? null) },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}
