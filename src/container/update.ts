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

/**
 * The fields an update body really changes. The docker CLI sends every resource field, the ones
 * the user didn't give as 0 or "", and dockerd (Container.UpdateContainer) reads 0/"" as
 * "unchanged"; so does berth. PidsLimit is a pointer there: absent/null is unchanged, and any
 * value <= 0 means unlimited (dockerd's update route turns 0 and negatives into unlimited).
 */
function changedFields(body: Record<string, unknown>): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const field of UPDATABLE_FIELDS) {
    const value = body[field];
    if (value === undefined || value === null || value === 0 || value === '') continue;
    given[field] = field === 'PidsLimit' && typeof value === 'number' && value < 0 ? -1 : value;
  }
  if (body.PidsLimit === 0) given.PidsLimit = -1;
  return given;
}

export async function updateContainer(record: ContainerRecord, body: Record<string, unknown>, options: UpdateOptions): Promise<string[]> {
  const given = changedFields(body);
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
  // Unlimited is -1 for runc (it writes "max"); dockerd records it as 0, which a later start
  // reads as "no limit" too.
  if (given.PidsLimit === -1) record.hostConfig.PidsLimit = 0;
  if (policy) record.hostConfig.RestartPolicy = policy;
  return warnings;
}
