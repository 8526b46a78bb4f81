/**
 * The manager's /info and /version, shaped as classic swarm's: totals over the nodes, and the
 * cluster in SystemStatus pairs that the docker CLI prints as " KEY: VALUE" lines, so
 * `docker info` shows Role, Strategy, Filters, `Nodes: N` and a block per node.
 */
import { arch, hostname, release } from 'node:os';
import type { SystemInfo, ServerVersion } from '../../client/types.js';
import { API_VERSION, BERTH_VERSION, MIN_API_VERSION } from '../../api/version.js';
import type { ManagedNode } from './nodes.js';

/** Classic swarm's size format (go-units BytesSize of its day): "0 B", "1.021 GiB". */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))} ${units[i]}`;
}

export interface ClusterSummary {
  nodes: ManagedNode[];
  strategy: string;
  filters: string[];
  role: 'primary' | 'replica';
  primary?: string;
  /** This manager's name and ID (the host name; a stable ID per process). */
  name: string;
  id: string;
  /** The swarm-mode state when services are mounted (src/cluster/services swarmInfo). */
  swarm?: Record<string, unknown>;
}

function nodeBlock(n: ManagedNode): Array<[string, string]> {
  const containers = [...n.containers.values()];
  const state = (s: string): number => containers.filter((c) => c.summary.State === s).length;
  const running = state('running');
  const paused = state('paused');
  const reservedCpus = containers.reduce((sum, c) => sum + c.facts.cpus, 0);
  const reservedMemory = containers.reduce((sum, c) => sum + c.facts.memory, 0);
  const cpus = n.info?.NCPU ?? n.entry.cpus ?? 0;
  const memory = n.info?.MemTotal ?? n.entry.memory ?? 0;
  const labels = Object.entries({ ...(n.entry.labels ?? {}) })
    .concat((n.info?.Labels ?? []).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]))
    .concat(n.info?.Driver ? [['storagedriver', n.info.Driver]] : [])
    .concat(n.info?.KernelVersion ? [['kernelversion', n.info.KernelVersion]] : [])
    .concat(n.info?.OperatingSystem ? [['operatingsystem', n.info.OperatingSystem]] : []);
  const unique = [...new Map(labels.map(([k, v]) => [k, v])).entries()].sort(([a], [b]) => a.localeCompare(b));
  const status = n.status === 'healthy' && n.entry.healthy !== false ? 'Healthy' : n.status === 'pending' ? 'Pending' : 'Unhealthy';
  return [
    [` ${n.name}`, n.addr],
    ['  └ ID', n.id],
    ['  └ Status', status],
    ['  └ Containers', `${containers.length} (${running} Running, ${paused} Paused, ${containers.length - running - paused} Stopped)`],
    ['  └ Reserved CPUs', `${Number(reservedCpus.toFixed(2))} / ${cpus}`],
    ['  └ Reserved Memory', `${bytesSize(reservedMemory)} / ${bytesSize(memory)}`],
    ['  └ Labels', unique.map(([k, v]) => `${k}=${v}`).join(', ')],
    ['  └ Error', n.error ?? '(none)'],
    ['  └ UpdatedAt', n.updatedAt?.toISOString() ?? 'never'],
    ['  └ ServerVersion', n.info?.ServerVersion ?? ''],
  ];
}

export function clusterInfo(s: ClusterSummary): SystemInfo {
  const nodes = s.nodes;
  const counted = nodes.filter((n) => n.status === 'healthy');
  const all = counted.flatMap((n) => [...n.containers.values()]);
  const running = all.filter((c) => c.summary.State === 'running').length;
  const paused = all.filter((c) => c.summary.State === 'paused').length;
  const status: Array<[string, string]> = [['Role', s.role]];
  if (s.primary && s.role === 'replica') status.push(['Primary', s.primary]);
  status.push(['Strategy', s.strategy], ['Filters', s.filters.join(', ')], ['Nodes', String(nodes.length)]);
  for (const n of nodes) status.push(...nodeBlock(n));
  return {
    ID: s.id,
    Containers: all.length,
    ContainersRunning: running,
    ContainersPaused: paused,
    ContainersStopped: all.length - running - paused,
    Images: counted.reduce((sum, n) => sum + n.images.length, 0),
    Driver: '',
    DriverStatus: null,
    SystemStatus: status,
    Plugins: { Volume: null, Network: null, Log: null },
    NCPU: counted.reduce((sum, n) => sum + (n.info?.NCPU ?? 0), 0),
    MemTotal: counted.reduce((sum, n) => sum + (n.info?.MemTotal ?? 0), 0),
    Name: s.name,
    ServerVersion: `berth-swarm/${BERTH_VERSION}`,
    KernelVersion: release(),
    OperatingSystem: 'linux',
    OSType: 'linux',
    Architecture: arch() === 'x64' ? 'x86_64' : arch(),
    DockerRootDir: '',
    Labels: [],
    Swarm: s.swarm ?? { LocalNodeState: 'inactive', NodeID: '', NodeAddr: '', ControlAvailable: false },
    Debug: false,
    Experimental: false,
    LiveRestoreEnabled: false,
    Warnings: null,
  };
}

export function managerVersion(): ServerVersion {
  return {
    Platform: { Name: 'Berth cluster manager' },
    Components: [{ Name: 'Manager', Version: BERTH_VERSION }],
    Version: `berth-swarm/${BERTH_VERSION}`,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    Os: 'linux',
    Arch: arch() === 'x64' ? 'amd64' : arch(),
    KernelVersion: release(),
    GoVersion: `node${process.versions.node}`,
  };
}

export const defaultManagerName = (): string => hostname();
