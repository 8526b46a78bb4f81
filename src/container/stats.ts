/**
 * `GET /containers/{id}/stats`: docker's stats JSON read from the container's cgroup v1 files.
 * One sample is a snapshot; a document pairs it with the previous one (precpu_stats) so
 * clients compute CPU % as docker's CLI does: Δcontainer CPU / Δsystem CPU × online CPUs.
 */
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { CGROUP_ROOT, parseFlatKeyed, readCgroupFile, readCgroupNumber, hostCpuFacts } from '../runtime/cgroups.js';
import { ZERO_TIME, type ContainerRecord } from './model.js';

/** Linux's USER_HZ: /proc/stat counts in 1/100 s on every architecture docker supports. */
const CLOCK_TICKS_PER_SECOND = 100;
const NS_PER_TICK = 1e9 / CLOCK_TICKS_PER_SECOND;

export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** One interface's counters, docker's stats "networks" entry. */
export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/**
 * /proc/PID/net/dev of a process in the container's network namespace: every interface but the
 * loopback, as dockerd reports them (keyed by the name inside the container, eth0...).
 */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === 'lo' || f.length < 16 || f.some(Number.isNaN)) continue;
    out[name] = {
      rx_bytes: f[0]!,
      rx_packets: f[1]!,
      rx_errors: f[2]!,
      rx_dropped: f[3]!,
      tx_bytes: f[8]!,
      tx_packets: f[9]!,
      tx_errors: f[10]!,
      tx_dropped: f[11]!,
    };
  }
  return out;
}

/** Counters of the namespace `pid` lives in; undefined when it's gone or unreadable. */
export async function sampleNetworks(pid: number): Promise<Record<string, NetworkStats> | undefined> {
  try {
    return parseNetDev(await readFile(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined;
  }
}

export interface StatsSample {
  read: string;
  /** Absent for containers without a network namespace of their own (host, container: modes). */
  networks?: Record<string, NetworkStats>;
  cpu_stats: CpuStats;
  memory_stats: Record<string, unknown>;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<string, BlkioEntry[] | null>;
}

export function emptyCpuStats(): CpuStats {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

/** The host's total CPU time in ns (the "cpu" line of /proc/stat), docker's system_cpu_usage. */
export async function systemCpuUsage(): Promise<number> {
  const text = await readFile('/proc/stat', 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, v) => sum + Number(v), 0);
  return ticks * NS_PER_TICK;
}

/** blkio "8:0 Read 4096" lines; totals (one number after the device) are left out as docker does. */
export function parseBlkio(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(\w+)\s+(\d+)$/.exec(line.trim());
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3]!, value: Number(m[4]) });
  }
  return out;
}

export interface SampleOptions {
  cgroupRoot?: string;
  /** Memory limits above this (no limit set) are reported as the host's memory, as dockerd does. */
  machineMemory?: number;
}

/** Reads one sample of a container's cgroups. */
export async function sampleStats(cgroupsPath: string, options: SampleOptions = {}): Promise<StatsSample> {
  const root = options.cgroupRoot ?? CGROUP_ROOT;
  const machineMemory = options.machineMemory ?? totalmem();
  const [usage, percpu, user, sys, cpuStat, system, memUsage, memMax, memLimit, memFailcnt, memStat, pidsCurrent, pidsMax, ioBytes, ioServiced] = await Promise.all([
    readCgroupNumber('cpuacct', cgroupsPath, 'cpuacct.usage', root),
    readCgroupFile('cpuacct', cgroupsPath, 'cpuacct.usage_percpu', root),
    readCgroupNumber('cpuacct', cgroupsPath, 'cpuacct.usage_user', root),
    readCgroupNumber('cpuacct', cgroupsPath, 'cpuacct.usage_sys', root),
    readCgroupFile('cpu', cgroupsPath, 'cpu.stat', root),
    systemCpuUsage(),
    readCgroupNumber('memory', cgroupsPath, 'memory.usage_in_bytes', root),
    readCgroupNumber('memory', cgroupsPath, 'memory.max_usage_in_bytes', root),
    readCgroupNumber('memory', cgroupsPath, 'memory.limit_in_bytes', root),
    readCgroupNumber('memory', cgroupsPath, 'memory.failcnt', root),
    readCgroupFile('memory', cgroupsPath, 'memory.stat', root),
    readCgroupNumber('pids', cgroupsPath, 'pids.current', root),
    readCgroupNumber('pids', cgroupsPath, 'pids.max', root),
    readCgroupFile('blkio', cgroupsPath, 'blkio.throttle.io_service_bytes_recursive', root),
    readCgroupFile('blkio', cgroupsPath, 'blkio.throttle.io_serviced_recursive', root),
  ]);
  const throttling = parseFlatKeyed(cpuStat);
  const percpuUsage = (percpu ?? '').split(/\s+/).filter(Boolean).map(Number);
  const limit = memLimit === undefined ? machineMemory : Math.min(memLimit, machineMemory);
  return {
    read: new Date().toISOString(),
    cpu_stats: {
      cpu_usage: {
        total_usage: usage ?? 0,
        percpu_usage: percpuUsage,
        usage_in_kernelmode: sys ?? 0,
        usage_in_usermode: user ?? 0,
      },
      system_cpu_usage: system,
      online_cpus: hostCpuFacts(root).onlineCpus,
      throttling_data: {
        periods: throttling.nr_periods ?? 0,
        throttled_periods: throttling.nr_throttled ?? 0,
        throttled_time: throttling.throttled_time ?? 0,
      },
    },
    memory_stats: {
      usage: memUsage ?? 0,
      max_usage: memMax ?? 0,
      stats: parseFlatKeyed(memStat),
      failcnt: memFailcnt ?? 0,
      limit,
    },
    pids_stats: pidsMax === undefined ? { current: pidsCurrent ?? 0 } : { current: pidsCurrent ?? 0, limit: pidsMax },
    blkio_stats: {
      io_service_bytes_recursive: parseBlkio(ioBytes),
      io_serviced_recursive: parseBlkio(ioServiced),
      io_queue_recursive: [],
      io_service_time_recursive: [],
      io_wait_time_recursive: [],
      io_merged_recursive: [],
      io_time_recursive: [],
      sectors_recursive: [],
    },
  };
}

/** docker's stats document for a container that isn't running: zeros, zero times. */
export function idleSample(): StatsSample {
  return {
    read: ZERO_TIME,
    cpu_stats: emptyCpuStats(),
    memory_stats: {},
    pids_stats: {},
    blkio_stats: {
      io_service_bytes_recursive: null,
      io_serviced_recursive: null,
      io_queue_recursive: null,
      io_service_time_recursive: null,
      io_wait_time_recursive: null,
      io_merged_recursive: null,
      io_time_recursive: null,
      sectors_recursive: null,
    },
  };
}

export function statsDocument(record: ContainerRecord, current: StatsSample, previous: StatsSample | undefined): Record<string, unknown> {
  return {
    read: current.read,
    preread: previous?.read ?? ZERO_TIME,
    pids_stats: current.pids_stats,
    blkio_stats: current.blkio_stats,
    num_procs: 0,
    storage_stats: {},
    cpu_stats: current.cpu_stats,
    precpu_stats: previous?.cpu_stats ?? emptyCpuStats(),
    memory_stats: current.memory_stats,
    name: `/${record.name}`,
    id: record.id,
    ...(current.networks ? { networks: current.networks } : {}),
  };
}

/**
 * Keeps each container's last sample so a one-off request (`stats --no-stream`) has a
 * previous reading to compute CPU % from without waiting a full second.
 */
export class StatsCache {
  private readonly last = new Map<string, StatsSample>();

  previous(id: string, maxAgeMs: number, minAgeMs: number): StatsSample | undefined {
    const sample = this.last.get(id);
    if (!sample) return undefined;
    const age = Date.now() - Date.parse(sample.read);
    return age >= minAgeMs && age <= maxAgeMs ? sample : undefined;
  }

  remember(id: string, sample: StatsSample): void {
    this.last.set(id, sample);
  }

  forget(id: string): void {
    this.last.delete(id);
  }
}
