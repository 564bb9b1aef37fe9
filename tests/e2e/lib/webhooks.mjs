// Helpers for the webhook suites (tests/e2e/webhooks-*.test.mjs): subscriptions, polling the
// audit list with a deadline, checking signatures by hand (node:crypto) the way a receiver would
// (WEBHOOKS.md §3), and restarting a server on the database of one that was stopped or killed.
import { createHmac, createPublicKey, verify as verifySignature } from 'node:crypto';
import net from 'node:net';
import { expectStatus, startServer } from './server.mjs';
import { verifyStandardWebhook } from './receiver.mjs';

/** `serve` flags that let subscriptions point at the local receiver (http://127.0.0.1:PORT). */
export const LOCAL_RECEIVER_ARGS = ['--allowed-private-networks', '127.0.0.0/8'];

/** A short pause for bounded polls only (never to wait for something that can be awaited). */
const tick = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One organization of a server, as a small client: `api(method, path, opts)` with its key,
 * `orgId`, `key`, `keyId`. Tests give each scenario its own organization, so a subscription of one
 * test never receives the events of another.
 */
export function orgClient(s, i) {
  const o = s.orgs[i];
  if (!o) throw new Error(`the server has no organization #${i} (start it with orgs: ${i + 1} or more)`);
  return { ...o, server: s, api: (method, p, opts = {}) => s.api(method, p, { key: o.key, ...opts }) };
}

let pathCounter = 0;
/** A receiver path no other test uses. */
export function uniquePath(label = 'hook') {
  return `/${label}-${process.pid}-${++pathCounter}`;
}

/** POST /webhooks expecting 201; returns the body (with `secret`). */
export async function createWebhook(c, body) {
  const r = await c.api('POST', '/api/v1/webhooks', { body });
  expectStatus(r, 201);
  return r.body;
}

/** A learner body unique to this process. */
let learnerCounter = 0;
export function learnerBody(overrides = {}) {
  const n = `${Date.now().toString(36)}.${process.pid}.${++learnerCounter}`;
  return { email: `wh.${n}@example.com`, firstname: `Web${learnerCounter}`, lastname: `Hook${learnerCounter}`, ...overrides };
}

/**
 * Creates a learner through the API (`opts` go to api(), e.g. another `key`); returns
 * {learner, event}: the learner and its learner.created envelope as GET /events/{id} shows it.
 */
export async function createLearnerWithEvent(c, overrides = {}, opts = {}) {
  const r = await c.api('POST', '/api/v1/learners', { body: learnerBody(overrides), ...opts });
  expectStatus(r, 201);
  const all = [];
  let url = '/api/v1/events?type=learner.created&limit=500';
  for (let i = 0; url && i < 100; i++) {
    const page = await c.api('GET', url);
    expectStatus(page, 200);
    all.push(...page.body.results);
    url = page.body.next;
  }
  const event = all.filter((e) => e.data.id === r.body.id).at(-1);
  if (!event) throw new Error(`no learner.created event for ${r.body.id} in GET /events`);
  return { learner: r.body, event };
}

/**
 * Polls `GET path` (a bounded loop of short waits: for state the API records after the receiver
 * already saw the request) until `pred(body)` holds; resolves the body. Throws with the last body.
 */
export async function pollApi(c, p, pred, { timeoutMs = 10000, what = p } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    const r = await c.api('GET', p);
    expectStatus(r, 200);
    last = r.body;
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: the condition did not hold within ${timeoutMs} ms; last: ${JSON.stringify(last).slice(0, 3000)}`);
    await tick(20);
  }
}

/** GET /deliveries/{id} until `pred(delivery)` holds. */
export function waitForDelivery(c, id, pred, opts = {}) {
  return pollApi(c, `/api/v1/deliveries/${id}`, pred, { what: `delivery ${id}`, ...opts });
}

/** GET /webhooks/{id} until `pred(webhook)` holds. */
export function waitForWebhook(c, id, pred, opts = {}) {
  return pollApi(c, `/api/v1/webhooks/${id}`, pred, { what: `webhook ${id}`, ...opts });
}

/** Every item of a list path (following `next`), with the client's key. */
export async function listAllWebhooks(c, p) {
  const out = [];
  let url = p;
  for (let i = 0; url && i < 100; i++) {
    const r = await c.api('GET', url);
    expectStatus(r, 200);
    out.push(...r.body.results);
    url = r.body.next;
  }
  return out;
}

/** Every delivery of a subscription (all pages, newest first), with optional query filters. */
export async function deliveriesOf(c, webhookId, query = {}) {
  const q = new URLSearchParams({ limit: '500', ...query });
  let url = `/api/v1/webhooks/${webhookId}/deliveries?${q}`;
  const out = [];
  for (let i = 0; url && i < 100; i++) {
    const r = await c.api('GET', url);
    expectStatus(r, 200);
    out.push(...r.body.results);
    url = r.body.next;
  }
  return out;
}

/** Polls the subscription's delivery list until `pred(list)` holds; resolves the list. */
export async function waitForDeliveries(c, webhookId, pred, { timeoutMs = 10000, query = {} } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = await deliveriesOf(c, webhookId, query);
    if (pred(list)) return list;
    if (Date.now() > deadline) throw new Error(`deliveries of ${webhookId}: the condition did not hold within ${timeoutMs} ms; last: ${JSON.stringify(list).slice(0, 3000)}`);
    await tick(20);
  }
}

/** The one delivery of `eventId` to `webhookId` (waits until it is listed). */
export async function deliveryFor(c, webhookId, eventId, opts = {}) {
  const list = await waitForDeliveries(c, webhookId, (l) => l.some((d) => d.event_id === eventId), opts);
  return list.find((d) => d.event_id === eventId);
}

// ---- signatures, by hand ---------------------------------------------------------------------

/** The exact bytes of a recorded body. */
export function bodyBytes(request) {
  return request.body_base64 !== undefined ? Buffer.from(request.body_base64, 'base64') : Buffer.from(request.body, 'utf8');
}

/** The key of a `whsec_` secret: its base64-decoded part. */
export function secretKey(secret) {
  return Buffer.from(secret.slice('whsec_'.length), 'base64');
}

/** `v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>` for this secret. */
export function expectedSignature(secret, request) {
  const h = request.headers;
  const signed = Buffer.concat([Buffer.from(`${h['webhook-id']}.${h['webhook-timestamp']}.`, 'utf8'), bodyBytes(request)]);
  return `v1,${createHmac('sha256', secretKey(secret)).update(signed).digest('base64')}`;
}

/**
 * verifyStandardWebhook (the Standard Webhooks reference library) as a receiver whose clock reads
 * `nowMs` would run it (default: the request's own webhook-timestamp, i.e. a receiver on the
 * server's manual clock). The library checks the timestamp against Date.now(), which is swapped
 * for the duration of this synchronous call only.
 */
export function verifyStandardWebhookAt(secret, request, nowMs = Number(request.headers['webhook-timestamp']) * 1000) {
  const realNow = Date.now;
  Date.now = () => nowMs;
  try {
    return verifyStandardWebhook(secret, request);
  } finally {
    Date.now = realNow;
  }
}

/** The space-separated items of `webhook-signature`. */
export function signaturesOf(request) {
  const v = request.headers['webhook-signature'];
  return typeof v === 'string' ? v.split(' ') : [];
}

/**
 * Whether `sig` ("v1a,<base64>") is an Ed25519 signature of "{webhook-id}.{webhook-timestamp}.{body}"
 * by the key `publicKey` ("whpk_…"), checked with Node's own implementation (node:crypto).
 */
export function ed25519SignatureOk(publicKey, request, sig) {
  if (!sig.startsWith('v1a,')) return false;
  const raw = Buffer.from(publicKey.slice('whpk_'.length), 'base64');
  // SPKI DER of an Ed25519 key: a fixed 12-byte prefix (RFC 8410) and the 32 key bytes.
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw]), format: 'der', type: 'spki' });
  const signed = Buffer.concat([Buffer.from(`${request.headers['webhook-id']}.${request.headers['webhook-timestamp']}.`), bodyBytes(request)]);
  return verifySignature(null, signed, key, Buffer.from(sig.slice(4), 'base64'));
}

/** Whether a `whsec_` secret is as WEBHOOKS.md §1 says: standard base64 with padding of 24–64 bytes. */
export function isWellFormedSecret(secret) {
  if (typeof secret !== 'string') return false;
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  if (!m || m[1].length % 4 !== 0) return false;
  const raw = Buffer.from(m[1], 'base64');
  return raw.length >= 24 && raw.length <= 64 && raw.toString('base64') === m[1];
}

/** A URL to a local TCP port that nothing listens on (bound, then closed). */
export async function closedPortUrl(p = '/closed') {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return `http://127.0.0.1:${port}${p}`;
}

/** Unix seconds of a server time (ms) or an ISO string. */
export const unixSeconds = (t) => Math.floor((typeof t === 'string' ? Date.parse(t) : t) / 1000);

/** The server's current clock (ms) of a manual-clock server, without moving it. */
export async function serverNow(s) {
  return s.advanceClock(0);
}

// ---- restarting on the same database ---------------------------------------------------------

/**
 * Starts a new `learnwire-testing serve` on the database of `old` (stopped by a signal sent to
 * `old.proc` directly, NOT by old.stop(), which deletes the database), with `args` as its only
 * extra flags (startServer's `data` option). Resolves the new server, with the old organizations;
 * call `old.stop()` after the new one's stop() to delete the database.
 */
export async function restartOnSameDb(old, { args = [] } = {}) {
  // `old` has exited (the test killed it); a new process runs on its database and organizations,
  // and its events are checked at stop like any other server's.
  return startServer({ args, data: { dir: old.dir, db: old.db, orgs: old.orgs } });
}

/** The event ids of `requests` in arrival order, with repeats in a row (retries) collapsed. */
export function collapsedOrder(requests) {
  const ids = [...requests].sort((a, b) => Number(a.received_us) - Number(b.received_us)).map((r) => r.headers['webhook-id']);
  return ids.filter((id, i) => i === 0 || ids[i - 1] !== id);
}

/** The most requests that were open at once (received, not yet answered) among `requests`. */
export function maxOverlap(requests) {
  const edges = [];
  for (const r of requests) {
    edges.push([Number(r.received_us), 1], [Number(r.response.settled_us), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // an answer before an arrival at the same µs
  let open = 0;
  let most = 0;
  for (const [, d] of edges) {
    open += d;
    most = Math.max(most, open);
  }
  return most;
}
