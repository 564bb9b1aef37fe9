// The event catalog: GET /api/v1/event-types (WEBHOOKS.md §8, EVENTS.md) and api/event-types.json.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv7 from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import {
  startServer, expectStatus, expectProblem, allEvents, eventProblems, validateEvent, EVENT_TYPES_FILE,
} from './lib/server.mjs';
import { REPO_ROOT } from './lib/openapi.mjs';
import { runScenario, SCENARIO_ARGS } from './lib/event-scenario.mjs';

const EVENTS_MD = path.join(REPO_ROOT, '..', 'shared', 'spec', 'EVENTS.md');
const FILE = JSON.parse(readFileSync(EVENT_TYPES_FILE, 'utf8'));

// Keywords that draft 7 and 2020-12 read differently or that only one knows; `format` and `pattern`
// are left out too (the server may validate with a library whose regex engine is unsafe), and so
// is `$ref` (each schema is self-contained).
const FORBIDDEN = ['format', 'pattern', 'patternProperties', '$ref', '$id', '$schema', '$defs', 'definitions',
  'prefixItems', 'unevaluatedItems', 'unevaluatedProperties', 'dependentRequired', 'dependentSchemas', 'dependencies',
  '$dynamicRef', '$dynamicAnchor', '$recursiveRef', '$recursiveAnchor', '$anchor', '$vocabulary',
  'additionalItems', 'contains', 'minContains', 'maxContains'];

// Calls visit(node, path) on every schema object; `properties` maps field names to schemas, so a
// field may be called "format" without being the keyword.
function walkSchema(node, visit, p = '#') {
  if (Array.isArray(node)) { node.forEach((v, i) => walkSchema(v, visit, `${p}/${i}`)); return; }
  if (!node || typeof node !== 'object') return;
  visit(node, p);
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties') for (const [f, s] of Object.entries(v)) walkSchema(s, visit, `${p}/properties/${f}`);
    else if (k !== 'enum' && k !== 'const' && k !== 'default' && k !== 'examples') walkSchema(v, visit, `${p}/${k}`);
  }
}

/** The type names of EVENTS.md's table, in order (null when the spec is not beside the repository). */
function specTypes() {
  if (!existsSync(EVENTS_MD)) return null;
  const out = [];
  for (const line of readFileSync(EVENTS_MD, 'utf8').split('\n')) {
    if (!line.startsWith('| `')) continue;
    for (const m of line.split('|')[1].matchAll(/`([a-z_]+\.[a-z_]+)`/g)) out.push(m[1]);
  }
  return out;
}

/** Every key path of a value: objects by key, arrays as `[]`; the keys inside `custom_fields` are data, not shape. */
function keyPaths(value, prefix = 'data', out = new Set()) {
  if (Array.isArray(value)) {
    for (const v of value) keyPaths(v, `${prefix}[]`, out);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(`${prefix}.${k}`);
      if (k !== 'custom_fields') keyPaths(v, `${prefix}.${k}`, out);
    }
  }
  return out;
}

describe('GET /api/v1/event-types', () => {
  let s;
  let body;
  before(async () => {
    s = await startServer();
    body = expectStatus(await s.api('GET', '/api/v1/event-types'), 200);
  });
  after(async () => { await s?.stop(); });

  it('is exactly the catalog of EVENTS.md, in its order', (t) => {
    const types = body.results.map((r) => r.type);
    assert.equal(new Set(types).size, types.length, 'a type is listed twice');
    assert.deepEqual(types, FILE.types.map((x) => x.type), 'the served catalog is api/event-types.json');
    const spec = specTypes();
    if (!spec) {
      t.skip(`${EVENTS_MD} is absent: the comparison with EVENTS.md is skipped`);
      return;
    }
    assert.deepEqual(types, spec);
  });

  it('one page: count, next and previous null, each entry {type, version, description, schema, example}', () => {
    assert.deepEqual(Object.keys(body), ['count', 'next', 'previous', 'results']);
    assert.equal(body.count, body.results.length);
    assert.equal(body.next, null);
    assert.equal(body.previous, null);
    for (const [i, r] of body.results.entries()) {
      assert.deepEqual(Object.keys(r).sort(), ['description', 'example', 'schema', 'type', 'version'], r.type);
      const { example_source: source, ...served } = FILE.types[i];
      assert.deepEqual(r, served, `${r.type}: served as in the file, without example_source`);
      assert.ok(['api', 'written'].includes(source), `${r.type}: example_source ${source}`);
      assert.equal(r.version, '1', r.type);
      assert.match(r.type, /^[a-z][a-z_]*\.[a-z][a-z_]*$/);
      assert.ok(typeof r.description === 'string' && r.description.trim().length > 0, `${r.type}: description`);
    }
  });

  it('every schema compiles as draft 7 and 2020-12, self-contained, without format, pattern or keywords the two read differently', () => {
    const ajv7 = new Ajv7({ strict: true, strictTypes: false, allowUnionTypes: true });
    const ajv2020 = new Ajv2020({ strict: true, strictTypes: false, allowUnionTypes: true });
    for (const r of body.results) {
      assert.equal(r.schema.type, 'object', `${r.type}: data is an object`);
      walkSchema(r.schema, (node, p) => {
        for (const k of FORBIDDEN) if (Object.hasOwn(node, k)) assert.fail(`${r.type} ${p}: keyword ${k}`);
        if (node.type === 'object' || (Array.isArray(node.type) && node.type.includes('object'))) {
          if (node.properties && node.additionalProperties === undefined) assert.fail(`${r.type} ${p}: additionalProperties unset`);
          for (const f of node.required ?? []) assert.ok(node.properties?.[f], `${r.type} ${p}: required ${f} is not a property`);
        }
      });
      assert.doesNotThrow(() => ajv7.compile(r.schema), `${r.type}: draft 7`);
      assert.doesNotThrow(() => ajv2020.compile(r.schema), `${r.type}: 2020-12`);
    }
  });

  it('every example is a well-formed envelope of its type whose data matches the schema (by both drafts)', () => {
    const ajv7 = new Ajv7({ strict: false, allErrors: true });
    for (const r of body.results) {
      assert.equal(r.example.type, r.type);
      assert.equal(r.example.version, r.version);
      assert.deepEqual(eventProblems(r.example), [], r.type);
      const v7 = ajv7.compile(r.schema);
      assert.ok(v7(r.example.data), `${r.type} (draft 7): ${ajv7.errorsText(v7.errors)}`);
    }
  });

  it('the schemas reject what receivers must never get: an unknown field, a missing required field', () => {
    for (const r of body.results) {
      const extra = structuredClone(r.example);
      extra.data.not_a_field = 1;
      assert.notDeepEqual(eventProblems(extra), [], `${r.type}: an unknown data field passes`);
      const required = r.schema.required ?? [];
      if (required.length) {
        const missing = structuredClone(r.example);
        delete missing.data[required[0]];
        assert.notDeepEqual(eventProblems(missing), [], `${r.type}: data without ${required[0]} passes`);
      }
    }
    assert.throws(() => validateEvent({ ...body.results[0].example, version: '2' }), /version/);
    assert.throws(() => validateEvent({ ...body.results[0].example, type: 'learner.exploded' }), /not in the catalog/);
    assert.throws(() => validateEvent({ ...body.results[0].example, id: 'evt_1' }), /evt_/);
  });

  it('scope: read or webhooks; a key with only write → 403; no key → 401', async () => {
    for (const scopes of [['read'], ['webhooks']]) {
      const k = await s.createKey(scopes);
      const r = expectStatus(await s.api('GET', '/api/v1/event-types', { key: k.key }), 200);
      assert.equal(r.count, body.count, scopes.join());
    }
    const w = await s.createKey(['write']);
    expectProblem(await s.api('GET', '/api/v1/event-types', { key: w.key }), 403, 'forbidden');
    expectProblem(await s.api('GET', '/api/v1/event-types', { key: null }), 401, 'unauthenticated');
  });

  it('limit and cursor page through it like any list; bad parameters → 400', async () => {
    const first = expectStatus(await s.api('GET', '/api/v1/event-types?limit=10'), 200);
    assert.equal(first.results.length, 10);
    assert.equal(first.count, body.count);
    assert.equal(first.previous, null);
    assert.ok(first.next);
    const seen = [...first.results];
    let page = first;
    while (page.next) {
      page = expectStatus(await s.api('GET', page.next), 200);
      seen.push(...page.results);
    }
    assert.deepEqual(seen.map((r) => r.type), body.results.map((r) => r.type));
    const back = expectStatus(await s.api('GET', page.previous), 200);
    assert.deepEqual(back.results.map((r) => r.type), body.results.slice(body.count - page.results.length - 10, body.count - page.results.length).map((r) => r.type));
    assert.equal(expectStatus(await s.api('GET', '/api/v1/event-types?limit=500&count=exact'), 200).results.length, body.count);
    for (const q of ['limit=0', 'limit=501', 'limit=x', 'cursor=bm90LWEtY3Vyc29y', 'type=learner.created', 'updated_since=2026-01-01T00:00:00Z']) {
      expectProblem(await s.api('GET', `/api/v1/event-types?${q}`), 400, 'malformed');
    }
  });
});

describe('"api" examples have the shape the API produces today', () => {
  // The same operations as scripts/event-examples, so every "api" type is produced here.
  let s;
  let produced;
  before(async () => {
    s = await startServer({ args: SCENARIO_ARGS });
    produced = await runScenario(s);
  });
  after(async () => { await s?.stop(); });

  const apiTypes = FILE.types.filter((t) => t.example_source === 'api');

  it('the learner and webhook types (their resources exist) have examples from the API', () => {
    const existing = FILE.types.filter((t) => t.type.startsWith('learner.') || t.type.startsWith('webhook.'));
    assert.ok(existing.length >= 8);
    for (const t of existing) assert.equal(t.example_source, 'api', `${t.type}: run scripts/event-examples`);
  });

  for (const t of apiTypes) {
    it(`${t.type}: the example has the keys of the event the API produces now (else run scripts/event-examples)`, () => {
      const now = produced.get(t.type);
      assert.ok(now, `the scenario produced no ${t.type}`);
      validateEvent(now);
      assert.deepEqual([...keyPaths(t.example.data)].sort(), [...keyPaths(now.data)].sort(), `${t.type}: the example's data keys differ from the API's; run scripts/event-examples`);
      assert.deepEqual(Object.keys(t.example), Object.keys(now), `${t.type}: envelope keys`);
    });
  }
});
