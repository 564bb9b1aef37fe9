// The OpenAPI document itself: valid OpenAPI 3.1, every schema compiles, request schemas stay in the
// subset that JSON Schema draft 7 and 2020-12 read alike (the server may use them at run time).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv7 from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { OPENAPI_PATH } from './lib/openapi.mjs';

const doc = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));

// Keywords whose meaning differs between draft 7 and 2020-12, or that only one of them knows.
const NOT_PORTABLE = ['prefixItems', 'unevaluatedItems', 'unevaluatedProperties', 'dependentRequired',
  'dependentSchemas', '$dynamicRef', '$dynamicAnchor', '$recursiveRef', '$recursiveAnchor', '$defs',
  'dependencies', 'additionalItems', 'contains', 'minContains', 'maxContains', '$anchor', '$vocabulary'];

function walk(node, visit, path = '#') {
  if (Array.isArray(node)) node.forEach((v, i) => walk(v, visit, `${path}/${i}`));
  else if (node && typeof node === 'object') {
    visit(node, path);
    for (const [k, v] of Object.entries(node)) walk(v, visit, `${path}/${k}`);
  }
}

function schemaRefsFrom(name, seen = new Set()) {
  if (seen.has(name)) return seen;
  seen.add(name);
  walk(doc.components.schemas[name], (n) => {
    if (typeof n.$ref === 'string') schemaRefsFrom(n.$ref.split('/').pop(), seen);
  });
  return seen;
}

function requestSchemaNames() {
  const names = new Set();
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      const s = op?.requestBody?.content?.['application/json']?.schema;
      if (s?.$ref) for (const n of schemaRefsFrom(s.$ref.split('/').pop())) names.add(n);
    }
  }
  return names;
}

describe('api/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const v = new Validator();
    const res = await v.validate(structuredClone(doc));
    assert.equal(res.valid, true, JSON.stringify(res.errors, null, 2));
    assert.equal(v.version, '3.1');
    assert.deepEqual(doc.servers, [{ url: '/' }]);
  });

  it('every $ref resolves', () => {
    walk(doc, (n, path) => {
      if (typeof n.$ref !== 'string') return;
      assert.match(n.$ref, /^#\//, `${path}: external $ref`);
      let cur = doc;
      for (const seg of n.$ref.slice(2).split('/')) {
        cur = cur?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
      }
      assert.ok(cur !== undefined, `${path}: dangling ${n.$ref}`);
      assert.deepEqual(Object.keys(n), ['$ref'], `${path}: siblings beside $ref`);
    });
  });

  it('every component schema compiles with ajv (2020-12, formats)', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    for (const name of Object.keys(doc.components.schemas)) {
      assert.doesNotThrow(() => ajv.getSchema(`openapi.json#/components/schemas/${name}`), name);
      assert.ok(ajv.getSchema(`openapi.json#/components/schemas/${name}`), name);
    }
  });

  it('request schemas: no format, no pattern, only keywords draft 7 and 2020-12 read alike', () => {
    const names = requestSchemaNames();
    assert.ok(names.has('LearnerIn') && names.has('LearnerPatch') && names.has('ApiKeyIn') && names.has('BulkLearnersIn'));
    const ajv7 = new Ajv7({ strict: true, strictTypes: false, allowUnionTypes: true });
    ajv7.addSchema({ $id: 'req.json', definitions: Object.fromEntries([...names].map((n) => [n, doc.components.schemas[n]])) });
    for (const name of names) {
      walk(doc.components.schemas[name], (n, path) => {
        for (const k of ['format', 'pattern', ...NOT_PORTABLE]) {
          // `properties` maps field names, which may legitimately be called "format" etc.
          if (Object.hasOwn(n, k) && !path.endsWith('/properties')) assert.fail(`${name}${path.slice(1)}: keyword ${k}`);
        }
        if (Array.isArray(n.type)) assert.ok(n.type.every((t) => typeof t === 'string'));
      });
      // Compiles as draft 7 too (refs rewritten to the draft-7 location).
      const s7 = JSON.parse(JSON.stringify(doc.components.schemas[name]).replaceAll('#/components/schemas/', 'req.json#/definitions/'));
      assert.doesNotThrow(() => ajv7.compile(s7), name);
    }
  });

  it('every operation declares its scope and its error responses', () => {
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const [m, op] of Object.entries(item)) {
        if (m === 'parameters') continue;
        assert.ok(op.operationId, `${m} ${p}: operationId`);
        if (p.startsWith('/api/v1/')) {
          assert.ok(Array.isArray(op['x-scopes']) && op['x-scopes'].length === 1, `${m} ${p}: x-scopes`);
          assert.match(op.description, new RegExp(`Scope: \`${op['x-scopes'][0]}\``), `${m} ${p}: scope in description`);
          for (const s of ['401', '403', '429']) assert.ok(op.responses[s], `${m} ${p}: ${s}`);
          if (op.requestBody) for (const s of ['400', '413', '415', '422']) assert.ok(op.responses[s], `${m} ${p}: ${s}`);
          if (m === 'post') assert.ok(op.parameters.some((x) => x.$ref?.endsWith('/IdempotencyKey')), `${m} ${p}: Idempotency-Key`);
        } else {
          assert.deepEqual(op.security, [], `${m} ${p}: public`);
        }
      }
    }
  });
});
