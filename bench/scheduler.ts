/**
 * Scheduler figures: the time to place one container with 10 and 50 nodes (each holding about
 * 20 containers), and how evenly spread places 300 containers on 50 nodes.
 *
 * The nodes are SIMULATED: in-memory ClusterNode records with labels, containers, published
 * ports and reservations, fed straight to schedule(). This measures the scheduler's own cost
 * (filters + strategy), not the manager's refresh or the network; the real path (netns nodes,
 * a manager, etcd) is exercised in the integration tests. There is nothing to compare with:
 * classic swarm is not available here and dockerd has no scheduler.
 *
 * Run alone: node $BERTH_DIST/bench/scheduler.js (BENCH_RUNS=5 for a quick look).
 */
import { fileURLToPath } from 'node:url';
import type { ClusterNode, NodeContainer, StrategyName } from '../src/cluster/types.js';
import type { ContainerCreateBody } from '../src/client/types.js';
import { makeScheduler, seededRandom } from '../src/cluster/scheduler/index.js';
import { median } from './measure.js';
import { renderTable, type Row } from './report.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CONTAINERS_PER_NODE = 20;
/** Placements timed per run; the run's figure is their median. */
const PLACEMENTS_PER_RUN = 200;
const WARMUP_PLACEMENTS = 200;
const LATENCY_TARGET_MS = 1;

function simulatedContainer(rand: () => number, node: number, i: number): NodeContainer {
  const id = `${node.toString(16).padStart(6, '0')}${i.toString(16).padStart(6, '0')}`.padEnd(64, 'e');
  return {
    id,
    names: [`app-${node}-${i}`],
    image: i % 3 ? 'busybox:latest' : 'redis:7',
    imageId: `sha256:${(i % 3 ? 'b' : 'c').repeat(64)}`,
    labels: { 'com.example.tier': i % 2 ? 'web' : 'db' },
    running: rand() < 0.8,
    publishedPorts: i % 5 === 0 ? [{ hostIp: '0.0.0.0', hostPort: 8000 + i, protocol: 'tcp' }] : [],
    memory: 64 * MiB,
    cpus: 0.1,
  };
}

/** `count` simulated nodes with about `perNode` containers each (±2), engine labels and images. */
export function simulatedNodes(count: number, perNode: number, seed = 1): ClusterNode[] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, (_, n) => {
    const containers = perNode ? Array.from({ length: perNode - 2 + Math.floor(rand() * 5) }, (_, i) => simulatedContainer(rand, n, i)) : [];
    return {
      id: `SIM${n.toString().padStart(4, '0')}`,
      name: `sim-node-${n.toString().padStart(3, '0')}`,
      addr: `sim-node-${n}:2376`,
      labels: { storagedriver: 'overlay2', region: n % 2 ? 'eu-west' : 'eu-central', disk: n % 3 ? 'ssd' : 'hdd', kernelversion: '6.1.0' },
      totalCpus: 8,
      totalMemory: 32 * GiB,
      healthy: n % 17 !== 16,
      containers,
      images: [
        { id: `sha256:${'b'.repeat(64)}`, repoTags: ['busybox:latest'] },
        { id: `sha256:${'c'.repeat(64)}`, repoTags: ['redis:7'] },
      ],
    };
  });
}

/** A create that exercises every filter: a glob constraint, a soft affinity, a published port, a reservation. */
function benchBody(i: number): ContainerCreateBody {
  return {
    Image: 'busybox',
    Env: ['A=1', 'constraint:region==eu-*', 'constraint:disk!=~hdd', 'affinity:image==~redis*'],
    HostConfig: { Memory: 32 * MiB, NanoCpus: 5e7, PortBindings: { '80/tcp': [{ HostPort: String(20000 + i) }] } } as ContainerCreateBody['HostConfig'],
  };
}

function record(node: ClusterNode, body: ContainerCreateBody, i: number): void {
  node.containers.push({
    id: `placed${i}`.padEnd(64, 'f'),
    names: [`placed-${i}`],
    image: body.Image ?? '',
    imageId: '',
    labels: {},
    running: true,
    publishedPorts: [{ hostIp: '', hostPort: 20000 + i, protocol: 'tcp' }],
    memory: body.HostConfig?.Memory ?? 0,
    cpus: (body.HostConfig?.NanoCpus ?? 0) / 1e9,
  });
}

/** Median milliseconds per placement: each run starts from fresh simulated nodes and records every placement, as the manager would. */
function latency(nodeCount: number, runs: number, strategy: StrategyName): number {
  const schedule = makeScheduler({ random: seededRandom(7) });
  const perRun: number[] = [];
  for (let run = -1; run < runs; run++) {
    const nodes = simulatedNodes(nodeCount, CONTAINERS_PER_NODE, 100 + run);
    const times: number[] = [];
    const count = run < 0 ? WARMUP_PLACEMENTS : PLACEMENTS_PER_RUN;
    for (let i = 0; i < count; i++) {
      const body = benchBody(i);
      const start = process.hrtime.bigint();
      const chosen = schedule(nodes, { body }, strategy);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      record(chosen, body, i);
    }
    if (run >= 0) perRun.push(median(times));
  }
  return median(perRun);
}

/** Containers per node after placing `count` on `nodeCount` nodes (all healthy, no hints). */
function distribution(nodeCount: number, perNode: number, count: number, strategy: StrategyName): { max: number; min: number; placedMax: number; placedMin: number } {
  const nodes = simulatedNodes(nodeCount, perNode, 3).map((n) => ({ ...n, healthy: true }));
  const before = new Map(nodes.map((n) => [n.name, n.containers.length]));
  const schedule = makeScheduler({ random: seededRandom(11) });
  for (let i = 0; i < count; i++) {
    const body: ContainerCreateBody = { Image: 'busybox' };
    record(schedule(nodes, { body }, strategy), body, i);
  }
  const totals = nodes.map((n) => n.containers.length);
  const placed = nodes.map((n) => n.containers.length - before.get(n.name)!);
  return { max: Math.max(...totals), min: Math.min(...totals), placedMax: Math.max(...placed), placedMin: Math.min(...placed) };
}

const us = (msValue: number): string => `${(msValue * 1000).toFixed(1)} µs`;
const SIMULATED_FIRST = 'SIMULATED nodes (in-memory records, no engines, no network); no comparison: classic swarm is not available and dockerd has no scheduler';
const SIMULATED = 'simulated nodes';

export function schedulerFigures(runs: number): Row[] {
  const rows: Row[] = [];
  for (const nodeCount of [10, 50]) {
    for (const strategy of ['spread', 'binpack'] as const) {
      const t = latency(nodeCount, runs, strategy);
      rows.push({
        figure: `schedule 1 container, ${nodeCount} nodes x ~${CONTAINERS_PER_NODE} containers (${strategy})`,
        berthd: us(t),
        target: `< ${LATENCY_TARGET_MS} ms`,
        met: t < LATENCY_TARGET_MS,
        note: `${rows.length ? SIMULATED : SIMULATED_FIRST}; median of ${runs} runs x ${PLACEMENTS_PER_RUN} placements, every filter in play`,
      });
    }
  }
  const fromBusy = distribution(50, CONTAINERS_PER_NODE, 300, 'spread');
  rows.push({
    figure: 'spread: 300 containers onto 50 nodes x ~20, max/min per node',
    berthd: `${fromBusy.max}/${fromBusy.min} total`,
    target: 'max - min <= 1',
    met: fromBusy.max - fromBusy.min <= 1,
    note: `${SIMULATED}; nodes start with 18-22 containers, spread evens them out (new ones per node ${fromBusy.placedMax}/${fromBusy.placedMin})`,
  });
  const fromEmpty = distribution(50, 0, 300, 'spread');
  rows.push({ figure: 'spread: 300 containers onto 50 empty nodes, max/min per node', berthd: `${fromEmpty.max}/${fromEmpty.min}`, target: '6/6', met: fromEmpty.max === 6 && fromEmpty.min === 6, note: SIMULATED });
  const random = distribution(50, 0, 300, 'random');
  rows.push({ figure: 'random: 300 containers onto 50 empty nodes, max/min per node', berthd: `${random.max}/${random.min}`, note: `${SIMULATED}; for contrast with spread (seeded)` });
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 15));
  const rows = schedulerFigures(runs);
  process.stdout.write(`\nScheduler benchmarks (SIMULATED nodes): median of ${runs} runs\n\n${renderTable(rows)}\n`);
}
