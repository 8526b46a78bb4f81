/**
 * Validation of one compose file (after interpolation) against the Compose Specification's
 * published JSON schema (vendored in schema/, see its README). The validator is made once, on
 * first use, so commands that never load a file do not pay for it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ComposeError } from './errors.js';

let compiled: ValidateFunction | undefined;

/** The Ajv options, shared with the build-time code generator so both validate alike. */
export const AJV_OPTIONS = { allErrors: false, strict: false, validateSchema: false } as const;

/** Next to the bundle (the build dir's root): the validator compiled to code at build time. */
export const PREBUILT_VALIDATOR = 'compose-spec-validator.cjs';

/** The first `names` found in this module's directory or one above it. */
function findUp(names: string[]): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const name of names) if (existsSync(join(dir, name))) return join(dir, name);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The schema lives in the source tree; the CLI runs from a bundle elsewhere in the repository,
 * so look for it relative to each directory above this module.
 */
export function schemaPath(): string {
  const path = findUp(['schema/compose-spec.json', 'src/compose/schema/compose-spec.json']);
  if (!path) throw new Error('compose-spec.json not found: the compose schema ships in src/compose/schema/');
  return path;
}

export function schemaDigest(schemaText: string): string {
  return createHash('sha256').update(schemaText).digest('hex');
}

/** The schema as Ajv compiles it. */
export function parseSchema(schemaText: string): Record<string, unknown> {
  const schema = JSON.parse(schemaText) as Record<string, unknown>;
  // The schema names draft-07 by an https URL ajv does not know; its meta-schema check adds nothing here.
  delete schema.$schema;
  return schema;
}

/**
 * Compiling the schema costs ~100 ms per CLI run, so the build writes the compiled validator as
 * code (scripts/build.mjs, validator-codegen.ts). It is used only if it was made from the schema
 * that is there now; otherwise (a tsc-only build, an edited schema) the schema is compiled here.
 */
function prebuiltValidator(schemaText: string): ValidateFunction | undefined {
  const file = findUp([PREBUILT_VALIDATOR]);
  if (!file) return undefined;
  const mod = createRequire(import.meta.url)(file) as ValidateFunction & { schemaSha256?: string };
  return typeof mod === 'function' && mod.schemaSha256 === schemaDigest(schemaText) ? mod : undefined;
}

/**
 * The fallback: Ajv itself, required only here so that its code is neither in the CLI bundle
 * nor parsed by runs that use the prebuilt validator.
 */
function compileSchema(schemaText: string): ValidateFunction {
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  return new Ajv(AJV_OPTIONS).compile(parseSchema(schemaText));
}

function validator(): ValidateFunction {
  if (!compiled) {
    const schemaText = readFileSync(schemaPath(), 'utf8');
    compiled = prebuiltValidator(schemaText) ?? compileSchema(schemaText);
  }
  return compiled;
}

/** "/services/web/ports/0" -> "services.web.ports[0]", using the document to tell indexes from keys. */
export function keyPath(doc: unknown, pointer: string): string {
  let node = doc;
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      out += `[${seg}]`;
      node = node[Number(seg)];
    } else {
      out += out ? `.${seg}` : seg;
      node = node && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function describe(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'additionalProperties':
      return `additional property "${String(p.additionalProperty)}" is not allowed`;
    case 'required':
      return `missing required property "${String(p.missingProperty)}"`;
    case 'type':
      return `must be ${Array.isArray(p.type) ? (p.type as string[]).join(' or ') : String(p.type)}`;
    case 'enum':
      return `must be one of: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'oneOf':
    case 'anyOf':
      return 'does not match any allowed form';
    default:
      return err.message ?? `is invalid (${err.keyword})`;
  }
}

/**
 * The types the alternatives at one value allow, in the schema's order. "null" (the key may be
 * left empty) is named only when it is the sole choice: "must be null" helps nobody.
 */
function allowedTypes(errors: ErrorObject[]): string[] {
  const types: string[] = [];
  for (const e of errors) {
    if (e.keyword !== 'type') continue;
    const t = (e.params as { type: string | string[] }).type;
    for (const name of Array.isArray(t) ? t : String(t).split(',')) if (!types.includes(name)) types.push(name);
  }
  const useful = types.filter((t) => t !== 'null');
  return useful.length > 0 ? useful : types;
}

/** Throws a ComposeError naming the file and key of the most specific schema violation. */
export function validateAgainstSchema(doc: unknown, file: string): void {
  const validate = validator();
  if (validate(doc)) return;
  const errors = validate.errors ?? [];
  // Under oneOf, the deepest error points at the value the user actually got wrong.
  const depth = (e: ErrorObject): number => e.instancePath.split('/').length;
  const deepest = Math.max(...errors.map(depth));
  const atValue = errors.filter((e) => depth(e) === deepest);
  // At one value, a oneOf leaves one error per alternative: an error other than a type mismatch
  // comes from the alternative whose type matched (the one the user meant); otherwise the value
  // has none of the allowed types, and all of them are worth naming.
  const specific = atValue.find((e) => e.keyword !== 'type' && e.keyword !== 'oneOf' && e.keyword !== 'anyOf');
  const best = specific ?? atValue[0];
  if (!best) throw new ComposeError('does not match the compose schema', { file });
  const types = specific ? [] : allowedTypes(atValue);
  let key = keyPath(doc, best.instancePath);
  if (best.keyword === 'additionalProperties' && !key) key = String((best.params as Record<string, unknown>).additionalProperty);
  const msg = best.keyword === 'additionalProperties' && key === String((best.params as Record<string, unknown>).additionalProperty)
    ? 'additional property is not allowed at the top level'
    : types.length > 1
      ? `must be ${types.join(' or ')}`
      : describe(best);
  throw new ComposeError(msg, { file, key: key || undefined });
}
