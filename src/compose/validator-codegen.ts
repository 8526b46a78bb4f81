/**
 * Build-time only (scripts/build.mjs): the compose schema compiled by Ajv and written out as a
 * CommonJS module, so the CLI loads a validator instead of compiling the schema on every run.
 * The module records the digest of the schema it came from; validate.ts uses it only while
 * that digest still matches the schema file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';
import { AJV_OPTIONS, PREBUILT_VALIDATOR, parseSchema, schemaDigest, schemaPath } from './validate.js';

// ajv's standalone module is CommonJS whose module.exports is the function itself.
const standaloneCode = createRequire(import.meta.url)('ajv/dist/standalone') as (ajv: Ajv, validate: ValidateFunction) => string;

export function writePrebuiltValidator(outDir: string): string {
  const schemaText = readFileSync(schemaPath(), 'utf8');
  const ajv = new Ajv({ ...AJV_OPTIONS, code: { source: true, esm: false } });
  const code = standaloneCode(ajv, ajv.compile(parseSchema(schemaText)));
  const out = join(outDir, PREBUILT_VALIDATOR);
  writeFileSync(out, `${code}\nmodule.exports.schemaSha256 = ${JSON.stringify(schemaDigest(schemaText))};\n`);
  return out;
}
