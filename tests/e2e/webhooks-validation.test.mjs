// What POST /webhooks refuses (WEBHOOKS.md §1, §5 retry_policy, §7 URL guard at save time; API.md
// "Requests", "Errors"): each refusal is a 422 validation problem naming the field.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectProblem, expectStatus } from './lib/server.mjs';
import { orgClient, createWebhook } from './lib/webhooks.mjs';

const PUBLIC_URL = 'https://93.184.216.34/hooks/learnwire';
const UNKNOWN = (prefix) => `${prefix}_01JD0000000000000000000000`;

/** Asserts a 422 whose errors include one whose field is `field` (or starts with `field.`/`field[`). */
async function expect422(c, body, field, { message, method = 'POST', path = '/api/v1/webhooks' } = {}) {
  const p = expectProblem(await c.api(method, path, { body }), 422, 'validation');
  assert.ok(Array.isArray(p.errors) && p.errors.length > 0, `no errors[]: ${JSON.stringify(p)}`);
  const hit = p.errors.find((e) => e.field === field || e.field.startsWith(`${field}.`) || e.field.startsWith(`${field}[`));
  assert.ok(hit, `expected an error on ${field} for ${JSON.stringify(body).slice(0, 300)}; got ${JSON.stringify(p.errors)}`);
  if (message) assert.match(hit.message, message, `the message of ${hit.field}`);
  return p;
}

const wh = (extra) => ({ name: 'validation', url: PUBLIC_URL, ...extra });

describe('webhook validation (default configuration: no private networks, https only)', () => {
  let s, c;
  before(async () => {
    s = await startServer({ orgs: 2 });
    c = orgClient(s, 0);
  });
  after(async () => { await s?.stop(); });

  it('name and url are required; name is 1–200 characters; description ≤ 10,000', async () => {
    await expect422(c, { url: PUBLIC_URL }, 'name');
    await expect422(c, { name: 'no url' }, 'url');
    await expect422(c, wh({ name: '' }), 'name');
    await expect422(c, wh({ name: 'x'.repeat(201) }), 'name');
    await expect422(c, wh({ name: 42 }), 'name');
    await expect422(c, wh({ description: 'd'.repeat(10001) }), 'description');
    const ok = await createWebhook(c, wh({ name: 'n'.repeat(200), description: 'd'.repeat(10000) }));
    assert.equal(ok.name.length, 200);
    assert.equal(ok.description.length, 10000);
  });

  it('url: absolute https, ≤ 2,048 characters, no userinfo, http/https only', async () => {
    for (const url of ['/hooks', 'hooks.example.com/x', 'https://', 'not a url', '', 'https:///path']) await expect422(c, wh({ url }), 'url');
    await expect422(c, wh({ url: 'ftp://93.184.216.34/hook' }), 'url');
    await expect422(c, wh({ url: 'file:///etc/passwd' }), 'url');
    await expect422(c, wh({ url: 'gopher://93.184.216.34/' }), 'url');
    await expect422(c, wh({ url: 'https://user:pass@93.184.216.34/hook' }), 'url');
    await expect422(c, wh({ url: 'https://user@93.184.216.34/hook' }), 'url');
    const base = 'https://93.184.216.34/';
    await expect422(c, wh({ url: base + 'a'.repeat(2049 - base.length) }), 'url');
    const max = await createWebhook(c, wh({ url: base + 'a'.repeat(2048 - base.length) }));
    assert.equal(max.url.length, 2048);
    await expect422(c, wh({ url: 42 }), 'url');
  });

  it('the URL guard at save time: private and special addresses → 422 on url, naming the address', async () => {
    const cases = [
      ['https://10.0.0.1/hook', '10.0.0.1'],
      ['https://169.254.169.254/latest/meta-data', '169.254.169.254'],
      ['https://127.0.0.1:8443/hook', '127.0.0.1'],
      ['https://192.168.1.10/hook', '192.168.1.10'],
      ['https://172.16.5.4/hook', '172.16.5.4'],
      ['https://100.64.0.1/hook', '100.64.0.1'],
      ['https://0.0.0.0/hook', '0.0.0.0'],
      ['https://[::1]/hook', '::1'],
      ['https://[::ffff:10.0.0.1]/hook', '10.0.0.1'],
      ['https://[fd00::1]/hook', 'fd00::1'],
      ['https://[fe80::1]/hook', 'fe80::1'],
      ['https://[64:ff9b::a00:1]/hook', '10.0.0.1|64:ff9b::a00:1'],
      ['https://[2002:a00:1::1]/hook', '10.0.0.1|2002:a00:1::1'],
      ['https://224.0.0.1/hook', '224.0.0.1'],
      ['https://255.255.255.255/hook', '255.255.255.255'],
    ];
    for (const [url, addr] of cases) {
      const p = expectProblem(await c.api('POST', '/api/v1/webhooks', { body: wh({ url }) }), 422, 'validation');
      assert.equal(p.errors[0].field, 'url', `${url}: ${JSON.stringify(p.errors)}`);
      assert.match(p.errors[0].message, new RegExp(addr.replace(/[.[\]]/g, '\\$&')), `${url}: the message should name the address: ${p.errors[0].message}`);
    }
  });

  it('http:// to a public host without allow_http_webhooks → 422 on url', async () => {
    await expect422(c, wh({ url: 'http://93.184.216.34/hook' }), 'url');
    await createWebhook(c, wh({ url: 'https://93.184.216.34/hook' }));
  });

  it('event_types: exact types, families and * are accepted; anything else → 422', async () => {
    const ok = await createWebhook(c, wh({ event_types: ['learner.created', 'enrollment.*', 'path_enrollment.*', 'course.published', 'webhook.disabled'] }));
    assert.deepEqual(ok.event_types, ['learner.created', 'enrollment.*', 'path_enrollment.*', 'course.published', 'webhook.disabled']);
    const star = await createWebhook(c, wh({ event_types: ['*'] }));
    assert.deepEqual(star.event_types, ['*']);
    for (const bad of ['learner.exploded', 'learner', 'nosuch.*', '*.created', 'Learner.Created', 'learner.created ', '', 'enrollment*', 'learner.**']) {
      await expect422(c, wh({ event_types: [bad] }), 'event_types');
    }
    await expect422(c, wh({ event_types: 'learner.created' }), 'event_types');
    await expect422(c, wh({ event_types: [42] }), 'event_types');
  });

  it('headers: reserved names (case-insensitive) → 422', async () => {
    const reserved = ['content-type', 'Content-Type', 'user-agent', 'webhook-id', 'WEBHOOK-ID', 'webhook-timestamp', 'webhook-signature',
      'x-learnwire-signature', 'x-learnwire-event', 'X-Learnwire-Event', 'x-learnwire-attempt', 'x-learnwire-delivery',
      'host', 'Host', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade', 'expect', 'proxy-foo', 'Proxy-Authorization'];
    for (const name of reserved) await expect422(c, wh({ headers: { [name]: 'v' } }), 'headers');
    // authorization is reserved only while basic_auth is set.
    await expect422(c, wh({ basic_auth: { username: 'u', password: 'p' }, headers: { Authorization: 'Bearer x' } }), 'headers');
    const w = await createWebhook(c, wh({ headers: { Authorization: 'Bearer partner-token' } }));
    assert.deepEqual(Object.keys(w.headers).map((k) => k.toLowerCase()), ['authorization']);
    // …and setting basic_auth afterwards on that subscription conflicts with it.
    const p = expectProblem(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { basic_auth: { username: 'u', password: 'p' } } }), 422, 'validation');
    assert.ok(p.errors.some((x) => x.field.startsWith('basic_auth') || x.field.startsWith('headers')), JSON.stringify(p.errors));
  });

  it('headers: names are tokens, values visible ASCII plus space and tab, ≤ 4 KiB, at most 20', async () => {
    for (const name of ['bad header', 'x:y', '', 'x(y)', 'é-header']) await expect422(c, wh({ headers: { [name]: 'v' } }), 'headers');
    for (const value of ['a\nb', 'a\rb', 'a\u0000b', 'a\u0001b', 'a\u007fb', 'café', 42]) await expect422(c, wh({ headers: { 'x-value': value } }), 'headers');
    await expect422(c, wh({ headers: { 'x-big': 'v'.repeat(4097) } }), 'headers');
    const okValues = await createWebhook(c, wh({ headers: { 'x-tab': 'a\tb c', 'x-big': 'v'.repeat(4096), "x-t0k3n!#$%&'*+.^_`|~": '!"#~' } }));
    assert.equal(Object.keys(okValues.headers).length, 3);
    const twenty = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-h${i}`, `${i}`]));
    await createWebhook(c, wh({ headers: twenty }));
    await expect422(c, wh({ headers: { ...twenty, 'x-h20': '20' } }), 'headers');
    await expect422(c, wh({ headers: ['x-a'] }), 'headers');
  });

  it('basic_auth: {username, password} or null', async () => {
    await expect422(c, wh({ basic_auth: { username: 'u' } }), 'basic_auth');
    await expect422(c, wh({ basic_auth: { password: 'p' } }), 'basic_auth');
    await expect422(c, wh({ basic_auth: 'u:p' }), 'basic_auth');
    await expect422(c, wh({ basic_auth: { username: 'u', password: 'p', realm: 'x' } }), 'basic_auth');
    const w = await createWebhook(c, wh({ basic_auth: null }));
    assert.equal(w.basic_auth, null);
  });

  it('filters: unknown keys, unknown ids and malformed values → 422', async () => {
    await expect422(c, wh({ filters: { colour: ['blue'] } }), 'filters');
    await expect422(c, wh({ filters: { group_ids: [UNKNOWN('grp')] } }), 'filters.group_ids');
    await expect422(c, wh({ filters: { department_ids: [UNKNOWN('dep')] } }), 'filters.department_ids');
    await expect422(c, wh({ filters: { course_ids: [UNKNOWN('crs')] } }), 'filters.course_ids');
    await expect422(c, wh({ filters: { path_ids: [UNKNOWN('pth')] } }), 'filters.path_ids');
    await expect422(c, wh({ filters: { exclude_actor_ids: [UNKNOWN('key')] } }), 'filters.exclude_actor_ids');
    await expect422(c, wh({ filters: { exclude_actor_ids: [UNKNOWN('usr')] } }), 'filters.exclude_actor_ids');
    await expect422(c, wh({ filters: { exclude_actor_ids: ['lrn_01JD0000000000000000000000'] } }), 'filters.exclude_actor_ids');
    await expect422(c, wh({ filters: { group_ids: 'grp_x' } }), 'filters.group_ids');
    await expect422(c, wh({ filters: [] }), 'filters');
    const own = await createWebhook(c, wh({ filters: { exclude_actor_ids: [c.keyId] } }));
    assert.deepEqual(own.filters.exclude_actor_ids, [c.keyId]);
  });

  it('retry_policy: each field in its range; max_attempts with "custom" → 422', async () => {
    const bad = [
      [{ schedule: 'linear' }, 'retry_policy.schedule'],
      [{ initial_delay_s: 0 }, 'retry_policy.initial_delay_s'], [{ initial_delay_s: 3601 }, 'retry_policy.initial_delay_s'],
      [{ max_delay_s: 0 }, 'retry_policy.max_delay_s'], [{ max_delay_s: 86401 }, 'retry_policy.max_delay_s'],
      [{ max_attempts: 0 }, 'retry_policy.max_attempts'], [{ max_attempts: 101 }, 'retry_policy.max_attempts'], [{ max_attempts: 2.5 }, 'retry_policy.max_attempts'],
      [{ jitter: -0.1 }, 'retry_policy.jitter'], [{ jitter: 1.01 }, 'retry_policy.jitter'],
      [{ disable_on_4xx: 'yes' }, 'retry_policy.disable_on_4xx'],
      [{ schedule: 'custom', delays_s: [5], max_attempts: 3 }, 'retry_policy.max_attempts'],
      [{ schedule: 'custom', delays_s: [0] }, 'retry_policy.delays_s'],
      [{ schedule: 'custom', delays_s: [86401] }, 'retry_policy.delays_s'],
      [{ schedule: 'custom', delays_s: Array(100).fill(1) }, 'retry_policy.delays_s'],
      [{ unknown_knob: 1 }, 'retry_policy.unknown_knob'],
    ];
    for (const [policy, field] of bad) await expect422(c, wh({ retry_policy: policy }), field);
    const edges = await createWebhook(c, wh({ retry_policy: { initial_delay_s: 3600, max_delay_s: 86400, max_attempts: 100, jitter: 1 } }));
    assert.equal(edges.retry_policy.max_attempts, 100);
    const none = await createWebhook(c, wh({ retry_policy: { schedule: 'custom', delays_s: [] } }));
    assert.deepEqual(none.retry_policy.delays_s, []);
    const many = await createWebhook(c, wh({ retry_policy: { schedule: 'custom', delays_s: Array(99).fill(86400) } }));
    assert.equal(many.retry_policy.delays_s.length, 99);
    const low = await createWebhook(c, wh({ retry_policy: { initial_delay_s: 1, max_delay_s: 1, max_attempts: 1, jitter: 0 } }));
    assert.equal(low.retry_policy.jitter, 0);
  });

  it('other fields: types and ranges; unknown fields → 422 naming each; read-only fields only if unchanged', async () => {
    await expect422(c, wh({ active: 'yes' }), 'active');
    await expect422(c, wh({ legacy_signature: 1 }), 'legacy_signature');
    await expect422(c, wh({ signature_scheme: 'md5' }), 'signature_scheme');
    await expect422(c, wh({ rate_limit_per_s: 0 }), 'rate_limit_per_s');
    await expect422(c, wh({ rate_limit_per_s: 10001 }), 'rate_limit_per_s');
    await expect422(c, wh({ ordered: 'no' }), 'ordered');
    const p = await expect422(c, wh({ colour: 'blue', shape: 'round' }), 'colour');
    assert.ok(p.errors.some((e) => e.field === 'shape'), JSON.stringify(p.errors));
    await expect422(c, wh({ deactivate_reason: 'http_410' }), 'deactivate_reason');
    const w = await createWebhook(c, wh({}));
    // deactivate_reason equal to the current value (null) is accepted; another value is not.
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { deactivate_reason: null } }), 200);
    await expect422(c, { deactivate_reason: 'manual' }, 'deactivate_reason', { method: 'PATCH', path: `/api/v1/webhooks/${w.id}` });
    await expect422(c, { url: 'https://10.0.0.1/x' }, 'url', { method: 'PATCH', path: `/api/v1/webhooks/${w.id}` });
    await expect422(c, { event_types: ['nope.nope'] }, 'event_types', { method: 'PATCH', path: `/api/v1/webhooks/${w.id}` });
    await expect422(c, { name: null }, 'name', { method: 'PATCH', path: `/api/v1/webhooks/${w.id}` });
  });

  it('an ed25519 subscription has a whpk_ public key (32 bytes) and no secret; a secret with it → 422', async () => {
    const r = await c.api('POST', '/api/v1/webhooks', { body: wh({ signature_scheme: 'ed25519' }) });
    expectStatus(r, 201);
    assert.equal(r.body.signature_scheme, 'ed25519');
    assert.match(r.body.public_key, /^whpk_[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(Buffer.from(r.body.public_key.slice(5), 'base64').length, 32);
    assert.ok(!('secret' in r.body) || r.body.secret === null, `an ed25519 subscription shows a secret: ${r.body.secret}`);
    const g = await c.api('GET', `/api/v1/webhooks/${r.body.id}/secret`);
    expectStatus(g, 200);
    assert.deepEqual(g.body, { public_key: r.body.public_key, previous: [] });
    const read = await c.api('GET', `/api/v1/webhooks/${r.body.id}`);
    assert.equal(read.body.public_key, r.body.public_key);
    // The server makes the key pair: a secret cannot be given with ed25519.
    await expect422(c, wh({ signature_scheme: 'ed25519', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }), 'secret');
    // public_key is read-only: the current value is accepted, another is not.
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${r.body.id}`, { body: { public_key: r.body.public_key } }), 200);
    await expect422(c, { public_key: 'whpk_' + Buffer.alloc(32).toString('base64') }, 'public_key', { method: 'PATCH', path: `/api/v1/webhooks/${r.body.id}` });
    // An hmac subscription has none.
    const h = await c.api('POST', '/api/v1/webhooks', { body: wh({}) });
    expectStatus(h, 201);
    assert.equal(h.body.public_key, null);
  });
});

describe('webhook validation with allow_http_webhooks', () => {
  let s;
  before(async () => { s = await startServer({ args: ['--allow-http-webhooks', 'true'] }); });
  after(async () => { await s?.stop(); });

  it('http:// to a public host is accepted; private addresses are still refused', async () => {
    const c = orgClient(s, 0);
    const w = await createWebhook(c, { name: 'plain http', url: 'http://93.184.216.34/hook' });
    assert.equal(w.url, 'http://93.184.216.34/hook');
    await expect422(c, { name: 'private', url: 'http://10.0.0.1/hook' }, 'url', { message: /10\.0\.0\.1/ });
  });
});
