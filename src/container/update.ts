/**
 * `docker update`: new resource limits and restart policy for an existing container. Limits
 * are checked like at create, applied to a running container's cgroups first (so a refused
 * change leaves the record as it was), then recorded for later runs.
 */
import { invalidParameter, isBerthError } from '../util/errors.js';
import type { ContainerRecord, RestartPolicy } from './model.js';
import { normalizeResources, readResources, toOciResources, UPDATABLE_FIELDS, validateResources, type HostLimits } from './resources.js';

const RESTART_NAMES = ['', 'no', 'always', 'unless-stopped', 'on-failure'];

export interface UpdateOptions {
  host: HostLimits;
  /** Writes the limits into the running container's cgroups; absent when it isn't running. */
  apply?: (resources: Record<string, unknown>) => Promise<void>;
}

function readRestartPolicy(raw: unknown, record: ContainerRecord): RestartPolicy | undefined {
  if (raw === undefined || raw === null) return undefined;
  const policy = raw as Record<string, unknown>;
  const name = typeof policy.Name === 'string' ? policy.Name : '';
  if (!RESTART_NAMES.includes(name)) throw invalidParameter(`invalid restart policy '${name}'`);
  const max = typeof policy.MaximumRetryCount === 'number' ? policy.MaximumRetryCount : 0;
  if (max < 0) throw invalidParameter('invalid restart policy: maximum retry count cannot be negative');
  if (max > 0 && name !== 'on-failure') throw invalidParameter(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  if (record.hostConfig.AutoRemove && name !== '' && name !== 'no') {
    throw invalidParameter('Restart policy cannot be updated because AutoRemove is enabled for the container');
  }
  return { Name: name as RestartPolicy['Name'], MaximumRetryCount: max };
}

export async function updateContainer(record: ContainerRecord, body: Record<string, unknown>, options: UpdateOptions): Promise<string[]> {
  const given: Record<string, unknown> = {};
  for (const field of UPDATABLE_FIELDS) if (body[field] !== undefined && body[field] !== null) given[field] = body[field];
  const current = normalizeResources(readResources(record.hostConfig));
  const next = normalizeResources(readResources(given, current));
  // dockerd: a new memory limit above the swap limit already set needs the swap updated too.
  if (given.Memory !== undefined && given.MemorySwap === undefined && current.MemorySwap > 0 && next.Memory > current.MemorySwap) {
    throw invalidParameter('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  const warnings = validateResources(next, options.host);
  const policy = readRestartPolicy(body.RestartPolicy, record);
  if (options.apply && Object.keys(given).length > 0) {
    try {
      await options.apply(toOciResources(next));
    } catch (err) {
      const message = isBerthError(err) ? err.message : String(err);
      throw invalidParameter(`Cannot update container ${record.id}: ${message}`);
    }
  }
  Object.assign(record.hostConfig, next);
  if (policy) record.hostConfig.RestartPolicy = policy;
  return warnings;
}
