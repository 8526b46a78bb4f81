/**
 * HostConfig resource fields: their validation with dockerd's messages, and their translation to
 * the OCI spec's linux.resources and process.rlimits (runc writes the cgroup v1 files from those).
 * Pure: the host's facts (CPUs, memory nodes, the daemon's rlimits) come in as arguments.
 */
import { invalidParameter } from '../util/errors.js';
import { hostCpuFacts, parseCpuList, type HostCpuFacts } from '../runtime/cgroups.js';
import { normalizeRlimitType, readHostRlimits, type RlimitValue } from '../runtime/rlimits.js';
import { parseSecurityOpts, type SecurityOptions } from './security.js';
import { optionalBool, optionalInt, optionalString } from './validate.js';

/** dockerd refuses memory limits under 6 MiB: the container could not even start. */
export const MIN_MEMORY = 6 * 1024 * 1024;
/** docker's --cpus becomes a CFS quota over this period. */
export const NANO_CPU_PERIOD = 100_000;

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** The resource fields of HostConfig (docker's Resources struct) that berth applies. */
export interface Resources {
  Memory: number;
  MemorySwap: number;
  MemoryReservation: number;
  MemorySwappiness?: number | null;
  OomKillDisable: boolean;
  NanoCpus: number;
  CpuShares: number;
  CpuQuota: number;
  CpuPeriod: number;
  CpusetCpus: string;
  CpusetMems: string;
  PidsLimit: number | null;
  Ulimits: Ulimit[] | null;
}

export type ResourceField = keyof Resources;

const INT_FIELDS = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpuQuota', 'CpuPeriod'] as const;

/** Reads and type-checks the resource fields of a HostConfig (or an update body). */
export function readResources(raw: Record<string, unknown>, base?: Resources): Resources {
  const out: Resources = base
    ? { ...base }
    : {
        Memory: 0,
        MemorySwap: 0,
        MemoryReservation: 0,
        OomKillDisable: false,
        NanoCpus: 0,
        CpuShares: 0,
        CpuQuota: 0,
        CpuPeriod: 0,
        CpusetCpus: '',
        CpusetMems: '',
        PidsLimit: null,
        Ulimits: null,
      };
  for (const field of INT_FIELDS) {
    const value = optionalInt(raw, field, `HostConfig.${field}`);
    if (value !== undefined) out[field] = value;
  }
  const swappiness = optionalInt(raw, 'MemorySwappiness', 'HostConfig.MemorySwappiness');
  if (swappiness !== undefined) out.MemorySwappiness = swappiness;
  const oom = optionalBool(raw, 'OomKillDisable', 'HostConfig.OomKillDisable');
  if (oom !== undefined) out.OomKillDisable = oom;
  const cpus = optionalString(raw, 'CpusetCpus', 'HostConfig.CpusetCpus');
  if (cpus !== undefined) out.CpusetCpus = cpus;
  const mems = optionalString(raw, 'CpusetMems', 'HostConfig.CpusetMems');
  if (mems !== undefined) out.CpusetMems = mems;
  const pids = optionalInt(raw, 'PidsLimit', 'HostConfig.PidsLimit');
  if (pids !== undefined) out.PidsLimit = pids;
  if (raw.Ulimits !== undefined && raw.Ulimits !== null) out.Ulimits = readUlimits(raw.Ulimits);
  return out;
}

function readUlimits(value: unknown): Ulimit[] {
  if (!Array.isArray(value)) throw invalidParameter('json: cannot unmarshal into Go struct field HostConfig.Ulimits of type []*units.Ulimit');
  return value.map((item: unknown) => {
    const u = (item ?? {}) as Record<string, unknown>;
    if (typeof u.Name !== 'string' || !Number.isInteger(u.Soft) || !Number.isInteger(u.Hard)) {
      throw invalidParameter(`invalid ulimit: ${JSON.stringify(item)}`);
    }
    return { Name: u.Name, Soft: u.Soft as number, Hard: u.Hard as number };
  });
}

/** docker's normalisation before validating: swap defaults to twice the memory, pids <= 0 is unlimited. */
export function normalizeResources(r: Resources): Resources {
  const out = { ...r };
  if (out.Memory > 0 && out.MemorySwap === 0) out.MemorySwap = out.Memory * 2;
  if (out.PidsLimit !== null && out.PidsLimit <= 0) out.PidsLimit = out.PidsLimit === 0 ? null : -1;
  return out;
}

export interface HostLimits {
  cpu: HostCpuFacts;
  /** The daemon's own rlimits; a container's hard limit can't exceed them without CAP_SYS_RESOURCE. */
  rlimits: Record<string, RlimitValue>;
}

function checkCpuset(value: string, available: string, what: 'cpus' | 'mems'): void {
  if (value === '') return;
  const wanted = parseCpuList(value);
  if (!wanted) throw invalidParameter(`Invalid value ${value} for cpuset ${what}`);
  const have = new Set(parseCpuList(available) ?? []);
  if (wanted.some((n) => !have.has(n))) {
    throw invalidParameter(
      what === 'cpus'
        ? `Requested CPUs are not available - requested ${value}, available: ${available}`
        : `Requested memory nodes are not available - requested ${value}, available: ${available}`,
    );
  }
}

/** dockerd's checks (verifyPlatformContainerResources), same messages; returns its warnings. */
export function validateResources(r: Resources, host: HostLimits): string[] {
  const warnings: string[] = [];
  if (r.Memory !== 0 && r.Memory < MIN_MEMORY) throw invalidParameter('Minimum memory limit allowed is 6MB');
  if (r.Memory < 0) throw invalidParameter('Minimum memory limit allowed is 6MB');
  if (r.MemorySwap > 0 && r.Memory === 0) {
    throw invalidParameter('You should always set the Memory limit when using Memoryswap limit, see usage');
  }
  if (r.MemorySwap > 0 && r.MemorySwap < r.Memory) {
    throw invalidParameter('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (r.MemorySwappiness !== undefined && r.MemorySwappiness !== null && r.MemorySwappiness !== -1 && (r.MemorySwappiness < 0 || r.MemorySwappiness > 100)) {
    throw invalidParameter(`Invalid value: ${r.MemorySwappiness}, valid memory swappiness range is 0-100`);
  }
  if (r.MemoryReservation !== 0 && r.MemoryReservation < MIN_MEMORY) throw invalidParameter('Minimum memory reservation allowed is 6MB');
  if (r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation) {
    throw invalidParameter('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (r.OomKillDisable && r.Memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  if (r.NanoCpus > 0 && r.CpuPeriod > 0) throw invalidParameter('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (r.NanoCpus > 0 && r.CpuQuota > 0) throw invalidParameter('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  const ncpu = host.cpu.onlineCpus;
  if (r.NanoCpus < 0 || (r.NanoCpus > 0 && (r.NanoCpus < 1e9 / 100 || r.NanoCpus > ncpu * 1e9))) {
    throw invalidParameter(`Range of CPUs is from 0.01 to ${ncpu}.00, as there are only ${ncpu} CPUs available`);
  }
  if (r.CpuPeriod !== 0 && (r.CpuPeriod < 1000 || r.CpuPeriod > 1_000_000)) {
    throw invalidParameter('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  if (r.CpuQuota > 0 && r.CpuQuota < 1000) throw invalidParameter('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (r.CpuShares < 0) throw invalidParameter(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`);
  checkCpuset(r.CpusetCpus, host.cpu.cpus, 'cpus');
  checkCpuset(r.CpusetMems, host.cpu.mems, 'mems');
  for (const u of r.Ulimits ?? []) validateUlimit(u, host.rlimits);
  return warnings;
}

const KNOWN_ULIMITS = new Set(['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack', 'as']);

function validateUlimit(u: Ulimit, hostRlimits: Record<string, RlimitValue>): void {
  const name = u.Name.toLowerCase();
  if (!KNOWN_ULIMITS.has(name)) throw invalidParameter(`invalid ulimit type: ${u.Name}`);
  if (u.Soft > u.Hard && u.Hard !== -1) {
    throw invalidParameter(`ulimit ${name}: soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  }
  const host = hostRlimits[normalizeRlimitType(name)];
  const hard = u.Hard === -1 ? Infinity : u.Hard;
  if (host && hard > host.hard) {
    // runc's setrlimit would fail with EPERM at start; say why at create instead.
    throw invalidParameter(
      `ulimit ${name}: hard limit ${u.Hard === -1 ? 'unlimited' : u.Hard} exceeds the daemon's own hard limit ${host.hard === Infinity ? 'unlimited' : host.hard} (raising it needs CAP_SYS_RESOURCE on the host)`,
    );
  }
}

/** --ulimit values as the runtime spec's rlimits (-1 means unlimited). */
export function toRlimits(ulimits: Ulimit[] | null): Array<{ type: string; soft: number; hard: number }> {
  const unlimited = 2 ** 64 - 1;
  return (ulimits ?? []).map((u) => ({
    type: normalizeRlimitType(u.Name),
    soft: u.Soft === -1 ? unlimited : u.Soft,
    hard: u.Hard === -1 ? unlimited : u.Hard,
  }));
}

/** The OCI linux.resources for these limits; fields left unset keep the kernel's defaults. */
export function toOciResources(r: Resources): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const memory: Record<string, unknown> = {};
  if (r.Memory > 0) memory.limit = r.Memory;
  if (r.MemoryReservation > 0) memory.reservation = r.MemoryReservation;
  if (r.MemorySwap !== 0 && (r.Memory > 0 || r.MemorySwap === -1)) memory.swap = r.MemorySwap;
  if (r.MemorySwappiness !== undefined && r.MemorySwappiness !== null && r.MemorySwappiness >= 0) memory.swappiness = r.MemorySwappiness;
  if (r.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) out.memory = memory;

  const cpu: Record<string, unknown> = {};
  if (r.CpuShares > 0) cpu.shares = r.CpuShares;
  if (r.NanoCpus > 0) {
    cpu.period = NANO_CPU_PERIOD;
    cpu.quota = Math.round((r.NanoCpus * NANO_CPU_PERIOD) / 1e9);
  } else {
    if (r.CpuQuota !== 0) cpu.quota = r.CpuQuota;
    if (r.CpuPeriod > 0) cpu.period = r.CpuPeriod;
  }
  if (r.CpusetCpus) cpu.cpus = r.CpusetCpus;
  if (r.CpusetMems) cpu.mems = r.CpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;

  if (r.PidsLimit !== null && r.PidsLimit !== 0) out.pids = { limit: r.PidsLimit };
  return out;
}

/** The resource fields of `POST /containers/{id}/update` (a subset: ulimits can't change on a live process). */
export const UPDATABLE_FIELDS: readonly string[] = [
  'Memory',
  'MemorySwap',
  'MemoryReservation',
  'NanoCpus',
  'CpuShares',
  'CpuQuota',
  'CpuPeriod',
  'CpusetCpus',
  'CpusetMems',
  'PidsLimit',
  'MemorySwappiness',
];

/** Every resource field docker's inspect shows, at its zero value. */
const RESOURCE_DEFAULTS: Record<string, unknown> = {
  CpuShares: 0,
  Memory: 0,
  NanoCpus: 0,
  CgroupParent: '',
  BlkioWeight: 0,
  BlkioWeightDevice: [],
  BlkioDeviceReadBps: [],
  BlkioDeviceWriteBps: [],
  BlkioDeviceReadIOps: [],
  BlkioDeviceWriteIOps: [],
  CpuPeriod: 0,
  CpuQuota: 0,
  CpuRealtimePeriod: 0,
  CpuRealtimeRuntime: 0,
  CpusetCpus: '',
  CpusetMems: '',
  Devices: [],
  DeviceCgroupRules: null,
  DeviceRequests: null,
  MemoryReservation: 0,
  MemorySwap: 0,
  MemorySwappiness: null,
  OomKillDisable: false,
  PidsLimit: null,
  Ulimits: null,
  SecurityOpt: null,
};

/**
 * Create-time check of a HostConfig: validates resources and security options (400 with
 * dockerd's message), writes docker's normalised values back so inspect echoes them, and
 * returns dockerd's warnings.
 */
export function checkHostConfig(hostConfig: Record<string, unknown>, host: HostLimits): string[] {
  const resources = normalizeResources(readResources(hostConfig));
  const warnings = validateResources(resources, host);
  const security = hostConfig.SecurityOpt;
  if (security !== undefined && security !== null) {
    if (!Array.isArray(security) || security.some((s) => typeof s !== 'string')) {
      throw invalidParameter('json: cannot unmarshal into Go struct field HostConfig.SecurityOpt of type []string');
    }
    parseSecurityOpts(security as string[]);
  }
  for (const [key, value] of Object.entries(RESOURCE_DEFAULTS)) {
    if (hostConfig[key] === undefined) hostConfig[key] = value;
  }
  Object.assign(hostConfig, resources);
  return warnings;
}

/** What a run's runtime spec takes from the HostConfig: cgroup limits, rlimits, seccomp, no-new-privileges. */
export function runtimeLimits(hostConfig: Record<string, unknown>): {
  resources: Record<string, unknown>;
  rlimits: Array<{ type: string; soft: number; hard: number }>;
  noNewPrivileges: boolean;
  seccomp: SecurityOptions['seccomp'];
} {
  const resources = normalizeResources(readResources(hostConfig));
  const security = parseSecurityOpts(Array.isArray(hostConfig.SecurityOpt) ? (hostConfig.SecurityOpt as string[]) : []);
  return {
    resources: toOciResources(resources),
    rlimits: toRlimits(resources.Ulimits),
    noNewPrivileges: security.noNewPrivileges,
    seccomp: security.seccomp,
  };
}

export function hostLimits(): HostLimits {
  return { cpu: hostCpuFacts(), rlimits: readHostRlimits() };
}
