/**
 * `docker stats` rows: CPU % and memory as the docker CLI computes them from the daemon's
 * stats JSON (cgroup v1: memory usage without the inactive page cache).
 */
import { HeaderMap } from './formatter.js';
import { bytesSize, humanSize, shortId } from './human.js';

export const STATS_TABLE = '{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

export const STATS_HEADERS = new HeaderMap([
  ['Container', 'CONTAINER'],
  ['ID', 'CONTAINER ID'],
  ['Name', 'NAME'],
  ['CPUPerc', 'CPU %'],
  ['MemUsage', 'MEM USAGE / LIMIT'],
  ['MemPerc', 'MEM %'],
  ['NetIO', 'NET I/O'],
  ['BlockIO', 'BLOCK I/O'],
  ['PIDs', 'PIDS'],
]);

interface CpuJson {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null };
  system_cpu_usage?: number;
  online_cpus?: number;
}

/** The parts of the stats JSON the table uses. */
export interface StatsJson {
  id?: string;
  name?: string;
  cpu_stats?: CpuJson;
  precpu_stats?: CpuJson;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  pids_stats?: { current?: number };
  blkio_stats?: { io_service_bytes_recursive?: Array<{ op: string; value: number }> | null };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
}

export interface StatsFigures {
  cpuPercent: number;
  memory: number;
  memoryLimit: number;
  memoryPercent: number;
  netRx: number;
  netTx: number;
  blockRead: number;
  blockWrite: number;
  pids: number;
}

export function computeFigures(s: StatsJson): StatsFigures {
  const cpu = s.cpu_stats ?? {};
  const pre = s.precpu_stats ?? {};
  const cpuDelta = (cpu.cpu_usage?.total_usage ?? 0) - (pre.cpu_usage?.total_usage ?? 0);
  const systemDelta = (cpu.system_cpu_usage ?? 0) - (pre.system_cpu_usage ?? 0);
  const online = cpu.online_cpus || cpu.cpu_usage?.percpu_usage?.length || 0;
  const cpuPercent = systemDelta > 0 && cpuDelta > 0 ? (cpuDelta / systemDelta) * online * 100 : 0;
  const usage = s.memory_stats?.usage ?? 0;
  const inactive = s.memory_stats?.stats?.total_inactive_file ?? s.memory_stats?.stats?.inactive_file ?? 0;
  const memory = inactive < usage ? usage - inactive : usage;
  const memoryLimit = s.memory_stats?.limit ?? 0;
  let blockRead = 0;
  let blockWrite = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.toLowerCase();
    if (op === 'read') blockRead += e.value;
    else if (op === 'write') blockWrite += e.value;
  }
  let netRx = 0;
  let netTx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    netRx += n.rx_bytes ?? 0;
    netTx += n.tx_bytes ?? 0;
  }
  return {
    cpuPercent,
    memory,
    memoryLimit,
    memoryPercent: memoryLimit ? (memory / memoryLimit) * 100 : 0,
    netRx,
    netTx,
    blockRead,
    blockWrite,
    pids: s.pids_stats?.current ?? 0,
  };
}

/** One row for the template; figures undefined while the first sample is pending or failed. */
export class StatsContext {
  constructor(
    private readonly container: string,
    private readonly id: string,
    private readonly name: string,
    private readonly figures: StatsFigures | undefined,
    private readonly trunc: boolean,
  ) {}

  Container(): string {
    return this.container;
  }
  ID(): string {
    return this.trunc ? shortId(this.id) : this.id;
  }
  Name(): string {
    return this.name.replace(/^\//, '') || '--';
  }
  CPUPerc(): string {
    return this.figures ? `${this.figures.cpuPercent.toFixed(2)}%` : '--';
  }
  MemUsage(): string {
    return this.figures ? `${bytesSize(this.figures.memory)} / ${bytesSize(this.figures.memoryLimit)}` : '-- / --';
  }
  MemPerc(): string {
    return this.figures ? `${this.figures.memoryPercent.toFixed(2)}%` : '--';
  }
  NetIO(): string {
    return this.figures ? `${humanSize(this.figures.netRx, 3)} / ${humanSize(this.figures.netTx, 3)}` : '--';
  }
  BlockIO(): string {
    return this.figures ? `${humanSize(this.figures.blockRead, 3)} / ${humanSize(this.figures.blockWrite, 3)}` : '--';
  }
  PIDs(): string {
    return this.figures ? String(this.figures.pids) : '--';
  }
}
