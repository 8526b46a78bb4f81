/**
 * Swarm-mode service figures on a real cluster: three berthd nodes (loopback TCP) in a real etcd,
 * a `berth swarm manage` reconciling every second. Convergence: from POST /services/create of a
 * 30-replica service until the manager reports 30 running tasks. Recovery: a node's berthd is
 * SIGKILLed (its discovery entry lapses after the 3 s TTL) until 30 run on the other two.
 * Also the real docker CLI's `service create --replicas 10` (which waits for convergence and
 * then its own 5 s stability check), the figure the issue quotes for docker swarm mode (6.9 s).
 * A dockerd at /var/run/docker.sock is measured only if it is already a swarm manager: the
 * benchmark never turns swarm mode on in someone's daemon.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { importBusybox } from '../test/helpers/images.js';
import { startEtcd, freePort, type TestEtcd } from '../test/helpers/etcd.js';
import { startManager, hostRequest, type TestManager } from '../test/helpers/manager.js';
import { dockerBin } from '../test/helpers/paths.js';
import { run, sleep, describeResult } from '../test/helpers/exec.js';
import { openDiscovery } from '../src/cluster/discovery/index.js';
import type { Discovery, NodeEntry, Registration } from '../src/cluster/types.js';
import type { Service } from '../src/cluster/services/types.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';
import { DOCKERD_SOCKET } from './dockerd.js';

const TTL = 3;
const REPLICAS = 30;
/** docker swarm mode, 10 replicas, as the docker CLI reported it on the issue author's machine. */
const QUOTED_DOCKER_10_MS = 6_900;

interface BenchNode {
  name: string;
  daemon: TestDaemon;
  entry: NodeEntry;
  registration: Registration;
}

interface Cluster {
  dir: string;
  etcd: TestEtcd;
  discovery: Discovery;
  nodes: BenchNode[];
  manager: TestManager;
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-services-'));
  const etcd = await startEtcd();
  const discovery = openDiscovery(etcd.url('benchsvc'));
  const nodes: BenchNode[] = [];
  for (const name of ['bnode1', 'bnode2', 'bnode3']) {
    const port = await freePort();
    const daemon = await startDaemon({ args: ['-H', `tcp://127.0.0.1:${port}`] });
    await importBusybox(daemon);
    const entry: NodeEntry = { addr: `127.0.0.1:${port}`, name, healthy: true };
    nodes.push({ name, daemon, entry, registration: await discovery.register(entry, TTL) });
  }
  const manager = await startManager(dir, 'bench', ['--engine-refresh-interval', '1s', '--reconcile-interval', '1s', etcd.url('benchsvc')]);
  const deadline = Date.now() + 30_000;
  while (((await manager.api('GET', '/nodes')).json as { Status: { State: string } }[]).filter((n) => n.Status.State === 'ready').length < 3) {
    if (Date.now() > deadline) throw new Error(`manager did not see 3 nodes\n${manager.log()}`);
    await sleep(100);
  }
  return { dir, etcd, discovery, nodes, manager };
}

async function stopCluster(c: Cluster): Promise<void> {
  await c.manager.stop();
  for (const n of c.nodes) await n.registration.stop().catch(() => undefined);
  await c.discovery.close().catch(() => undefined);
  for (const n of c.nodes) await n.daemon.stop();
  await c.etcd.stop();
  rmSync(c.dir, { recursive: true, force: true });
}

async function running(c: Cluster, id: string): Promise<number> {
  const r = await c.manager.api('GET', `/services?status=1&filters=${encodeURIComponent(JSON.stringify({ id: [id] }))}`);
  const svc = (r.json as Service[]).find((s) => s.ID === id);
  return svc?.ServiceStatus?.RunningTasks ?? 0;
}

async function waitRunning(c: Cluster, id: string, n: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await running(c, id)) !== n) {
    if (Date.now() > deadline) throw new Error(`service ${id}: not ${n} running after ${timeoutMs / 1000} s\n${c.manager.log().split('\n').slice(-20).join('\n')}`);
    await sleep(50);
  }
}

async function containersOn(d: TestDaemon, id: string): Promise<number> {
  const r = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.id=${id}`] }))}`).catch(() => undefined);
  return r?.status === 200 ? (r.json as unknown[]).length : 0;
}

async function removeService(c: Cluster, id: string): Promise<void> {
  await c.manager.api('DELETE', `/services/${id}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const left = (await Promise.all(c.nodes.map((n) => containersOn(n.daemon, id)))).reduce((a, b) => a + b, 0);
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`containers of ${id} not removed`);
    await sleep(200);
  }
}

function serviceSpec(name: string, replicas: number): Record<string, unknown> {
  return {
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '3600'], StopGracePeriod: 1e9 }, RestartPolicy: { Condition: 'any', Delay: 1e9 } },
    Mode: { Replicated: { Replicas: replicas } },
  };
}

async function createService(c: Cluster, name: string, replicas: number): Promise<string> {
  const r = await c.manager.api('POST', '/services/create', serviceSpec(name, replicas));
  if (r.status !== 201) throw new Error(`create ${name} -> ${r.status}: ${r.text}`);
  return (r.json as { ID: string }).ID;
}

/** dockerd's swarm state, when one answers and is already a manager. */
async function dockerdSwarmManager(): Promise<boolean> {
  const r = await hostRequest(`unix://${DOCKERD_SOCKET}`, 'GET', '/info', undefined, 2_000).catch(() => undefined);
  const swarm = (r?.json as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } } | undefined)?.Swarm;
  return swarm?.LocalNodeState === 'active' && swarm.ControlAvailable === true;
}

async function dockerCliCreate(host: string, name: string, replicas: number, configDir: string): Promise<number> {
  const env = { ...process.env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false', DOCKER_CONFIG: configDir };
  const t0 = process.hrtime.bigint();
  const r = await run(dockerBin, ['service', 'create', '--quiet', '--name', name, '--replicas', String(replicas), '--stop-grace-period', '1s', 'busybox', 'sleep', '3600'], { env, timeoutMs: 180_000 });
  const took = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(describeResult('docker service create', r));
  await run(dockerBin, ['service', 'rm', name], { env, timeoutMs: 60_000 });
  return took;
}

export async function servicesFigures(runs: number): Promise<Row[]> {
  const rows: Row[] = [];
  const n = Math.max(1, Math.min(runs, 3));
  let c: Cluster | undefined;
  const converge: Row = { figure: `service of ${REPLICAS} replicas converges (3 nodes)`, target: '< 15 s' };
  const recover: Row = { figure: `${REPLICAS} replicas recover after a node loss (TTL ${TTL} s)`, target: `< TTL + 5 s` };
  const cli: Row = { figure: 'docker service create --replicas 10 (CLI incl. its 5 s check)', target: `<= ${QUOTED_DOCKER_10_MS / 1000} s (docker, quoted)` };
  try {
    c = await startCluster();
    const cluster = c;
    const convergeTimes: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const id = await createService(cluster, `conv${i}`, REPLICAS);
      await waitRunning(cluster, id, REPLICAS);
      convergeTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await removeService(cluster, id);
    }
    const tc = median(convergeTimes);
    converge.berthd = ms(tc);
    converge.met = tc < 15_000;
    converge.note = `POST /services/create -> ${REPLICAS} running; runs: ${convergeTimes.map((x) => (x / 1000).toFixed(1)).join(', ')} s`;

    const cliTimes: number[] = [];
    const configDir = join(cluster.dir, 'docker-config');
    for (let i = 0; i < n; i++) cliTimes.push(await dockerCliCreate(cluster.manager.host, `cli${i}`, 10, configDir));
    const tcli = median(cliTimes);
    cli.berthd = ms(tcli);
    cli.met = tcli <= QUOTED_DOCKER_10_MS;
    cli.note = `real docker CLI against the manager; runs: ${cliTimes.map((x) => (x / 1000).toFixed(1)).join(', ')} s`;

    const recoverTimes: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = await createService(cluster, `rec${i}`, REPLICAS);
      await waitRunning(cluster, id, REPLICAS);
      const victim = cluster.nodes[i % cluster.nodes.length]!;
      const t0 = process.hrtime.bigint();
      await victim.daemon.kill9();
      // What the node's agent does when its engine dies: stop heart-beating, the entry lapses.
      victim.registration.suspend();
      // The lost tasks stop counting at once (desired shutdown); wait for the count to dip and refill.
      const dipDeadline = Date.now() + 60_000;
      while ((await running(cluster, id)) === REPLICAS && Date.now() < dipDeadline) await sleep(50);
      await waitRunning(cluster, id, REPLICAS);
      recoverTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await victim.daemon.start();
      await victim.registration.update(victim.entry);
      await removeService(cluster, id);
    }
    const tr = median(recoverTimes);
    recover.berthd = ms(tr);
    recover.met = tr < (TTL + 5) * 1000;
    recover.note = `kill -9 one node's berthd -> ${REPLICAS} running on the others; runs: ${recoverTimes.map((x) => (x / 1000).toFixed(1)).join(', ')} s`;

    if (await dockerdSwarmManager()) {
      const dockerTimes: number[] = [];
      for (let i = 0; i < n; i++) dockerTimes.push(await dockerCliCreate(`unix://${DOCKERD_SOCKET}`, `berth-bench-svc${i}`, 10, configDir));
      const td = median(dockerTimes);
      cli.dockerd = ms(td);
      cli.ratio = `${(tcli / td).toFixed(2)}x`;
    } else {
      cli.note += `; no swarm-mode dockerd here, docker's figure is the issue's quoted ${QUOTED_DOCKER_10_MS / 1000} s (ratio ${(tcli / QUOTED_DOCKER_10_MS).toFixed(2)}x)`;
      cli.ratio = `${(tcli / QUOTED_DOCKER_10_MS).toFixed(2)}x*`;
    }
  } catch (e) {
    const msg = `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    for (const r of [converge, recover, cli]) if (!r.berthd) r.note = msg;
    process.stderr.write(`bench: services: ${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    if (c) await stopCluster(c).catch((e: Error) => process.stderr.write(`bench: services cleanup: ${e.message}\n`));
  }
  rows.push(converge, recover, cli);
  return rows;
}

/** `node bench/services.js` alone prints just these figures. */
if (process.argv[1]?.endsWith('/bench/services.js')) {
  const { renderTable } = await import('./report.js');
  const rows = await servicesFigures(Math.max(1, Number(process.env.BENCH_RUNS ?? 3)));
  process.stdout.write(`${renderTable(rows)}\n`);
}
