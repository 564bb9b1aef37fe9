// One scripted scenario that makes the API produce an event of every type whose resource exists:
// scripts/event-examples writes its outputs into api/event-types.json as the "api" examples, and
// tests/e2e/event-types.test.mjs checks that those examples still have the shape the API produces.
// Everything but ids, times and ports is the same on every run.
import { expectStatus, allEvents } from './server.mjs';
import { startReceiver } from './receiver.mjs';

/** The serve flags the scenario needs: its receiver listens on 127.0.0.1. */
export const SCENARIO_ARGS = ['--allowed-private-networks', '127.0.0.0/8'];

const STEP_MS = 60_000; // the manual clock moves a minute between steps: readable timestamps

async function until(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The operations, in order: [description, async (server, state) => void]. The webhook steps come
// first and the erasure next: erasing scrubs every stored event of the erased learner, so that
// learner's learner.created must not be the newest one.
const STEPS = [
  ['a subscription whose receiver says 410 Gone', async (s, st) => {
    await st.rx.setMode('/warehouse', { status: 410 });
    st.gone = expectStatus(await s.api('POST', '/api/v1/webhooks', {
      body: { name: 'Data warehouse', url: st.rx.url('/warehouse'), event_types: ['learner.created'] },
    }), 201);
  }],
  ['a test send to it (webhook.test)', async (s, st) => {
    const t = expectStatus(await s.api('POST', `/api/v1/webhooks/${st.gone.id}/test`, { body: {} }), 200);
    st.test = expectStatus(await s.api('GET', `/api/v1/deliveries/${t.delivery_id}`), 200).event;
  }],
  ['a learner whose delivery disables it (webhook.disabled)', async (s, st) => {
    expectStatus(await s.api('POST', '/api/v1/learners', {
      body: { email: 'alan.turing@example.com', firstname: 'Alan', lastname: 'Turing' },
    }), 201);
    await until('webhook.disabled', async () => (await s.api('GET', '/api/v1/events?type=webhook.disabled')).body.results.length);
  }],
  ['create a learner to erase', async (s, st) => {
    st.grace = expectStatus(await s.api('POST', '/api/v1/learners', {
      body: { email: 'grace.hopper@example.com', firstname: 'Grace', lastname: 'Hopper', external_id: 'HR-1906' },
    }), 201);
  }],
  ['erase it (learner.erased)', async (s, st) => { expectStatus(await s.api('POST', `/api/v1/learners/${st.grace.id}/erase`), 200); }],
  ['create a learner with custom fields and an external id', async (s, st) => {
    st.ada = expectStatus(await s.api('POST', '/api/v1/learners', {
      body: {
        email: 'ada.lovelace@example.com', firstname: 'Ada', lastname: 'Lovelace', username: 'ada', language: 'en',
        external_id: 'HR-1815', custom_fields: { team: 'analytics', level: 3, mentor: false },
      },
    }), 201);
  }],
  ['change two of its fields', async (s, st) => {
    expectStatus(await s.api('PATCH', `/api/v1/learners/${st.ada.id}`, {
      body: { lastname: 'King', custom_fields: { team: 'research', level: 4, mentor: true } },
    }), 200);
  }],
  ['ban it', async (s, st) => { expectStatus(await s.api('POST', `/api/v1/learners/${st.ada.id}/ban`), 200); }],
  ['unban it', async (s, st) => { expectStatus(await s.api('POST', `/api/v1/learners/${st.ada.id}/unban`), 200); }],
  ['delete it', async (s, st) => { expectStatus(await s.api('DELETE', `/api/v1/learners/${st.ada.id}`), 204); }],
];

/**
 * Runs the scenario on a manual-clock server started with SCENARIO_ARGS; resolves a Map from
 * event type to the newest envelope of that type (webhook.test, which the feed leaves out, as its
 * delivery shows it).
 */
export async function runScenario(server) {
  const rx = await startReceiver();
  const state = { rx };
  try {
    for (const [what, step] of STEPS) {
      try {
        await step(server, state);
      } catch (e) {
        e.message = `scenario step "${what}": ${e.message}`;
        throw e;
      }
      await server.advanceClock(STEP_MS);
    }
  } finally {
    await rx.stop();
  }
  const newest = new Map();
  for (const e of await allEvents(server)) newest.set(e.type, e); // oldest first: the last one wins
  newest.set('webhook.test', state.test);
  return newest;
}
