/**
 * GET /containers/json filters, as dockerd applies them: values of one key are OR-ed,
 * different keys AND-ed.
 */
import { invalidParameter } from '../util/errors.js';
import { isActive, type ContainerRecord } from './model.js';
import { compareText } from '../util/compare.js';

export const CONTAINER_FILTER_KEYS = ['id', 'name', 'label', 'status', 'ancestor', 'exited', 'before', 'since', 'health', 'isolation', 'network', 'volume', 'publish', 'expose', 'is-task'] as const;

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];

export interface ListOptions {
  all: boolean;
  limit?: number;
  filters: Map<string, string[]>;
  /** Resolves an image reference to its ID for `ancestor`; undefined when unknown. */
  imageIdOf: (ref: string) => string | undefined;
  /** Resolves a container reference for `before`/`since`. */
  containerOf: (ref: string) => ContainerRecord;
}

export function matchesLabel(labels: Record<string, string>, wanted: string): boolean {
  const eq = wanted.indexOf('=');
  if (eq < 0) return Object.hasOwn(labels, wanted);
  return labels[wanted.slice(0, eq)] === wanted.slice(eq + 1);
}

export function filterContainers(records: ContainerRecord[], options: ListOptions): ContainerRecord[] {
  const f = options.filters;
  for (const status of f.get('status') ?? []) {
    if (!STATUSES.includes(status)) throw invalidParameter(`invalid filter 'status=${status}'`);
  }
  const exitCodes = (f.get('exited') ?? []).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw invalidParameter(`invalid filter 'exited=${v}'`);
    return n;
  });
  // Newest first, as dockerd lists them.
  let list = [...records].sort((a, b) => Date.parse(b.created) - Date.parse(a.created) || compareText(b.id, a.id));

  const before = f.get('before')?.[0];
  const since = f.get('since')?.[0];
  if (before) {
    const ref = options.containerOf(before);
    list = list.filter((r) => Date.parse(r.created) < Date.parse(ref.created));
  }
  if (since) {
    const ref = options.containerOf(since);
    list = list.filter((r) => Date.parse(r.created) > Date.parse(ref.created));
  }
  const ancestors = (f.get('ancestor') ?? []).map((ref) => options.imageIdOf(ref) ?? `unknown:${ref}`);
  const explicitStatus = f.has('status') || f.has('exited');

  list = list.filter((r) => {
    if (!options.all && !(options.limit !== undefined && options.limit > 0) && !explicitStatus && !before && !since && !isActive(r.state.status)) return false;
    const ids = f.get('id');
    if (ids && !ids.some((v) => r.id.startsWith(v))) return false;
    const names = f.get('name');
    if (names && !names.some((v) => new RegExp(v.replace(/^\//, '')).test(r.name))) return false;
    const labels = f.get('label');
    if (labels && !labels.every((v) => matchesLabel(r.config.Labels ?? {}, v))) return false;
    const statuses = f.get('status');
    if (statuses && !statuses.includes(r.state.status)) return false;
    if (exitCodes.length && (r.state.status !== 'exited' || !exitCodes.includes(r.state.exitCode))) return false;
    if (ancestors.length && !ancestors.includes(r.image)) return false;
    return true;
  });
  if (options.limit !== undefined && options.limit > 0) list = list.slice(0, options.limit);
  return list;
}
