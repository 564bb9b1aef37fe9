// Starts a real `learnwire serve` on a free port with a fresh SQLite database, and talks to it.
// Every response received through `api()` is checked against api/openapi.json.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import net from 'node:net';
import Ajv2020 from 'ajv/dist/2020.js';
import { REPO_ROOT, conformance, matchPath, operation, doc, checkSchema } from './openapi.mjs';

export { validate, checkSchema, conformance, doc, OPENAPI_PATH as OPENAPI_FILE } from './openapi.mjs';

export const BIN = process.env.E2E_LEARNWIRE_BIN || path.join(REPO_ROOT, 'build', 'learnwire');
// The same program with a clock that stands still until a test moves it (tests/fakes): the
// default for servers here, so no test sleeps to wait for time to pass.
export const TESTING_BIN = process.env.E2E_LEARNWIRE_TESTING_BIN || path.join(REPO_ROOT, 'build', 'learnwire-testing');
const START_TIMEOUT_MS = Number(process.env.E2E_START_TIMEOUT_MS || 20000);
const CLI_TIMEOUT_MS = 20000;

const children = new Set();
process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

function assertBinary() {
  for (const [bin, name] of [[BIN, 'E2E_LEARNWIRE_BIN'], [TESTING_BIN, 'E2E_LEARNWIRE_TESTING_BIN']]) {
    if (!existsSync(bin)) throw new Error(`binary not found at ${bin} (build it, or set ${name})`);
  }
}

// The environment without a developer's LEARNWIRE_* settings (the binary refuses unknown ones).
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LEARNWIRE_')));
}

/** Runs the CLI (the production binary unless `bin` says otherwise); resolves {code, stdout, stderr}. */
export function runCli(args, { env = {}, timeoutMs = CLI_TIMEOUT_MS, bin = BIN } = {}) {
  assertBinary();
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`learnwire ${args.join(' ')}: timed out\n${stderr}`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); children.delete(child); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); children.delete(child); resolve({ code, stdout, stderr }); });
  });
}

/** Runs a `--json` CLI command and returns its one line of JSON. */
export async function cliJson(args, opts) {
  const r = await runCli([...args, '--json'], opts);
  if (r.code !== 0) throw new Error(`learnwire ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new Error(`learnwire ${args.join(' ')} --json: expected exactly one line on stdout, got ${lines.length}: ${r.stdout}`);
  return JSON.parse(lines[0]);
}

/** `lw_<id>_<secret>` → `key_<id>` */
export function keyIdOf(key) {
  const m = /^lw_([0-9A-HJKMNP-TV-Z]{26})_[0-9A-Za-z]{43}$/.exec(key);
  if (!m) throw new Error(`not an API key: ${key}`);
  return `key_${m[1]}`;
}

let orgCounter = 0;

/**
 * The backend every server of this run uses: E2E_DB=postgres puts each server on a fresh database
 * of the cluster named by LEARNWIRE_TEST_PG_URL (scripts/test starts one); otherwise SQLite files.
 */
export const DB_KIND = process.env.E2E_DB === 'postgres' ? 'postgres' : 'sqlite';
let dbCounter = 0;

function psql(url, sql) {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`psql: ${sql}: ${err}`))));
  });
}

async function newDatabase(dir) {
  if (DB_KIND !== 'postgres') return `sqlite:${path.join(dir, 'learnwire.db')}`;
  const admin = process.env.LEARNWIRE_TEST_PG_URL;
  if (!admin) throw new Error('E2E_DB=postgres needs LEARNWIRE_TEST_PG_URL (scripts/pg start DIR prints one)');
  const name = `lw_e2e_${process.pid}_${++dbCounter}`;
  await psql(admin, `CREATE DATABASE ${name}`);
  return admin.replace(/\/[^/?]*(\?.*)?$/, (_, q) => `/${name}${q ?? ''}`);
}

async function dropDatabase(db) {
  if (!db.startsWith('postgres')) return;
  const name = /\/([^/?]+)(\?.*)?$/.exec(db)[1];
  await psql(process.env.LEARNWIRE_TEST_PG_URL, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
}

/**
 * Starts a server. Options:
 *   orgs:  number of organizations to create before starting (default 1)
 *   args:  extra `serve` flags, e.g. ['--rate-limit-per-key', '2']
 *   env:   extra environment variables (e.g. LEARNWIRE_RATE_LIMIT_PER_KEY)
 *   clock: 'manual' (default: learnwire-testing, moved with server.advanceClock(ms)) or
 *          'system' (the production binary, learnwire, on the wall clock)
 *   data:  {dir, db, orgs} of an earlier server, to run on its database (server.restart() does
 *          this); no organization is created then
 * Unless args or env set the rate limit, the server runs with a high one (10,000/s) so that tests
 * which make many quick requests are not throttled (the headers still show).
 */
export async function startServer({ orgs = 1, args = [], env = {}, clock = 'manual', data = null } = {}) {
  assertBinary();
  const bin = clock === 'system' ? BIN : TESTING_BIN;
  const dir = data ? data.dir : mkdtempSync(path.join(tmpdir(), 'learnwire-e2e-'));
  const db = data ? data.db : await newDatabase(dir);
  // Keep the server's environment clean of a developer's LEARNWIRE_* settings.
  const baseEnv = cleanEnv();
  const childEnv = { ...baseEnv, ...env };
  const organizations = data ? [...data.orgs] : [];
  for (let i = 0; i < (data ? 0 : orgs); i++) {
    const n = ++orgCounter;
    const o = await cliJson(['org', 'create', '--name', `E2E Org ${n}`, '--admin-email', `admin${n}.${process.pid}@example.com`, '--db', db], { env: childEnv, bin });
    for (const k of ['organization_id', 'admin_email', 'admin_password', 'api_key']) {
      if (typeof o[k] !== 'string') throw new Error(`org create --json: missing ${k}: ${JSON.stringify(o)}`);
    }
    organizations.push({ orgId: o.organization_id, key: o.api_key, keyId: keyIdOf(o.api_key), adminEmail: o.admin_email, adminPassword: o.admin_password });
  }

  const serveArgs = ['serve', '--db', db, '--listen', '127.0.0.1:0', '--log-format', 'json', ...args];
  const rateSet = args.includes('--rate-limit-per-key') || 'LEARNWIRE_RATE_LIMIT_PER_KEY' in env;
  if (!rateSet) serveArgs.push('--rate-limit-per-key', '10000');
  const proc = spawn(bin, serveArgs, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  children.add(proc);
  const logs = [];
  const logWaiters = new Set();
  let stdout = '';
  proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { children.delete(proc); resolve({ code, signal }); }));

  const listen = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: proc.stderr });
    const timer = setTimeout(() => { fail(new Error(`learnwire serve did not log "listening" within ${START_TIMEOUT_MS} ms`)); }, START_TIMEOUT_MS);
    let done = false;
    function fail(e) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      proc.kill('SIGKILL');
      e.message += `\nargs: ${serveArgs.join(' ')}\nstderr:\n${logs.slice(-30).join('\n')}\nstdout:\n${stdout.slice(-2000)}`;
      reject(e);
    }
    rl.on('line', (line) => {
      logs.push(line);
      for (const w of [...logWaiters]) w(line);
      if (done) return;
      let rec;
      try { rec = JSON.parse(line); } catch { return; }
      if (rec && rec.msg === 'listening' && typeof rec.listen === 'string') {
        done = true;
        clearTimeout(timer);
        resolve(rec.listen);
      }
    });
    proc.on('error', fail);
    exited.then(({ code, signal }) => fail(new Error(`learnwire serve exited early (code ${code}, signal ${signal})`)));
  });
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m || m[2] === '0') throw new Error(`bad listen address in log: ${listen}`);
  const host = m[1].replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let stopped = null;
  const server = {
    baseUrl, host, port, dir, db, proc, logs, env: childEnv,
    orgs: organizations,
    orgId: organizations[0]?.orgId,
    key: organizations[0]?.key,
    keyId: organizations[0]?.keyId,
    exited,
    /**
     * Sends SIGTERM (or `signal`) and resolves {code, signal} once the process exits. Before the
     * signal (unless it is SIGKILL or `checkEvents` is false), while the server still runs, every
     * event of each known organization is checked against api/event-types.json (validateEvent);
     * a mismatch rejects, so the test that produced the event fails.
     */
    stop(signal = 'SIGTERM', { timeoutMs = 15000, checkEvents = signal !== 'SIGKILL', keepData = false } = {}) {
      if (!stopped) {
        stopped = (async () => {
          const running = () => proc.exitCode === null && proc.signalCode === null;
          const eventProblemsFound = checkEvents && running() ? await checkStoredEvents(server) : [];
          if (running()) proc.kill(signal);
          const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
          const r = await exited;
          clearTimeout(timer);
          if (!keepData) {
            try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
            await dropDatabase(db);
          }
          if (eventProblemsFound.length) {
            throw new Error(`events produced by this server do not match api/event-types.json (checked at stop):\n  - ${eventProblemsFound.slice(0, 20).join('\n  - ')}${eventProblemsFound.length > 20 ? `\n  … and ${eventProblemsFound.length - 20} more` : ''}`);
          }
          return r;
        })();
      }
      return stopped;
    },
    /** `learnwire key create` against this server's database while it runs. */
    async createKey(scopes, orgId = organizations[0].orgId) {
      const r = await cliJson(['key', 'create', '--org', orgId, '--scopes', scopes.join(','), '--db', db], { env: childEnv, bin });
      return r;
    },
    /** Resolves with the first JSON log record (past or future) for which `predicate` holds. */
    waitForLog(predicate, { timeoutMs = 10000 } = {}) {
      const match = (line) => { try { const rec = JSON.parse(line); return predicate(rec) ? rec : null; } catch { return null; } };
      for (const line of logs) { const rec = match(line); if (rec) return Promise.resolve(rec); }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { logWaiters.delete(waiter); reject(new Error('waitForLog: no matching log line')); }, timeoutMs);
        function waiter(line) {
          const rec = match(line);
          if (rec) { clearTimeout(timer); logWaiters.delete(waiter); resolve(rec); }
        }
        logWaiters.add(waiter);
      });
    },
    /** Moves the server's clock forward (manual-clock servers only); resolves the new time (ms). */
    async advanceClock(ms) {
      if (clock !== 'manual') throw new Error('advanceClock needs a manual-clock server');
      const res = await fetch(`${baseUrl}/__test/clock`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ advance_ms: ms }),
      });
      if (res.status !== 200) throw new Error(`advanceClock: ${res.status} ${await res.text()}`);
      return (await res.json()).now_ms;
    },
    /**
     * Stops this process (SIGKILL by default: a crash) and starts a new one on the same database
     * and organizations; resolves the new server. `args`/`env` default to this one's.
     */
    async restart({ signal = 'SIGKILL', args: nextArgs = args, env: nextEnv = env } = {}) {
      await server.stop(signal, { keepData: true });
      return startServer({ args: nextArgs, env: nextEnv, clock, data: { dir, db, orgs: organizations } });
    },
    api: (method, p, opts = {}) => api(server, method, p, opts),
  };
  return server;
}

function parseBody(contentType, buf) {
  const text = buf.toString('utf8');
  if (buf.length === 0) return { text, body: undefined };
  const media = (contentType || '').split(';')[0].trim().toLowerCase();
  if (media === 'application/json' || media.endsWith('+json')) {
    try { return { text, body: JSON.parse(text) }; } catch (e) { throw new Error(`response is not valid JSON (${contentType}): ${text.slice(0, 500)}`); }
  }
  return { text, body: text };
}

/**
 * Makes one request and checks the response against the OpenAPI document.
 *   body:     a value sent as JSON (content-type application/json)
 *   rawBody:  a string/Buffer sent as-is (a string is sent as UTF-8 bytes; no content-type is added)
 *   key:      API key (default: the first organization's); null = no Authorization header
 *   headers:  extra request headers
 *   allow500: do not fail on a 5xx (only for tests that explicitly expect one; none do)
 * Fails (throws) when: the status is not documented for the operation, the body/headers do not match
 * the documented response, an error response is not problem+json, x-request-id is missing, or the status is 5xx.
 * Resolves {status, headers, body, text, ms, url}.
 */
export async function api(server, method, p, { body, rawBody, key, headers = {}, allow500 = false, redirect = 'follow', timeoutMs = 15000 } = {}) {
  const h = { ...headers };
  const k = key === undefined ? server.key : key;
  if (k !== null && k !== undefined && !Object.keys(h).some((x) => x.toLowerCase() === 'authorization')) h.authorization = `Bearer ${k}`;
  let payload;
  if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body), 'utf8');
    if (!Object.keys(h).some((x) => x.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
  } else if (rawBody !== undefined) {
    payload = Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody, 'utf8');
  }
  const url = p.startsWith('http') ? p : server.baseUrl + p;
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(url, { method, headers: h, body: payload, redirect, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    throw new Error(`${method} ${p}: request failed: ${e.message} ${e.cause ? `(${e.cause.code || e.cause.message})` : ''}`);
  }
  let buf;
  try {
    buf = Buffer.from(await res.arrayBuffer());
  } catch (e) {
    throw new Error(`${method} ${p}: response ${res.status} truncated: ${e.message} ${e.cause ? `(${e.cause.code || e.cause.message})` : ''}`);
  }
  const ms = performance.now() - t0;
  const ct = res.headers.get('content-type');
  const { text, body: parsed } = parseBody(ct, buf);
  const out = { status: res.status, headers: res.headers, body: parsed, text, ms, url: res.url, method, path: p };
  checkResponse(method, new URL(res.url).pathname, out, { allow500 });
  return out;
}

function describe(out) {
  return `${out.method} ${out.path} → ${out.status} ${out.headers.get ? out.headers.get('content-type') : ''}\n${(out.text || '').slice(0, 1500)}`;
}

/** The checks api() applies to every response; exported for raw-socket tests. */
export function checkResponse(method, pathname, out, { allow500 = false } = {}) {
  const problems = [];
  const get = (n) => (typeof out.headers.get === 'function' ? out.headers.get(n) : out.headers[n.toLowerCase()]);
  if (!get('x-request-id')) problems.push('missing x-request-id');
  if (out.status >= 500 && !allow500 && !(pathname === '/readyz' && out.status === 503)) problems.push(`server error ${out.status}`);
  const tpl = matchPath(pathname);
  const op = tpl && operation(tpl, method);
  if (op) {
    problems.push(...conformance(tpl, method.toLowerCase(), out.status, out.body, { headers: out.headers }));
  } else {
    // Not a documented operation: a documented path with another method must be 405 with Allow;
    // anything else must be a problem (404 for unknown routes).
    if (tpl && out.status !== 405 && !(method === 'HEAD' || method === 'OPTIONS')) problems.push(`${method} ${tpl} is not documented: expected 405, got ${out.status}`);
    if (out.status === 405 && !get('allow')) problems.push('405 without Allow');
    if (out.status < 400 && !tpl && pathname.startsWith('/api/')) problems.push(`undocumented path ${pathname} answered ${out.status}`);
  }
  if (out.status >= 400) {
    const media = (get('content-type') || '').split(';')[0].trim().toLowerCase();
    if (media !== 'application/problem+json') problems.push(`error response is not application/problem+json (content-type: ${get('content-type')})`);
    const e = checkSchema('Problem', out.body);
    if (e) problems.push(`error body is not a Problem: ${e}`);
    else if (out.body.status !== out.status) problems.push(`problem.status ${out.body.status} != HTTP status ${out.status}`);
  }
  if (problems.length) throw new Error(`Response does not conform to api/openapi.json:\n  - ${problems.join('\n  - ')}\n${describe(out)}`);
}

/** Asserts a problem response: status, and the problem type's last segment. */
export function expectProblem(res, status, typeSuffix) {
  const body = res.body;
  if (res.status !== status || !body || typeof body.type !== 'string' || (typeSuffix && !body.type.endsWith(`/${typeSuffix}`))) {
    throw new Error(`expected ${status} ${typeSuffix ?? ''} problem, got ${res.status}: ${res.text?.slice(0, 1500)} (${res.method} ${res.path})`);
  }
  return body;
}

/** Asserts the status, printing the response when it differs. */
export function expectStatus(res, status) {
  const ok = Array.isArray(status) ? status.includes(res.status) : res.status === status;
  if (!ok) throw new Error(`expected ${status}, got ${res.status} for ${res.method} ${res.path}: ${res.text?.slice(0, 1500)}`);
  return res.body;
}

/** All events (following cursors), optionally after an event id and/or of a type. */
export async function allEvents(server, { after, type, key } = {}) {
  const q = new URLSearchParams({ limit: '500' });
  if (after) q.set('after', after);
  if (type) q.set('type', type);
  let url = `/api/v1/events?${q}`;
  const out = [];
  for (let i = 0; i < 1000 && url; i++) {
    const r = await api(server, 'GET', url, { key });
    expectStatus(r, 200);
    out.push(...r.body.results);
    url = r.body.next;
  }
  return out;
}

/** The id of the newest event visible to `key` (or null). */
export async function lastEventId(server, key) {
  const evs = await allEvents(server, { key });
  return evs.length ? evs[evs.length - 1].id : null;
}

/** Events after `after` (null = from the beginning). */
export async function eventsSince(server, after, key) {
  return allEvents(server, { after: after ?? undefined, key });
}

/** Fetches every page of a list path (following `next`), returning the concatenated results. */
export async function listAll(server, p, opts = {}) {
  const out = [];
  let url = p;
  for (let i = 0; i < 1000 && url; i++) {
    const r = await api(server, 'GET', url, opts);
    expectStatus(r, 200);
    out.push(...r.body.results);
    url = r.body.next;
  }
  return out;
}

let uniq = 0;
/** A unique, valid learner body. */
export function newLearner(overrides = {}) {
  const n = `${Date.now().toString(36)}${(++uniq).toString(36)}${process.pid.toString(36)}`;
  return { email: `learner.${n}@example.com`, firstname: `First${n}`, lastname: `Last${n}`, ...overrides };
}

export async function createLearner(server, overrides = {}, opts = {}) {
  const r = await api(server, 'POST', '/api/v1/learners', { body: newLearner(overrides), ...opts });
  expectStatus(r, 201);
  return r.body;
}

/**
 * Raw HTTP/1.1 exchange over a fresh TCP connection (for what fetch cannot send).
 * Resolves {status, headers (lower-case names), body (parsed when JSON), text, raw}.
 */
export function rawRequest(server, requestBytes, { timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: server.host, port: server.port });
    const chunks = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error('raw request: timed out')); }, timeoutMs);
    sock.on('connect', () => { sock.write(requestBytes); });
    sock.on('data', (d) => {
      chunks.push(d);
      const parsed = tryParseResponse(Buffer.concat(chunks));
      if (parsed) { clearTimeout(timer); sock.destroy(); resolve(parsed); }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      const parsed = tryParseResponse(Buffer.concat(chunks));
      if (parsed) resolve(parsed); else reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const parsed = tryParseResponse(all, true);
      if (parsed) resolve(parsed); else reject(new Error(`raw request: connection closed without a complete response: ${JSON.stringify(all.toString('latin1').slice(0, 300))}`));
    });
  });
}

/** Parses one HTTP/1.1 response from `buf`; null when incomplete. */
export function tryParseResponse(buf, atEof = false) {
  const sep = buf.indexOf('\r\n\r\n');
  if (sep < 0) return null;
  const head = buf.subarray(0, sep).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
  if (!m) throw new Error(`bad status line: ${head[0]}`);
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    const n = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[n] = n in headers ? `${headers[n]}, ${v}` : v;
  }
  let rest = buf.subarray(sep + 4);
  let bodyBuf;
  if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
    const parts = [];
    let off = 0;
    for (;;) {
      const eol = rest.indexOf('\r\n', off);
      if (eol < 0) return null;
      const size = parseInt(rest.subarray(off, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      if (size === 0) break;
      if (rest.length < eol + 2 + size + 2) return null;
      parts.push(rest.subarray(eol + 2, eol + 2 + size));
      off = eol + 2 + size + 2;
    }
    bodyBuf = Buffer.concat(parts);
  } else if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    if (rest.length < len) return null;
    bodyBuf = rest.subarray(0, len);
  } else {
    if (!atEof) return null;
    bodyBuf = rest;
  }
  const status = Number(m[1]);
  const { text, body } = parseBody(headers['content-type'], bodyBuf);
  return { status, headers, text, body, raw: buf };
}


/** Learner fields as GET returns them, without event extras. */
export function stripEventExtras(data) {
  const { changed_fields, previous, bulk_id, ...rest } = data;
  return rest;
}

export { matchPath, operation };
export const openapi = doc;
export const nowIso = () => new Date().toISOString();
export { checkSchema as schemaCheck };

// ---------------------------------------------------------------------------------------------
// Events against the catalog (api/event-types.json, WEBHOOKS.md §2 and §8).

export const EVENT_TYPES_FILE = path.join(REPO_ROOT, 'api', 'event-types.json');
const CROCKFORD_26 = '[0-9A-HJKMNP-TV-Z]{26}';
const ENVELOPE_KEYS = ['actor', 'data', 'id', 'organization_id', 'timestamp', 'type', 'version'];
let eventCatalog = null; // type → {entry, validate}; schemas compile on first use
const eventAjv = new Ajv2020({ strict: false, allErrors: true });

/** The catalog file's entries, by type (in the file's order). */
export function eventTypes() {
  if (!eventCatalog) {
    const file = JSON.parse(readFileSync(EVENT_TYPES_FILE, 'utf8'));
    eventCatalog = new Map(file.types.map((entry) => [entry.type, { entry, validate: null }]));
  }
  return eventCatalog;
}

/**
 * What is wrong with an event envelope: its shape (WEBHOOKS.md §2) and its `data` against the
 * schema of its type in api/event-types.json. Returns a list of problems (empty when it conforms).
 * `organizationId`, when given, must be the envelope's.
 */
export function eventProblems(envelope, { organizationId } = {}) {
  const label = `${envelope?.type ?? '?'} ${envelope?.id ?? '(no id)'}`;
  if (!envelope || typeof envelope !== 'object' || Array.isArray(envelope)) return [`${label}: the envelope is not an object`];
  const problems = [];
  const keys = Object.keys(envelope).sort();
  if (JSON.stringify(keys) !== JSON.stringify(ENVELOPE_KEYS)) problems.push(`envelope keys are [${keys}], expected [${ENVELOPE_KEYS}]`);
  if (typeof envelope.id !== 'string' || !new RegExp(`^evt_${CROCKFORD_26}$`).test(envelope.id)) problems.push(`id ${JSON.stringify(envelope.id)} is not evt_ + 26 Crockford base32 characters`);
  const ts = envelope.timestamp;
  if (typeof ts !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(ts) || Number.isNaN(Date.parse(ts)) || new Date(ts).toISOString() !== ts) problems.push(`timestamp ${JSON.stringify(ts)} is not RFC 3339 UTC with milliseconds`);
  if (typeof envelope.organization_id !== 'string' || !new RegExp(`^org_${CROCKFORD_26}$`).test(envelope.organization_id)) problems.push(`organization_id ${JSON.stringify(envelope.organization_id)} is not org_ + 26 Crockford base32 characters`);
  else if (organizationId && envelope.organization_id !== organizationId) problems.push(`organization_id ${envelope.organization_id}, expected ${organizationId}`);
  const actor = envelope.actor;
  if (!actor || typeof actor !== 'object' || JSON.stringify(Object.keys(actor).sort()) !== '["id","type"]') problems.push(`actor ${JSON.stringify(actor)} is not {type, id}`);
  else if (actor.type === 'api_key' ? !new RegExp(`^key_${CROCKFORD_26}$`).test(actor.id) : actor.type === 'user' ? !new RegExp(`^usr_${CROCKFORD_26}$`).test(actor.id) : actor.type !== 'system' || actor.id !== null) problems.push(`actor ${JSON.stringify(actor)}: expected {api_key, key_…}, {user, usr_…} or {system, null}`);
  const known = eventTypes().get(envelope.type);
  if (!known) {
    problems.push(`type ${JSON.stringify(envelope.type)} is not in the catalog`);
  } else {
    if (envelope.version !== known.entry.version) problems.push(`version ${JSON.stringify(envelope.version)}, the catalog says ${JSON.stringify(known.entry.version)}`);
    if (!envelope.data || typeof envelope.data !== 'object' || Array.isArray(envelope.data)) {
      problems.push('data is not an object');
    } else {
      known.validate ??= eventAjv.compile(known.entry.schema);
      if (!known.validate(envelope.data)) problems.push(`data does not match the schema of ${envelope.type}: ${eventAjv.errorsText(known.validate.errors, { dataVar: 'data', separator: '; ' })}`);
    }
  }
  return problems.map((p) => `${label}: ${p}`);
}

/** Throws (with the type, the event id and every problem) unless the envelope conforms; returns it. */
export function validateEvent(envelope, opts = {}) {
  const problems = eventProblems(envelope, opts);
  if (problems.length) throw new Error(`event does not match api/event-types.json:\n  - ${problems.join('\n  - ')}\nevent: ${JSON.stringify(envelope).slice(0, 2000)}`);
  return envelope;
}

// Every event of each known organization, oldest first: one paged read per organization. A key
// that no longer works (revoked, rate-limited) is replaced; if none works the check is skipped
// with a warning (it never fails a test for a reason other than a mismatch).
async function readStoredEvents(server, org) {
  let key = org.key;
  let replaced = false;
  const out = [];
  let url = '/api/v1/events?limit=500';
  for (let attempt = 0; url && attempt < 1000;) {
    const res = await fetch(server.baseUrl + url, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10000) });
    const body = await res.json().catch(() => null);
    if (res.status === 200) {
      out.push(...body.results);
      url = body.next;
      continue;
    }
    attempt++;
    if ((res.status === 401 || res.status === 403) && !replaced) {
      key = (await server.createKey(['read'], org.orgId)).key;
      replaced = true;
    } else if (res.status === 429 && attempt <= 3) {
      const wait = Math.max(1, Number(res.headers.get('retry-after')) || 1);
      try {
        await server.advanceClock(wait * 1000);
      } catch {
        if (!replaced) { key = (await server.createKey(['read'], org.orgId)).key; replaced = true; }
        else if (wait <= 3) await new Promise((r) => setTimeout(r, wait * 1000));
        else throw new Error(`429 for ${wait} s`);
      }
    } else {
      throw new Error(`GET ${url} → ${res.status} ${JSON.stringify(body)?.slice(0, 300)}`);
    }
  }
  return out;
}

async function checkStoredEvents(server) {
  const problems = [];
  for (const org of server.orgs) {
    let events;
    try {
      events = await readStoredEvents(server, org);
    } catch (e) {
      process.emitWarning(`events of ${org.orgId} not checked against api/event-types.json: ${e.message}`);
      continue;
    }
    for (const e of events) problems.push(...eventProblems(e, { organizationId: org.orgId }));
  }
  return problems;
}
