// Subscriptions (WEBHOOKS.md §1; API.md "Requests", "Lists", scopes): create, read, list, change,
// delete; defaults; the secret; write-only values; the per-organization limit; scope and tenancy.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, expectProblem, expectStatus } from './lib/server.mjs';
import { LOCAL_RECEIVER_ARGS, orgClient, createWebhook, isWellFormedSecret, listAllWebhooks } from './lib/webhooks.mjs';

// A public address (no DNS in play): subscriptions here never receive anything.
const PUBLIC_URL = 'https://93.184.216.34/hooks/learnwire';
const WH_ID = /^wh_[0-9A-HJKMNP-TV-Z]{26}$/;
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const newSecret = (bytes = 32) => `whsec_${randomBytes(bytes).toString('base64')}`;

describe('webhook subscriptions: create, read, change, delete', () => {
  let s;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => { s = await startServer({ orgs: 16, args: LOCAL_RECEIVER_ARGS }); });
  after(async () => { await s?.stop(); });

  it('POST → 201 with Location, a wh_ id, a whsec_ secret and every default', async () => {
    const c = nextOrg();
    const r = await c.api('POST', '/api/v1/webhooks', { body: { name: 'CRM', url: PUBLIC_URL } });
    expectStatus(r, 201);
    const w = r.body;
    assert.match(w.id, WH_ID);
    assert.equal(r.headers.get('location'), `/api/v1/webhooks/${w.id}`);
    assert.ok(isWellFormedSecret(w.secret), `secret ${w.secret} is not whsec_ + padded base64 of 24–64 bytes`);
    assert.equal(w.name, 'CRM');
    assert.equal(w.url, PUBLIC_URL);
    assert.equal(w.active, true);
    assert.equal(w.deactivate_reason, null);
    assert.deepEqual(w.event_types, []);
    assert.equal(w.legacy_signature, true);
    assert.equal(w.signature_scheme, 'hmac-sha256');
    assert.equal(w.ordered, false);
    assert.equal(w.rate_limit_per_s, null);
    assert.equal(w.basic_auth, null);
    assert.deepEqual(w.retry_policy, { schedule: 'exponential', initial_delay_s: 2, max_delay_s: 3600, max_attempts: 60, jitter: 0.1, disable_on_4xx: false });
    assert.equal('public_key' in w && w.public_key !== null, false, 'an hmac subscription has no public_key');
    assert.match(w.created_at, TIME);
    assert.equal(w.updated_at, w.created_at);
  });

  it('GET returns the subscription without its secret; GET /secret shows it', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'no secret on GET', url: PUBLIC_URL, description: 'd' });
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}`);
    expectStatus(g, 200);
    assert.equal('secret' in g.body, false);
    assert.ok(!g.text.includes(w.secret.slice(6)), 'GET shows the secret');
    const { secret, ...rest } = w;
    assert.deepEqual(g.body, rest);
    const sec = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    expectStatus(sec, 200);
    assert.deepEqual(sec.body, { secret, previous: [] });
    // Neither does the list.
    const l = await c.api('GET', '/api/v1/webhooks');
    expectStatus(l, 200);
    assert.ok(!l.text.includes(w.secret.slice(6)), 'the list shows the secret');
  });

  it('omitted retry_policy fields take their defaults', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'partial policy', url: PUBLIC_URL, retry_policy: { max_attempts: 5, disable_on_4xx: true } });
    assert.deepEqual(w.retry_policy, { schedule: 'exponential', initial_delay_s: 2, max_delay_s: 3600, max_attempts: 5, jitter: 0.1, disable_on_4xx: true });
    const custom = await createWebhook(c, { name: 'custom', url: PUBLIC_URL, retry_policy: { schedule: 'custom', delays_s: [5, 60] } });
    assert.equal(custom.retry_policy.schedule, 'custom');
    assert.deepEqual(custom.retry_policy.delays_s, [5, 60]);
  });

  it('a valid whsec_ secret given on create is used verbatim; an invalid one → 422 (field secret)', async () => {
    const c = nextOrg();
    for (const bytes of [24, 32, 64]) {
      const secret = newSecret(bytes);
      const w = await createWebhook(c, { name: `own secret ${bytes}`, url: PUBLIC_URL, secret });
      assert.equal(w.secret, secret);
      const g = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
      assert.equal(g.body.secret, secret);
    }
    const bad = [
      'not-a-secret',
      `whsec_${randomBytes(16).toString('base64')}`, // 16 bytes: too short
      `whsec_${randomBytes(23).toString('base64')}`, // 23 bytes
      `whsec_${randomBytes(65).toString('base64')}`, // 65 bytes: too long
      `whsec_${randomBytes(32).toString('base64').replace(/=+$/, '')}`, // base64 without its padding
      `whsec_${randomBytes(32).toString('base64url')}_-`, // base64url, not standard
      `WHSEC_${randomBytes(32).toString('base64')}`,
      `whsec_${randomBytes(32).toString('base64').slice(0, -1)}`, // broken padding
      42,
    ];
    for (const secret of bad) {
      const p = expectProblem(await c.api('POST', '/api/v1/webhooks', { body: { name: 'bad secret', url: PUBLIC_URL, secret } }), 422, 'validation');
      assert.ok(p.errors.some((e) => e.field === 'secret'), `${JSON.stringify(secret)}: ${JSON.stringify(p.errors)}`);
    }
  });

  it('the secret cannot be changed by PATCH or PUT (422, field secret)', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'fixed secret', url: PUBLIC_URL });
    const p = expectProblem(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { secret: newSecret() } }), 422, 'validation');
    assert.ok(p.errors.some((e) => e.field === 'secret'), JSON.stringify(p.errors));
    const q = expectProblem(await c.api('PUT', `/api/v1/webhooks/${w.id}`, { body: { name: 'fixed secret', url: PUBLIC_URL, secret: newSecret() } }), 422, 'validation');
    assert.ok(q.errors.some((e) => e.field === 'secret'), JSON.stringify(q.errors));
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    assert.equal(g.body.secret, w.secret);
  });

  it('list: oldest first, filter active, paging with limit and next', async () => {
    const c = nextOrg();
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await createWebhook(c, { name: `list ${i}`, url: PUBLIC_URL, active: i % 2 === 0 }));
    const all = await listAllWebhooks(c, '/api/v1/webhooks?limit=2');
    assert.deepEqual(all.map((w) => w.id), made.map((w) => w.id));
    const first = await c.api('GET', '/api/v1/webhooks?limit=2');
    expectStatus(first, 200);
    assert.equal(first.body.count, 5);
    assert.equal(first.body.results.length, 2);
    assert.equal(typeof first.body.next, 'string');
    const active = await listAllWebhooks(c, '/api/v1/webhooks?active=true');
    assert.deepEqual(active.map((w) => w.id), [made[0].id, made[2].id, made[4].id]);
    const inactive = await listAllWebhooks(c, '/api/v1/webhooks?active=false');
    assert.deepEqual(inactive.map((w) => w.id), [made[1].id, made[3].id]);
    expectProblem(await c.api('GET', '/api/v1/webhooks?active=maybe'), 400, 'malformed');
    expectProblem(await c.api('GET', '/api/v1/webhooks?colour=blue'), 400, 'malformed');
  });

  it('PATCH changes the given fields and updated_at; a PATCH that changes nothing keeps updated_at', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'before', url: PUBLIC_URL, event_types: ['learner.created'] });
    await s.advanceClock(1000);
    const r = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { name: 'after', event_types: ['learner.*', 'enrollment.completed'], description: 'now described' } });
    expectStatus(r, 200);
    assert.equal(r.body.name, 'after');
    assert.deepEqual(r.body.event_types, ['learner.*', 'enrollment.completed']);
    assert.equal(r.body.description, 'now described');
    assert.equal(r.body.url, PUBLIC_URL);
    assert.equal(r.body.created_at, w.created_at);
    assert.ok(r.body.updated_at > w.updated_at, `${r.body.updated_at} > ${w.updated_at}`);
    await s.advanceClock(1000);
    const same = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { name: 'after' } });
    expectStatus(same, 200);
    assert.equal(same.body.updated_at, r.body.updated_at);
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}`);
    assert.deepEqual(g.body, r.body);
  });

  it('rate_limit_per_s (1–10,000 or null) is accepted, read back, cleared by null and by PUT', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'throttled', url: PUBLIC_URL, rate_limit_per_s: 5 });
    assert.equal(w.rate_limit_per_s, 5);
    const r = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { rate_limit_per_s: 10000 } });
    expectStatus(r, 200);
    assert.equal(r.body.rate_limit_per_s, 10000);
    const kept = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { name: 'renamed' } });
    assert.equal(kept.body.rate_limit_per_s, 10000, 'PATCH without it keeps it');
    const cleared = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { rate_limit_per_s: null } });
    assert.equal(cleared.body.rate_limit_per_s, null);
    expectStatus(await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { rate_limit_per_s: 7 } }), 200);
    const put = await c.api('PUT', `/api/v1/webhooks/${w.id}`, { body: { name: 'replaced', url: PUBLIC_URL } });
    assert.equal(put.body.rate_limit_per_s, null, 'PUT without it resets it');
  });

  it('ordered is accepted and read back', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'in order', url: PUBLIC_URL, ordered: true });
    assert.equal(w.ordered, true);
    const r = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { ordered: false } });
    expectStatus(r, 200);
    assert.equal(r.body.ordered, false);
  });

  it('PUT replaces: fields left out return to their defaults', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, {
      name: 'full', url: PUBLIC_URL, description: 'x', event_types: ['learner.created'], legacy_signature: false,
      retry_policy: { max_attempts: 3 },
    });
    const r = await c.api('PUT', `/api/v1/webhooks/${w.id}`, { body: { name: 'replaced', url: `${PUBLIC_URL}/v2` } });
    expectStatus(r, 200);
    assert.equal(r.body.name, 'replaced');
    assert.equal(r.body.url, `${PUBLIC_URL}/v2`);
    assert.equal(r.body.description, null);
    assert.deepEqual(r.body.event_types, []);
    assert.equal(r.body.legacy_signature, true);
    assert.deepEqual(r.body.retry_policy, { schedule: 'exponential', initial_delay_s: 2, max_delay_s: 3600, max_attempts: 60, jitter: 0.1, disable_on_4xx: false });
    const p = expectProblem(await c.api('PUT', `/api/v1/webhooks/${w.id}`, { body: { url: PUBLIC_URL } }), 422, 'validation');
    assert.ok(p.errors.some((e) => e.field === 'name'), JSON.stringify(p.errors));
  });

  it('DELETE → 204, then 404 everywhere, and the list no longer shows it', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'doomed', url: PUBLIC_URL });
    const keep = await createWebhook(c, { name: 'kept', url: PUBLIC_URL });
    const d = await c.api('DELETE', `/api/v1/webhooks/${w.id}`);
    expectStatus(d, 204);
    for (const [m, p, body] of [
      ['GET', ''], ['PATCH', '', { name: 'x' }], ['PUT', '', { name: 'x', url: PUBLIC_URL }], ['DELETE', ''],
      ['GET', '/secret'], ['POST', '/rotate-secret', {}], ['POST', '/test', {}], ['GET', '/deliveries'], ['POST', '/replay', { since: '2020-01-01T00:00:00Z' }],
    ]) {
      expectProblem(await c.api(m, `/api/v1/webhooks/${w.id}${p}`, { body }), 404, 'not-found');
    }
    const l = await listAllWebhooks(c, '/api/v1/webhooks');
    assert.deepEqual(l.map((x) => x.id), [keep.id]);
  });

  it('basic_auth password and header values never appear in any response', async () => {
    const c = nextOrg();
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const hv = `hv-${randomBytes(8).toString('hex')}`;
    const hv2 = `hv2-${randomBytes(8).toString('hex')}`;
    const r = await c.api('POST', '/api/v1/webhooks', { body: { name: 'auth', url: PUBLIC_URL, basic_auth: { username: 'crm-user', password }, headers: { 'X-Api-Token': hv, 'x-tenant': hv2 } } });
    expectStatus(r, 201);
    const texts = [r.text];
    texts.push((await c.api('GET', `/api/v1/webhooks/${r.body.id}`)).text);
    texts.push((await c.api('GET', '/api/v1/webhooks')).text);
    const p = await c.api('PATCH', `/api/v1/webhooks/${r.body.id}`, { body: { name: 'auth 2' } });
    expectStatus(p, 200);
    texts.push(p.text);
    const u = await c.api('PUT', `/api/v1/webhooks/${r.body.id}`, { body: { name: 'auth 3', url: PUBLIC_URL, basic_auth: { username: 'crm-user', password: '********' }, headers: { 'x-api-token': '********' } } });
    expectStatus(u, 200);
    texts.push(u.text);
    for (const t of texts) {
      assert.ok(!t.includes(password), `a response shows the password: ${t.slice(0, 500)}`);
      assert.ok(!t.includes(hv) && !t.includes(hv2), `a response shows a header value: ${t.slice(0, 500)}`);
    }
  });

  it('write-only values read back as "********" (API.md), the username and header names as given', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'masked', url: PUBLIC_URL, basic_auth: { username: 'crm-user', password: 'pw-123456' }, headers: { 'X-Api-Token': 'abc' } });
    for (const body of [w, (await c.api('GET', `/api/v1/webhooks/${w.id}`)).body]) {
      assert.deepEqual(body.basic_auth, { username: 'crm-user', password: '********' });
      const hdrs = Object.fromEntries(Object.entries(body.headers).map(([k, v]) => [k.toLowerCase(), v]));
      assert.deepEqual(hdrs, { 'x-api-token': '********' });
    }
  });

  it('exclude_actor_ids accepts a key of the organization, not another organization\'s key (422)', async () => {
    const c = nextOrg();
    const other = nextOrg();
    const w = await createWebhook(c, { name: 'own key', url: PUBLIC_URL, filters: { exclude_actor_ids: [c.keyId] } });
    assert.deepEqual(w.filters, { exclude_actor_ids: [c.keyId] });
    const p = expectProblem(await c.api('POST', '/api/v1/webhooks', { body: { name: 'their key', url: PUBLIC_URL, filters: { exclude_actor_ids: [other.keyId] } } }), 422, 'validation');
    assert.ok(p.errors.some((e) => e.field.startsWith('filters.exclude_actor_ids')), JSON.stringify(p.errors));
  });
});

describe('webhook subscriptions: limits, scope and tenancy', () => {
  let s;
  before(async () => { s = await startServer({ orgs: 3, args: [...LOCAL_RECEIVER_ARGS, '--max-webhooks-per-org', '2'] }); });
  after(async () => { await s?.stop(); });

  it('max_webhooks_per_org: one more → 409 limit-reached; a deleted one frees its place', async () => {
    const c = orgClient(s, 0);
    const a = await createWebhook(c, { name: 'one', url: PUBLIC_URL });
    await createWebhook(c, { name: 'two', url: PUBLIC_URL, active: false });
    expectProblem(await c.api('POST', '/api/v1/webhooks', { body: { name: 'three', url: PUBLIC_URL } }), 409, 'limit-reached');
    // The limit is per organization.
    await createWebhook(orgClient(s, 1), { name: 'other org', url: PUBLIC_URL });
    expectStatus(await c.api('DELETE', `/api/v1/webhooks/${a.id}`), 204);
    await createWebhook(c, { name: 'three again', url: PUBLIC_URL });
    expectProblem(await c.api('POST', '/api/v1/webhooks', { body: { name: 'four', url: PUBLIC_URL } }), 409, 'limit-reached');
  });

  it('a key without the webhooks scope → 403 on every webhook and delivery route, GET included', async () => {
    const c = orgClient(s, 1);
    const w = await createWebhook(c, { name: 'scoped', url: PUBLIC_URL });
    const { key } = await s.createKey(['read', 'write', 'admin'], c.orgId);
    const routes = [
      ['GET', '/api/v1/webhooks'], ['POST', '/api/v1/webhooks', { name: 'x', url: PUBLIC_URL }],
      ['GET', `/api/v1/webhooks/${w.id}`], ['PATCH', `/api/v1/webhooks/${w.id}`, { name: 'y' }],
      ['PUT', `/api/v1/webhooks/${w.id}`, { name: 'y', url: PUBLIC_URL }], ['DELETE', `/api/v1/webhooks/${w.id}`],
      ['GET', `/api/v1/webhooks/${w.id}/secret`], ['POST', `/api/v1/webhooks/${w.id}/rotate-secret`, {}],
      ['POST', `/api/v1/webhooks/${w.id}/test`, {}], ['GET', `/api/v1/webhooks/${w.id}/deliveries`],
      ['POST', `/api/v1/webhooks/${w.id}/replay`, { since: '2020-01-01T00:00:00Z' }],
      ['GET', '/api/v1/deliveries'], ['GET', '/api/v1/deliveries/dlv_01JD0000000000000000000000'],
      ['POST', '/api/v1/deliveries/dlv_01JD0000000000000000000000/retry', {}],
    ];
    for (const [m, p, body] of routes) expectProblem(await s.api(m, p, { key, body }), 403, 'forbidden');
    // Nothing changed.
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}`);
    expectStatus(g, 200);
    assert.equal(g.body.name, 'scoped');
    // The webhooks scope alone is enough.
    const { key: only } = await s.createKey(['webhooks'], c.orgId);
    expectStatus(await s.api('GET', `/api/v1/webhooks/${w.id}`, { key: only }), 200);
  });

  it('another organization\'s subscription → 404 on every route, and its lists show nothing of it', async () => {
    const mine = orgClient(s, 0);
    const theirs = orgClient(s, 2);
    const w = await createWebhook(theirs, { name: 'private to org 2', url: PUBLIC_URL });
    for (const [m, p, body] of [
      ['GET', ''], ['PATCH', '', { name: 'x' }], ['PUT', '', { name: 'x', url: PUBLIC_URL }], ['DELETE', ''],
      ['GET', '/secret'], ['POST', '/rotate-secret', {}], ['POST', '/test', {}], ['GET', '/deliveries'],
      ['POST', '/replay', { since: '2020-01-01T00:00:00Z' }],
    ]) {
      expectProblem(await mine.api(m, `/api/v1/webhooks/${w.id}${p}`, { body }), 404, 'not-found');
    }
    const list = await listAllWebhooks(mine, '/api/v1/webhooks');
    assert.ok(!list.some((x) => x.id === w.id));
    const dl = await mine.api('GET', `/api/v1/deliveries?webhook_id=${w.id}`);
    expectStatus(dl, 200);
    assert.deepEqual(dl.body.results, []);
    const g = await theirs.api('GET', `/api/v1/webhooks/${w.id}`);
    expectStatus(g, 200);
    assert.equal(g.body.name, 'private to org 2');
  });
});
