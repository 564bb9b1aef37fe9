// Delivery as a receiver sees it (WEBHOOKS.md §2 body, §3 headers, §4 Matching): one POST per event
// and subscription, the envelope of GET /events/{id}, Standard Webhooks headers and signatures, the
// legacy signature, basic auth and custom headers, and which subscriptions an event goes to.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, validateEvent } from './lib/server.mjs';
import { startReceiver, verifyStandardWebhook, legacySignatureOk } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, deliveriesOf, waitForDelivery,
  deliveryFor, expectedSignature, signaturesOf, bodyBytes, serverNow, ed25519SignatureOk,
} from './lib/webhooks.mjs';

describe('webhook delivery', () => {
  let s, rx;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 14, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('a learner created through the API reaches the receiver once: the envelope, the headers, valid signatures', async () => {
    const c = nextOrg();
    const p = uniquePath('basic');
    const w = await createWebhook(c, { name: 'CRM', url: rx.url(p) });
    const { event } = await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    const now = await serverNow(s);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, p);
    // The body: exactly the envelope GET /events/{id} returns, and it conforms to the catalog.
    const g = await c.api('GET', `/api/v1/events/${event.id}`);
    expectStatus(g, 200);
    assert.deepEqual(req.json, g.body);
    assert.deepEqual(req.json, event);
    validateEvent(req.json, { organizationId: c.orgId });
    assert.equal(req.json.type, 'learner.created');
    assert.deepEqual(req.json.actor, { type: 'api_key', id: c.keyId });
    assert.ok(bodyBytes(req).equals(Buffer.from(bodyBytes(req).toString('utf8'), 'utf8')), 'the body is valid UTF-8');
    // The headers.
    const h = req.headers;
    assert.equal(h['content-type'], 'application/json');
    assert.match(h['user-agent'], /^Learnwire-Webhooks\/\S+$/);
    assert.equal(h['webhook-id'], event.id);
    assert.match(h['webhook-timestamp'], /^\d+$/);
    assert.ok(Math.abs(Number(h['webhook-timestamp']) - now / 1000) <= 2, `webhook-timestamp ${h['webhook-timestamp']} vs the server's now ${now / 1000}`);
    assert.equal(h['x-learnwire-event'], 'learner.created');
    assert.equal(h['x-learnwire-attempt'], '1');
    assert.equal(h.authorization, undefined);
    const d = await deliveryFor(c, w.id, event.id);
    assert.match(d.id, /^dlv_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(h['x-learnwire-delivery'], d.id);
    // Signatures: the Standard Webhooks reference library, by hand, and the legacy scheme.
    assert.deepEqual(verifyStandardWebhook(w.secret, req), g.body);
    assert.deepEqual(signaturesOf(req), [expectedSignature(w.secret, req)]);
    assert.ok(legacySignatureOk(w.secret, req), `x-learnwire-signature ${h['x-learnwire-signature']} is not sha256=hex(HMAC(key, body))`);
    // Exactly once, and recorded as succeeded after one attempt.
    const done = await waitForDelivery(c, d.id, (x) => x.state === 'succeeded');
    assert.equal(done.attempt_count, 1);
    assert.equal(done.last_status, 200);
    assert.equal(done.last_error, null);
    assert.equal(done.next_attempt_at, null);
    assert.equal(done.event_type, 'learner.created');
    assert.equal((await rx.requests(p)).length, 1);
  });

  it('a signature made with another secret does not verify', async () => {
    const c = nextOrg();
    const p = uniquePath('wrong-secret');
    await createWebhook(c, { name: 'a', url: rx.url(p) });
    const other = await createWebhook(c, { name: 'unused', url: rx.url(uniquePath('unused')), active: false });
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    assert.throws(() => verifyStandardWebhook(other.secret, req));
    assert.equal(legacySignatureOk(other.secret, req), false);
  });

  it('basic_auth sends Authorization: Basic; custom headers are sent as given', async () => {
    const c = nextOrg();
    const p = uniquePath('auth');
    await createWebhook(c, { name: 'auth', url: rx.url(p), basic_auth: { username: 'hr-system', password: 'pa:ss-word' }, headers: { 'X-Api-Token': 'tok-123', 'x-tenant': 'acme\tcorp' } });
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('hr-system:pa:ss-word').toString('base64')}`);
    assert.equal(req.headers['x-api-token'], 'tok-123');
    assert.equal(req.headers['x-tenant'], 'acme\tcorp');
    // The signature still verifies with custom headers present.
    assert.ok(req.headers['webhook-signature'].startsWith('v1,'));
  });

  it('"********" keeps a write-only value: the stored password and header values still go out', async () => {
    const c = nextOrg();
    const p = uniquePath('masked');
    const w = await createWebhook(c, { name: 'masked', url: rx.url(p), basic_auth: { username: 'u1', password: 'secret-pw' }, headers: { 'x-api-token': 'tok-keep' } });
    const r = await c.api('PUT', `/api/v1/webhooks/${w.id}`, { body: { name: 'masked 2', url: rx.url(p), basic_auth: { username: 'u1', password: '********' }, headers: { 'x-api-token': '********' } } });
    expectStatus(r, 200);
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    assert.equal(req.headers.authorization, `Basic ${Buffer.from('u1:secret-pw').toString('base64')}`);
    assert.equal(req.headers['x-api-token'], 'tok-keep');
  });

  it('legacy_signature: false → no x-learnwire-signature; webhook-signature is still sent and valid', async () => {
    const c = nextOrg();
    const p = uniquePath('no-legacy');
    const w = await createWebhook(c, { name: 'modern', url: rx.url(p), legacy_signature: false });
    assert.equal(w.legacy_signature, false);
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    assert.equal(req.headers['x-learnwire-signature'], undefined);
    verifyStandardWebhook(w.secret, req);
  });

  it('event_types: exact, family and * match; other types and families do not', async () => {
    const c = nextOrg();
    const subs = {};
    for (const [label, types] of [['exact', ['learner.created']], ['family', ['learner.*']], ['all', ['*']], ['empty', []],
      ['other-type', ['learner.deleted']], ['other-family', ['enrollment.*']], ['lookalike', ['path_enrollment.*']]]) {
      const p = uniquePath(`types-${label}`);
      subs[label] = { p, w: await createWebhook(c, { name: label, url: rx.url(p), event_types: types }) };
    }
    const { learner, event } = await createLearnerWithEvent(c);
    for (const label of ['exact', 'family', 'all', 'empty']) {
      const [req] = await rx.waitFor(1, { path: subs[label].p });
      assert.equal(req.json.id, event.id, label);
    }
    // Fan-out happens in the event's transaction: the lists are final once the request has answered.
    for (const label of ['other-type', 'other-family', 'lookalike']) {
      assert.deepEqual(await deliveriesOf(c, subs[label].w.id), [], `${label} got a delivery`);
    }
    // An update goes to the family and * subscriptions, not to the exact learner.created one.
    expectStatus(await c.api('PATCH', `/api/v1/learners/${learner.id}`, { body: { lastname: 'Changed' } }), 200);
    for (const label of ['family', 'all', 'empty']) {
      const reqs = await rx.waitFor(2, { path: subs[label].p });
      assert.equal(reqs[1].json.type, 'learner.updated', label);
      validateEvent(reqs[1].json, { organizationId: c.orgId });
    }
    assert.equal((await deliveriesOf(c, subs.exact.w.id)).length, 1);
    for (const label of ['other-type', 'other-family', 'lookalike']) assert.equal((await rx.requests(subs[label].p)).length, 0, label);
  });

  it('exclude_actor_ids: events caused by an excluded key are not delivered, those of another key are', async () => {
    const c = nextOrg();
    const other = await s.createKey(['read', 'write'], c.orgId);
    const p = uniquePath('exclude');
    const w = await createWebhook(c, { name: 'not my own changes', url: rx.url(p), filters: { exclude_actor_ids: [c.keyId] } });
    const mine = await createLearnerWithEvent(c);
    const theirs = await createLearnerWithEvent(c, {}, { key: other.key });
    assert.deepEqual(theirs.event.actor, { type: 'api_key', id: other.id });
    const [req] = await rx.waitFor(1, { path: p });
    assert.equal(req.json.id, theirs.event.id);
    const list = await deliveriesOf(c, w.id);
    assert.deepEqual(list.map((d) => d.event_id), [theirs.event.id]);
    assert.ok(!list.some((d) => d.event_id === mine.event.id));
  });

  it('an inactive subscription gets nothing', async () => {
    const c = nextOrg();
    const p = uniquePath('inactive');
    const w = await createWebhook(c, { name: 'off', url: rx.url(p), active: false });
    const pOn = uniquePath('active');
    await createWebhook(c, { name: 'on', url: rx.url(pOn) });
    await createLearnerWithEvent(c);
    await rx.waitFor(1, { path: pOn });
    assert.deepEqual(await deliveriesOf(c, w.id), []);
    assert.equal((await rx.requests(p)).length, 0);
  });

  it('"active at commit": a subscription created after an event gets nothing for it, only later events', async () => {
    const c = nextOrg();
    const before1 = await createLearnerWithEvent(c);
    const p = uniquePath('late');
    const w = await createWebhook(c, { name: 'late', url: rx.url(p) });
    const after1 = await createLearnerWithEvent(c);
    const reqs = await rx.waitFor(1, { path: p });
    assert.equal(reqs[0].json.id, after1.event.id);
    const list = await deliveriesOf(c, w.id);
    assert.deepEqual(list.map((d) => d.event_id), [after1.event.id]);
    assert.ok(!list.some((d) => d.event_id === before1.event.id));
  });

  it('two subscriptions: each gets its own delivery (distinct ids), the same event id, its own signature', async () => {
    const c = nextOrg();
    const pa = uniquePath('two-a');
    const pb = uniquePath('two-b');
    const a = await createWebhook(c, { name: 'a', url: rx.url(pa) });
    const b = await createWebhook(c, { name: 'b', url: rx.url(pb) });
    const { event } = await createLearnerWithEvent(c);
    const [[ra], [rb]] = await Promise.all([rx.waitFor(1, { path: pa }), rx.waitFor(1, { path: pb })]);
    assert.equal(ra.headers['webhook-id'], event.id);
    assert.equal(rb.headers['webhook-id'], event.id);
    assert.notEqual(ra.headers['x-learnwire-delivery'], rb.headers['x-learnwire-delivery']);
    const da = await deliveryFor(c, a.id, event.id);
    const db = await deliveryFor(c, b.id, event.id);
    assert.equal(ra.headers['x-learnwire-delivery'], da.id);
    assert.equal(rb.headers['x-learnwire-delivery'], db.id);
    verifyStandardWebhook(a.secret, ra);
    verifyStandardWebhook(b.secret, rb);
    assert.throws(() => verifyStandardWebhook(b.secret, ra));
    for (const r of [ra, rb]) validateEvent(r.json, { organizationId: c.orgId });
    // GET /deliveries?event_id lists both.
    const all = await c.api('GET', `/api/v1/deliveries?event_id=${event.id}`);
    expectStatus(all, 200);
    assert.deepEqual(all.body.results.map((d) => d.id).sort(), [da.id, db.id].sort());
  });

  it('every event type a learner goes through is delivered, each body valid against the catalog', async () => {
    const c = nextOrg();
    const p = uniquePath('lifecycle');
    await createWebhook(c, { name: 'all', url: rx.url(p) });
    const { learner } = await createLearnerWithEvent(c);
    expectStatus(await c.api('PATCH', `/api/v1/learners/${learner.id}`, { body: { firstname: 'Renamed' } }), 200);
    expectStatus(await c.api('POST', `/api/v1/learners/${learner.id}/ban`), 200);
    expectStatus(await c.api('POST', `/api/v1/learners/${learner.id}/unban`), 200);
    expectStatus(await c.api('DELETE', `/api/v1/learners/${learner.id}`), 204);
    const reqs = await rx.waitFor(5, { path: p });
    assert.deepEqual(reqs.map((r) => r.json.type).sort(), ['learner.banned', 'learner.created', 'learner.deleted', 'learner.unbanned', 'learner.updated']);
    for (const r of reqs) {
      validateEvent(r.json, { organizationId: c.orgId });
      assert.equal(r.headers['x-learnwire-event'], r.json.type);
      assert.equal(r.headers['webhook-id'], r.json.id);
      const g = await c.api('GET', `/api/v1/events/${r.json.id}`);
      assert.deepEqual(r.json, g.body);
    }
  });

  it('ed25519: webhook-signature is v1a,<base64 Ed25519 signature> of "{id}.{timestamp}.{body}", verified with the public key', async () => {
    const c = nextOrg();
    const p = uniquePath('ed25519');
    const w = await createWebhook(c, { name: 'ed', url: rx.url(p), signature_scheme: 'ed25519' });
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    const sigs = signaturesOf(req);
    assert.equal(sigs.length, 1);
    assert.match(sigs[0], /^v1a,[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(req.headers['x-learnwire-signature'], undefined, 'the legacy header is hmac only');
    assert.ok(ed25519SignatureOk(w.public_key, req, sigs[0]), 'the Ed25519 signature does not verify');
    // Another key, or another body, does not verify: the check can fail.
    const other = await createWebhook(c, { name: 'ed2', url: rx.url(uniquePath('ed25519-other')), signature_scheme: 'ed25519' });
    assert.notEqual(other.public_key, w.public_key);
    assert.equal(ed25519SignatureOk(other.public_key, req, sigs[0]), false);
    assert.equal(ed25519SignatureOk(w.public_key, { ...req, body_base64: Buffer.from(`${bodyBytes(req)} `).toString('base64') }, sigs[0]), false);
  });
});
