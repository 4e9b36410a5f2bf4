// src/schema.d.ts is generated from the API's OpenAPI document with
// openapi-typescript, so the SDK's types are checked against the doc:
//   node scripts/schema.mjs          regenerate src/schema.d.ts
//   node scripts/schema.mjs --check  fail when the committed file differs
// The document: BANGER_OPENAPI, else ../../docs/openapi.yaml (the repository's).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import openapiTS, { astToString } from 'openapi-typescript';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const doc = resolve(process.env.BANGER_OPENAPI ?? resolve(pkg, '../../docs/openapi.yaml'));
const out = resolve(pkg, 'src/schema.d.ts');
const header =
  '// GENERATED from docs/openapi.yaml by scripts/schema.mjs (openapi-typescript): do not edit.\n' +
  '// Regenerate with `npm run gen-schema`; `npm run check-schema` fails when it is stale.\n\n';

let ast;
try {
  ast = await openapiTS(pathToFileURL(doc), { alphabetize: false, defaultNonNullable: false, emptyObjectsUnknown: true });
} catch (e) {
  console.error(`schema: cannot generate types from ${doc}: ${e.message ?? e}`);
  process.exit(1);
}
const text = header + astToString(ast);

if (process.argv.includes('--check')) {
  let committed = '';
  try {
    committed = readFileSync(out, 'utf8');
  } catch {
    // missing: differs
  }
  if (committed !== text) {
    console.error(`schema: src/schema.d.ts is not what ${doc} generates; run \`npm run gen-schema\` and commit it`);
    process.exit(1);
  }
  console.log('schema: src/schema.d.ts matches the OpenAPI document');
} else {
  writeFileSync(out, text);
  console.log(`schema: wrote src/schema.d.ts from ${doc}`);
}
