import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { AJV_OPTIONS, parseSchema, schemaDigest, schemaPath } from '../../src/compose/validate.js';
import { writePrebuiltValidator } from '../../src/compose/validator-codegen.js';

// Inside the build dir, as in use: the generated module requires ajv's runtime from node_modules above it.
const dir = mkdtempSync(join(dirname(fileURLToPath(import.meta.url)), '.validator-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Documents the two validators must judge alike, errors included: valid ones and each kind of
// mistake validate.ts turns into a message (additionalProperties, required, type, enum, oneOf).
const DOCS: unknown[] = [
  { services: { web: { image: 'busybox', ports: ['80:80'], environment: { A: '1' } } } },
  { services: { web: { image: 'busybox', bogus: 1 } } },
  { services: { web: { image: 'busybox', ports: [{ target: 80, mode: 7 }] } } },
  { services: { web: { image: 'busybox', restart: 3 } } },
  { services: { web: { image: 'busybox', depends_on: { db: { condition: 'sometimes' } } } } },
  { services: { web: { image: 'busybox', healthcheck: { test: 5 } } } },
  { volumes: { data: { driver: ['local'] } } },
  { networks: { n: { ipam: { config: [{ subnet: 1 }] } } } },
  { nonsense: true },
];

test('the build-time validator judges documents exactly as the schema compiled at run time', () => {
  const text = readFileSync(schemaPath(), 'utf8');
  const file = writePrebuiltValidator(dir);
  const prebuilt = createRequire(import.meta.url)(file) as ValidateFunction & { schemaSha256?: string };
  assert.equal(prebuilt.schemaSha256, schemaDigest(text), 'the module records the digest of the schema it came from');
  const compiled = new Ajv(AJV_OPTIONS).compile(parseSchema(text));
  let invalid = 0;
  for (const doc of DOCS) {
    const a = prebuilt(doc);
    const b = compiled(doc);
    assert.equal(a, b, `same verdict for ${JSON.stringify(doc)}`);
    assert.deepEqual(prebuilt.errors ?? null, compiled.errors ?? null, `same errors for ${JSON.stringify(doc)}`);
    if (!a) invalid++;
  }
  assert.equal(invalid, DOCS.length - 1, 'every document but the first is invalid');
});
