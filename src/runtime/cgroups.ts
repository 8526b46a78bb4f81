/**
 * cgroup v1 (the hybrid layout: one hierarchy per controller under /sys/fs/cgroup) as far as
 * the daemon needs it: where a container's cgroup lives, reading its accounting files, and the
 * host's CPUs and memory nodes that cpuset limits must stay within. runc creates and writes
 * the cgroups; this module only reads (updates go through `runc update`).
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';

export type Controller = 'memory' | 'cpu' | 'cpuacct' | 'cpuset' | 'pids' | 'blkio' | 'freezer';

/** The directory of a cgroupsPath ("/berth/ID") in one controller's hierarchy. */
export function cgroupDir(controller: Controller, cgroupsPath: string, root = CGROUP_ROOT): string {
  return join(root, controller, cgroupsPath);
}

/** A file's trimmed text, or undefined when the controller or cgroup isn't there. */
export async function readCgroupFile(controller: Controller, cgroupsPath: string, file: string, root = CGROUP_ROOT): Promise<string | undefined> {
  try {
    return (await readFile(join(cgroupDir(controller, cgroupsPath, root), file), 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export async function readCgroupNumber(controller: Controller, cgroupsPath: string, file: string, root = CGROUP_ROOT): Promise<number | undefined> {
  const text = await readCgroupFile(controller, cgroupsPath, file, root);
  if (text === undefined || text === '' || text === 'max') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat) as a record. */
export function parseFlatKeyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^-?\d+$/.test(value)) out[key] = Number(value);
  }
  return out;
}

/** The pids in a container's cgroup (every process, not only the init). */
export async function cgroupPids(cgroupsPath: string, root = CGROUP_ROOT): Promise<number[]> {
  for (const controller of ['pids', 'memory', 'cpuacct'] as const) {
    const text = await readCgroupFile(controller, cgroupsPath, 'cgroup.procs', root);
    if (text !== undefined) return text.split('\n').filter(Boolean).map(Number);
  }
  return [];
}

/** "0-3,5" -> [0,1,2,3,5]; undefined when the text isn't a cpuset list. */
export function parseCpuList(text: string): number[] | undefined {
  const out = new Set<number>();
  if (text.trim() === '') return [];
  for (const part of text.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!match) return undefined;
    const low = Number(match[1]);
    const high = match[2] === undefined ? low : Number(match[2]);
    if (high < low) return undefined;
    for (let i = low; i <= high; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}

export interface HostCpuFacts {
  /** CPUs and memory nodes containers may use, as the kernel writes them ("0-1"). */
  cpus: string;
  mems: string;
  /** How many CPUs are online; --cpus may not exceed it. */
  onlineCpus: number;
}

let cachedHostCpu: HostCpuFacts | undefined;

/** Read once: which CPUs and memory nodes the root cpuset offers. */
export function hostCpuFacts(root = CGROUP_ROOT): HostCpuFacts {
  if (cachedHostCpu && root === CGROUP_ROOT) return cachedHostCpu;
  const read = (file: string, fallback: string): string => {
    try {
      return readFileSync(join(root, 'cpuset', file), 'utf8').trim();
    } catch {
      return fallback;
    }
  };
  const online = (() => {
    try {
      return readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
    } catch {
      return '0';
    }
  })();
  const cpus = read('cpuset.effective_cpus', '') || read('cpuset.cpus', online);
  const mems = read('cpuset.effective_mems', '') || read('cpuset.mems', '0');
  const facts = { cpus, mems, onlineCpus: parseCpuList(online)?.length ?? 1 };
  if (root === CGROUP_ROOT) cachedHostCpu = facts;
  return facts;
}
