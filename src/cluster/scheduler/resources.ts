/**
 * Reservations: what a container asks for (HostConfig.Memory, and CPUs from NanoCpus or
 * CpuQuota/CpuPeriod) and what a node has left. CpuShares is not a reservation: in docker it is
 * a relative weight (1024 = default) and says nothing about how many CPUs a container needs, so
 * unlike classic swarm (which read `-c N` as N CPUs) it is ignored here.
 *
 * Every container on a node counts, running or not, as classic swarm counted them: a stopped
 * container's reservation comes back when it starts again.
 */
import type { ClusterNode } from '../types.js';
import type { ContainerCreateBody } from '../../client/types.js';

export interface Reservation {
  /** Bytes. */
  memory: number;
  cpus: number;
}

export function requestedReservation(body: ContainerCreateBody): Reservation {
  const hc = body.HostConfig ?? {};
  const memory = positive(hc.Memory);
  let cpus = positive(hc.NanoCpus) / 1e9;
  if (!cpus && positive(hc.CpuQuota) && positive(hc.CpuPeriod)) cpus = positive(hc.CpuQuota) / positive(hc.CpuPeriod);
  return { memory, cpus };
}

const positive = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);

export function usedReservation(node: ClusterNode): Reservation {
  let memory = 0;
  let cpus = 0;
  for (const c of node.containers) {
    memory += positive(c.memory);
    cpus += positive(c.cpus);
  }
  return { memory, cpus };
}

/**
 * Classic swarm's node weight: percentage of CPUs plus percentage of memory reserved once this
 * container is added (0..200). A node reporting no total for a resource scores 0 on it.
 */
export function reservationScore(node: ClusterNode, used: Reservation, wanted: Reservation): number {
  const pct = (u: number, total: number): number => (total > 0 ? ((u * 100) / total) : 0);
  return pct(used.cpus + wanted.cpus, node.totalCpus) + pct(used.memory + wanted.memory, node.totalMemory);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
export function bytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${UNITS[i]}`;
}

export const cpuCount = (n: number): string => `${Number.isInteger(n) ? n : n.toFixed(2)} CPU${n === 1 ? '' : 's'}`;
