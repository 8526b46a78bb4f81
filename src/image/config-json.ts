/**
 * Serialises image configs byte for byte the way dockerd does, because the image ID is the
 * sha256 of these bytes: top-level keys sorted (moby marshals the image through a map),
 * container configs in Go struct field order with Go's `omitempty` rules, map-typed fields
 * with sorted keys, and Go's HTML-safe escaping of <, > and &.
 */
import type { ImageConfig, ImageContainerConfig, ImageHistoryEntry } from './types.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Field order of moby's container.Config; `true` marks `omitempty` fields. */
const CONTAINER_CONFIG_FIELDS: ReadonlyArray<readonly [keyof ImageContainerConfig | 'NetworkDisabled' | 'MacAddress' | 'StopTimeout', boolean]> = [
  ['Hostname', false],
  ['Domainname', false],
  ['User', false],
  ['AttachStdin', false],
  ['AttachStdout', false],
  ['AttachStderr', false],
  ['ExposedPorts', true],
  ['Tty', false],
  ['OpenStdin', false],
  ['StdinOnce', false],
  ['Env', false],
  ['Cmd', false],
  ['Healthcheck', true],
  ['ArgsEscaped', true],
  ['Image', false],
  ['Volumes', false],
  ['WorkingDir', false],
  ['Entrypoint', false],
  ['NetworkDisabled', true],
  ['MacAddress', true],
  ['OnBuild', false],
  ['Labels', false],
  ['StopSignal', true],
  ['StopTimeout', true],
  ['Shell', true],
];

const ZERO_VALUES: Record<string, Json> = {
  Hostname: '',
  Domainname: '',
  User: '',
  AttachStdin: false,
  AttachStdout: false,
  AttachStderr: false,
  Tty: false,
  OpenStdin: false,
  StdinOnce: false,
  Env: null,
  Cmd: null,
  Image: '',
  Volumes: null,
  WorkingDir: '',
  Entrypoint: null,
  OnBuild: null,
  Labels: null,
};

const MAP_FIELDS = new Set(['ExposedPorts', 'Volumes', 'Labels']);
const HEALTHCHECK_FIELDS = ['Test', 'Interval', 'Timeout', 'StartPeriod', 'Retries'] as const;
const HISTORY_FIELDS = ['created', 'author', 'created_by', 'comment', 'empty_layer'] as const;

/** The all-zero container.Config as Go marshals it (what `docker import` stores). */
export function emptyContainerConfig(): ImageContainerConfig {
  return { ...(ZERO_VALUES as ImageContainerConfig) };
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '' || value === 0) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value as object).length === 0;
  return false;
}

function sortedObject(value: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const key of Object.keys(value).sort()) out[key] = value[key]!;
  return out;
}

function orderHealthcheck(value: Record<string, Json>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const key of HEALTHCHECK_FIELDS) if (!isEmpty(value[key])) out[key] = value[key]!;
  return out;
}

/** Go field order and omitempty; unknown fields are kept after the known ones. */
export function orderContainerConfig(config: ImageContainerConfig): Record<string, Json> {
  const source = config as unknown as Record<string, Json | undefined>;
  const out: Record<string, Json> = {};
  const known = new Set<string>();
  for (const [field, omitEmpty] of CONTAINER_CONFIG_FIELDS) {
    known.add(field);
    const value = source[field];
    if (omitEmpty && isEmpty(value)) continue;
    if (value === undefined) {
      out[field] = ZERO_VALUES[field] ?? null;
      continue;
    }
    if (field === 'Healthcheck' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out[field] = orderHealthcheck(value);
    } else if (MAP_FIELDS.has(field) && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      out[field] = sortedObject(value);
    } else {
      out[field] = value;
    }
  }
  for (const key of Object.keys(source).sort()) {
    if (!known.has(key) && source[key] !== undefined) out[key] = source[key]!;
  }
  return out;
}

function orderHistory(entry: ImageHistoryEntry): Record<string, Json> {
  const source = entry as unknown as Record<string, Json | undefined>;
  const out: Record<string, Json> = {};
  for (const key of HISTORY_FIELDS) if (!isEmpty(source[key])) out[key] = source[key]!;
  return out;
}

function goJsonEscape(text: string): string {
  return text.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The exact bytes dockerd would store for this config. */
export function encodeImageConfig(config: ImageConfig): Buffer {
  const source = config as unknown as Record<string, Json | undefined>;
  const top: Record<string, Json> = {};
  for (const key of Object.keys(source).sort()) {
    const value = source[key];
    if (value === undefined) continue;
    if (key === 'config' || key === 'container_config') {
      top[key] = orderContainerConfig(value as unknown as ImageContainerConfig);
    } else if (key === 'history' && Array.isArray(value)) {
      top[key] = (value as unknown as ImageHistoryEntry[]).map(orderHistory);
    } else if (key === 'rootfs' && value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const rootfs: Record<string, Json> = { type: value['type'] ?? 'layers' };
      const diffIds = value['diff_ids'];
      if (Array.isArray(diffIds) && diffIds.length > 0) rootfs['diff_ids'] = diffIds;
      top[key] = rootfs;
    } else {
      top[key] = value;
    }
  }
  return Buffer.from(goJsonEscape(JSON.stringify(top)), 'utf8');
}

/** Go's time.Time JSON form (RFC 3339 with trailing fractional zeros trimmed), UTC. */
export function goTimeString(date: Date): string {
  const iso = date.toISOString(); // 2024-01-02T03:04:05.120Z
  return iso.replace(/\.(\d*?)0*Z$/, (_, digits: string) => (digits === '' ? 'Z' : `.${digits}Z`));
}

/** Parses a config blob, filling what the type promises but older blobs may omit. */
export function decodeImageConfig(bytes: Buffer): ImageConfig {
  const parsed = JSON.parse(bytes.toString('utf8')) as Partial<ImageConfig> & Record<string, unknown>;
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('image config is not a JSON object');
  const rootfs = parsed.rootfs ?? { type: 'layers', diff_ids: [] };
  return {
    ...parsed,
    architecture: parsed.architecture ?? '',
    os: parsed.os ?? '',
    config: parsed.config ?? {},
    rootfs: { type: 'layers', diff_ids: Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : [] },
  } as ImageConfig;
}
