// Loading docs/openapi.yaml for the conformance test: the document, an ajv
// (JSON Schema 2020-12, as OpenAPI 3.1 uses) holding every component schema,
// and the document's operations as "METHOD PATTERN ACCESS" entries.
import {readFileSync} from 'node:fs';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

// Where ajv keeps the component schemas (an absolute URI, so refs resolve).
export const kBase = "https://banger.invalid/openapi/schemas/";
export const kMethods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

export function loadSpec(path) {
  const text = readFileSync(path, 'utf8');
  const doc = YAML.parse(text, {maxAliasCount: -1});
  return {text, doc};
}

// An ajv with every components.schemas entry added as "schemas/<Name>",
// strict: an unknown keyword or a malformed schema in the document is an
// error here, not a schema that silently accepts everything.
export function makeAjv(doc) {
  const ajv = new Ajv2020({strict: true, allErrors: true, strictRequired: true, strictTypes: false});
  addFormats(ajv);
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    ajv.addSchema({...rebase(schema), $id: `${kBase}${name}`});
  }
  for (const name of Object.keys(doc.components.schemas)) {
    if (!ajv.getSchema(`${kBase}${name}`)) throw new Error(`schema ${name} does not compile`);
  }
  return ajv;
}

// A schema of the document (which $refs "#/components/schemas/X") as ajv
// holds it ("schemas/X").
export function rebase(schema) {
  return JSON.parse(JSON.stringify(schema), (k, v) =>
    k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
      ? `${kBase}${v.slice('#/components/schemas/'.length)}`
      : v);
}

export function resolve(doc, obj) {
  let o = obj;
  while (o && o.$ref) {
    o = o.$ref.slice(2).split('/').reduce((a, k) => a[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return o;
}

// Every operation: {method, path, access, listener, stream, op}.
export function operations(doc) {
  const out = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of kMethods) {
      const op = item[m];
      if (!op) continue;
      out.push({
        method: m.toUpperCase(),
        path,
        access: op['x-banger-access'],
        listener: op['x-banger-listener'] || 'api',
        stream: op['x-banger-stream'],
        op,
        item,
      });
    }
  }
  return out;
}
