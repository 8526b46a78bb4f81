/**
 * Shape checks for the create body: dockerd's JSON decoder refuses a field of the wrong type
 * with a 400 that names it, before anything is created.
 */
import { invalidParameter } from '../util/errors.js';

type Json = Record<string, unknown>;

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function wrongType(field: string, want: string, value: unknown): Error {
  return invalidParameter(`json: cannot unmarshal ${typeName(value)} into Go struct field ${field} of type ${want}`);
}

export function optionalString(obj: Json, key: string, field: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw wrongType(field, 'string', v);
  return v;
}

export function optionalBool(obj: Json, key: string, field: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw wrongType(field, 'bool', v);
  return v;
}

export function optionalInt(obj: Json, key: string, field: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType(field, 'int', v);
  return v;
}

export function optionalStringArray(obj: Json, key: string, field: string): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((item) => typeof item !== 'string')) throw wrongType(field, '[]string', v);
  return v as string[];
}

/** Docker's StrSlice: a JSON string or an array of strings (Cmd, Entrypoint). null = unset. */
export function optionalStrSlice(obj: Json, key: string, field: string): string[] | null | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.some((item) => typeof item !== 'string')) throw wrongType(field, 'strslice.StrSlice', v);
  return v as string[];
}

export function optionalStringMap(obj: Json, key: string, field: string): Record<string, string> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== 'string')) {
    throw wrongType(field, 'map[string]string', v);
  }
  return v as Record<string, string>;
}

export function optionalObject(obj: Json, key: string, field: string): Json | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw wrongType(field, 'object', v);
  return v as Json;
}
