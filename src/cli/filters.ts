import type { Filters } from '../client/types.js';
import { FlagError } from './flags.js';

/** `-f key=value` repeated -> docker's {"key": {"value": true}} filter encoding. */
export function parseFilters(values: readonly string[]): Filters {
  const out: Filters = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new FlagError(`invalid argument "${v}" for "-f, --filter" flag: bad format of filter (expected name=value)`);
    const key = v.slice(0, eq).trim().toLowerCase();
    const value = v.slice(eq + 1);
    (out[key] ??= {})[value] = true;
  }
  return out;
}
