// Secrets and their rotation (WEBHOOKS.md §1 secret, §3 webhook-signature "for each active secret,
// newest first", §6 GET /secret and POST /rotate-secret).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, expectStatus, expectProblem } from './lib/server.mjs';
import { startReceiver, legacySignatureOk } from './lib/receiver.mjs';
import {
  LOCAL_RECEIVER_ARGS, orgClient, uniquePath, createWebhook, createLearnerWithEvent, isWellFormedSecret,
  expectedSignature, signaturesOf, serverNow, verifyStandardWebhookAt, ed25519SignatureOk,
} from './lib/webhooks.mjs';

/** The request with only one of its signatures, so the reference library checks that one alone. */
const withOnlySignature = (req, sig) => ({ ...req, headers: { ...req.headers, 'webhook-signature': sig } });

describe('webhook secrets and rotation', () => {
  let s, rx;
  let org = 0;
  const nextOrg = () => orgClient(s, org++);
  before(async () => {
    [s, rx] = await Promise.all([startServer({ orgs: 10, args: LOCAL_RECEIVER_ARGS }), startReceiver()]);
  });
  after(async () => { await Promise.all([s?.stop(), rx?.stop()]); });

  it('rotate-secret → a new secret and previous_expires_at = now + 86,400 s; GET /secret lists the old one', async () => {
    const c = nextOrg();
    const w = await createWebhook(c, { name: 'rotating', url: rx.url(uniquePath('rot')) });
    const g0 = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    expectStatus(g0, 200);
    assert.deepEqual(g0.body, { secret: w.secret, previous: [] });
    const now = await serverNow(s);
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`); // no body counts as {}
    expectStatus(r, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['previous_expires_at', 'secret']);
    assert.ok(isWellFormedSecret(r.body.secret), r.body.secret);
    assert.notEqual(r.body.secret, w.secret);
    assert.equal(Date.parse(r.body.previous_expires_at), now + 86_400_000);
    const g1 = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    expectStatus(g1, 200);
    assert.deepEqual(g1.body, { secret: r.body.secret, previous: [{ secret: w.secret, expires_at: r.body.previous_expires_at }] });
    // The subscription itself never shows a secret.
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}`);
    assert.ok(!g.text.includes(r.body.secret.slice(6)) && !g.text.includes(w.secret.slice(6)));
  });

  it('during the overlap a delivery carries two v1 signatures, newest first, each valid; after it, one', async () => {
    const c = nextOrg();
    const p = uniquePath('overlap');
    const w = await createWebhook(c, { name: 'overlap', url: rx.url(p) });
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: {} });
    expectStatus(r, 200);
    const fresh = r.body.secret;
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    const sigs = signaturesOf(req);
    assert.equal(sigs.length, 2, `webhook-signature: ${req.headers['webhook-signature']}`);
    assert.deepEqual(sigs, [expectedSignature(fresh, req), expectedSignature(w.secret, req)]);
    // Each verifies on its own with the reference library, with its own secret only.
    const now = await serverNow(s);
    verifyStandardWebhookAt(fresh, withOnlySignature(req, sigs[0]), now);
    verifyStandardWebhookAt(w.secret, withOnlySignature(req, sigs[1]), now);
    assert.throws(() => verifyStandardWebhookAt(w.secret, withOnlySignature(req, sigs[0]), now));
    // A receiver that knows only one of the secrets verifies the whole header.
    verifyStandardWebhookAt(fresh, req, now);
    verifyStandardWebhookAt(w.secret, req, now);
    // The legacy header uses the newest secret.
    assert.ok(legacySignatureOk(fresh, req));
    assert.equal(legacySignatureOk(w.secret, req), false);
    // Past the overlap only the new secret signs, and GET /secret no longer lists the old one.
    await s.advanceClock(86_400_000 + 1000);
    await createLearnerWithEvent(c);
    const [, later] = await rx.waitFor(2, { path: p });
    assert.deepEqual(signaturesOf(later), [expectedSignature(fresh, later)]);
    verifyStandardWebhookAt(fresh, later, await serverNow(s));
    assert.throws(() => verifyStandardWebhookAt(w.secret, later, Number(later.headers['webhook-timestamp']) * 1000));
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    assert.deepEqual(g.body, { secret: fresh, previous: [] });
  });

  it('ed25519 rotation: a new key pair, both v1a signatures during the overlap (verified by node:crypto), then one', async () => {
    const c = nextOrg();
    const p = uniquePath('ed-rot');
    const w = await createWebhook(c, { name: 'ed rotating', url: rx.url(p), signature_scheme: 'ed25519' });
    const now = await serverNow(s);
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: { overlap_s: 3600 } });
    expectStatus(r, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ['previous_expires_at', 'public_key']);
    assert.notEqual(r.body.public_key, w.public_key);
    assert.equal(Date.parse(r.body.previous_expires_at), now + 3_600_000);
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    assert.deepEqual(g.body, { public_key: r.body.public_key, previous: [{ public_key: w.public_key, expires_at: r.body.previous_expires_at }] });
    assert.equal((await c.api('GET', `/api/v1/webhooks/${w.id}`)).body.public_key, r.body.public_key);
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    const sigs = signaturesOf(req);
    assert.equal(sigs.length, 2, req.headers['webhook-signature']);
    assert.ok(ed25519SignatureOk(r.body.public_key, req, sigs[0]), 'the newest key signs first');
    assert.ok(ed25519SignatureOk(w.public_key, req, sigs[1]), 'the previous key signs second');
    assert.equal(ed25519SignatureOk(w.public_key, req, sigs[0]), false);
    // Past the overlap only the new key signs.
    await s.advanceClock(3_600_000 + 1000);
    await createLearnerWithEvent(c);
    const [, later] = await rx.waitFor(2, { path: p });
    assert.equal(signaturesOf(later).length, 1);
    assert.ok(ed25519SignatureOk(r.body.public_key, later, signaturesOf(later)[0]));
  });

  it('changing signature_scheme: the new scheme signs first, the old one beside it for 24 h', async () => {
    const c = nextOrg();
    const p = uniquePath('scheme');
    const w = await createWebhook(c, { name: 'switching', url: rx.url(p) });
    const u = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { signature_scheme: 'ed25519' } });
    expectStatus(u, 200);
    assert.equal(u.body.signature_scheme, 'ed25519');
    assert.match(u.body.public_key, /^whpk_/);
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    assert.equal(g.body.public_key, u.body.public_key);
    assert.equal(g.body.previous.length, 1);
    assert.equal(g.body.previous[0].secret, w.secret, 'the old HMAC secret still signs');
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    const sigs = signaturesOf(req);
    assert.equal(sigs.length, 2, req.headers['webhook-signature']);
    assert.ok(ed25519SignatureOk(u.body.public_key, req, sigs[0]));
    assert.equal(sigs[1], expectedSignature(w.secret, req), 'a receiver still on HMAC verifies');
    verifyStandardWebhookAt(w.secret, req, await serverNow(s));
    assert.equal(req.headers['x-learnwire-signature'], undefined, 'the legacy header is hmac-sha256 only');
    // And back: a fresh HMAC secret (shown by GET /secret), the key pair signing beside it.
    const back = await c.api('PATCH', `/api/v1/webhooks/${w.id}`, { body: { signature_scheme: 'hmac-sha256' } });
    expectStatus(back, 200);
    assert.equal(back.body.public_key, null);
    const g2 = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    assert.ok(isWellFormedSecret(g2.body.secret));
    assert.notEqual(g2.body.secret, w.secret);
    assert.deepEqual(g2.body.previous.map((x) => x.public_key ?? x.secret), [u.body.public_key, w.secret]);
  });

  it('overlap_s: 0 retires the old secret at once; 604,800 is the maximum; beyond → 422', async () => {
    const c = nextOrg();
    const p = uniquePath('overlap-0');
    const w = await createWebhook(c, { name: 'no overlap', url: rx.url(p) });
    const now = await serverNow(s);
    const long = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: { overlap_s: 604_800 } });
    expectStatus(long, 200);
    assert.equal(Date.parse(long.body.previous_expires_at), now + 604_800_000);
    for (const overlap_s of [604_801, -1, 'soon', 1.5]) {
      const p422 = expectProblem(await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: { overlap_s } }), 422, 'validation');
      assert.ok(p422.errors.some((e) => e.field === 'overlap_s'), JSON.stringify(p422.errors));
    }
    expectProblem(await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: { overlap: 5 } }), 422, 'validation');
    const zero = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: { overlap_s: 0 } });
    expectStatus(zero, 200);
    await s.advanceClock(1000);
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    // The secret rotated with overlap 0 signs no more; the first one (7 days) still does.
    assert.deepEqual(signaturesOf(req), [expectedSignature(zero.body.secret, req), expectedSignature(w.secret, req)]);
  });

  it('at most 5 previous secrets keep signing', async () => {
    const c = nextOrg();
    const p = uniquePath('many');
    const w = await createWebhook(c, { name: 'many rotations', url: rx.url(p) });
    const secrets = [w.secret];
    for (let i = 0; i < 7; i++) {
      const r = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: {} });
      expectStatus(r, 200);
      secrets.push(r.body.secret);
    }
    const g = await c.api('GET', `/api/v1/webhooks/${w.id}/secret`);
    expectStatus(g, 200);
    assert.equal(g.body.secret, secrets[7]);
    assert.equal(g.body.previous.length, 5);
    assert.deepEqual(g.body.previous.map((x) => x.secret).sort(), secrets.slice(2, 7).sort());
    await createLearnerWithEvent(c);
    const [req] = await rx.waitFor(1, { path: p });
    const sigs = signaturesOf(req);
    assert.equal(sigs.length, 6);
    assert.deepEqual(sigs, secrets.slice(2).reverse().map((sec) => expectedSignature(sec, req)));
  });

  it('a rotation while a delivery is being retried: the retry is signed with the secrets of attempt time', async () => {
    const c = nextOrg();
    const p = uniquePath('rot-retry');
    await rx.setMode(p, { sequence: [{ status: 500 }, { status: 200 }] });
    const w = await createWebhook(c, { name: 'rot retry', url: rx.url(p), retry_policy: { jitter: 0 } });
    await createLearnerWithEvent(c);
    const [first] = await rx.waitFor(1, { path: p, settled: true });
    assert.deepEqual(signaturesOf(first), [expectedSignature(w.secret, first)]);
    const r = await c.api('POST', `/api/v1/webhooks/${w.id}/rotate-secret`, { body: {} });
    expectStatus(r, 200);
    await s.advanceClock(2000);
    const [, second] = await rx.waitFor(2, { path: p });
    assert.equal(second.headers['x-learnwire-attempt'], '2');
    assert.deepEqual(signaturesOf(second), [expectedSignature(r.body.secret, second), expectedSignature(w.secret, second)]);
  });
});
