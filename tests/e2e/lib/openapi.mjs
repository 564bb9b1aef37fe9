// Loads api/openapi.json and validates responses against it with ajv (JSON Schema 2020-12).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const OPENAPI_PATH = path.join(REPO_ROOT, 'api', 'openapi.json');
export const doc = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: 'openapi.json', components: doc.components });

function deref(obj) {
  let cur = obj;
  for (let i = 0; cur && cur.$ref && i < 10; i++) {
    let t = doc;
    for (const seg of cur.$ref.slice(2).split('/')) t = t[seg];
    cur = t;
  }
  return cur;
}

const compiled = new Map();
function compile(schema) {
  const key = JSON.stringify(schema);
  let fn = compiled.get(key);
  if (!fn) {
    // Relative $refs in a response schema point into the document.
    const s = JSON.parse(key.replaceAll('"#/components/', '"openapi.json#/components/'));
    fn = ajv.compile(s);
    compiled.set(key, fn);
  }
  return fn;
}

/** Validates `body` against an arbitrary component schema; returns null or an error string. */
export function checkSchema(schemaName, body) {
  const fn = compile({ $ref: `#/components/schemas/${schemaName}` });
  return fn(body) ? null : ajv.errorsText(fn.errors, { dataVar: schemaName });
}

// Template path ("/api/v1/learners/{id}") for a concrete path, or null.
const templates = Object.keys(doc.paths).map((t) => ({
  t, re: new RegExp('^' + t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}|\{[^}]+\}/g, '[^/]+') + '$'),
}));
export function matchPath(concrete) {
  const p = concrete.split('?')[0];
  // Prefer literal templates over templated ones (`/learners/bulk` over `/learners/{id}`).
  const hits = templates.filter((x) => x.re.test(p));
  hits.sort((a, b) => (a.t.match(/\{/g) || []).length - (b.t.match(/\{/g) || []).length);
  return hits[0]?.t ?? null;
}

export function operation(templatePath, method) {
  const item = doc.paths[templatePath];
  return item ? item[method.toLowerCase()] ?? null : null;
}

/**
 * Checks one response against the document: the status must be documented for the operation,
 * the media type must be the documented one, required headers present, and the body must match the schema.
 * `headers` is optional (a Headers object or a plain object with lower-case names).
 * Returns a list of problems (empty when it conforms).
 */
export function conformance(operationPath, method, status, body, { headers, contentType } = {}) {
  const errs = [];
  const tpl = doc.paths[operationPath] ? operationPath : matchPath(operationPath);
  const op = tpl && operation(tpl, method);
  if (!op) return [`${method} ${operationPath}: not a documented operation`];
  const resp = deref(op.responses[String(status)] ?? op.responses.default);
  if (!resp) return [`${method} ${tpl}: status ${status} is not documented (documented: ${Object.keys(op.responses).join(', ')})`];
  const getHeader = (n) => (headers ? (typeof headers.get === 'function' ? headers.get(n) : headers[n.toLowerCase()]) : undefined);
  if (headers) {
    for (const [name, h0] of Object.entries(resp.headers ?? {})) {
      const h = deref(h0);
      const v = getHeader(name);
      if (v == null) { if (h.required) errs.push(`${method} ${tpl} ${status}: missing header ${name}`); continue; }
      if (h.schema) {
        const fn = compile(h.schema);
        if (!fn(v)) errs.push(`${method} ${tpl} ${status}: header ${name}: ${JSON.stringify(v)} ${ajv.errorsText(fn.errors)}`);
      }
    }
  }
  const content = resp.content;
  const ct = contentType ?? getHeader?.('content-type') ?? null;
  if (!content) {
    if (body !== undefined && body !== null && body !== '') errs.push(`${method} ${tpl} ${status}: documented without a body, got one`);
    return errs;
  }
  const media = ct ? ct.split(';')[0].trim().toLowerCase() : null;
  if (ct !== undefined && headers) {
    if (!media || !content[media]) errs.push(`${method} ${tpl} ${status}: content-type ${ct} not documented (${Object.keys(content).join(', ')})`);
  }
  const mt = content[media] ?? Object.values(content)[0];
  if (mt.schema) {
    const fn = compile(mt.schema);
    if (!fn(body)) errs.push(`${method} ${tpl} ${status}: body does not match schema: ${ajv.errorsText(fn.errors, { dataVar: 'body' })}; body=${JSON.stringify(body).slice(0, 2000)}`);
  }
  return errs;
}

/** Throws when the body does not match the response schema of operation+status. */
export function validate(operationPath, method, status, body, opts = {}) {
  const errs = conformance(operationPath, method, status, body, opts);
  if (errs.length) throw new Error('OpenAPI conformance:\n  ' + errs.join('\n  '));
}
