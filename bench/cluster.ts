/**
 * Cluster manager figures. Scheduling latency end to end: POST /containers/create through a
 * manager in front of 10 and 50 nodes, the nodes being tiny fake engines (loopback HTTP servers
 * answering /info, /containers/json, /images/json, inspect and create; benchmark only, the
 * tests use real berthd nodes). Leader failover: real etcd, two `berth swarm manage
 * --replication` processes, the primary SIGKILLed, the time until the backup's /info says
 * Role: primary.
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startManager as startManagerInProcess } from '../src/cluster/manager/index.js';
import { openDiscovery } from '../src/cluster/discovery/index.js';
import { schedule, stripSchedulingHints } from '../src/cluster/scheduler/index.js';
import { startEtcd, freePort } from '../test/helpers/etcd.js';
import { startManager, hostRequest } from '../test/helpers/manager.js';
import { sleep } from '../test/helpers/exec.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';

/** A fake engine: enough of the Engine API for the manager's refresh and create. */
function fakeEngine(name: string): Promise<{ addr: string; close: () => Promise<void> }> {
  const containers: { Id: string; Names: string[]; Image: string; State: string; Created: number; Labels: Record<string, string>; Memory: number }[] = [];
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').replace(/^\/v\d+\.\d+/, '').split('?')[0]!;
    const json = (status: number, value: unknown): void => {
      const body = JSON.stringify(value);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (path === '/events') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      return;
    }
    if (path === '/info') return json(200, { ID: name, Name: name, NCPU: 4, MemTotal: 8 * 1024 ** 3, Driver: 'overlay2', OperatingSystem: 'fake', KernelVersion: '6.1', ServerVersion: 'fake', Labels: [] });
    if (path === '/containers/json') return json(200, containers.map(({ Memory: _m, ...c }) => c));
    if (path === '/images/json') return json(200, [{ Id: 'sha256:busybox', RepoTags: ['busybox:latest'], Created: 0, Size: 0 }]);
    if (path === '/containers/create' && req.method === 'POST') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Image: string; HostConfig?: { Memory?: number } };
        const Id = randomBytes(32).toString('hex');
        const q = new URL(req.url ?? '/', 'http://x').searchParams.get('name');
        containers.push({ Id, Names: q ? [`/${q}`] : [], Image: body.Image, State: 'created', Created: Date.now() / 1000, Labels: {}, Memory: body.HostConfig?.Memory ?? 0 });
        json(201, { Id, Warnings: [] });
      });
      return;
    }
    const inspect = /^\/containers\/([0-9a-f]+)\/json$/.exec(path);
    if (inspect) {
      const c = containers.find((x) => x.Id === inspect[1]);
      return c ? json(200, { Id: c.Id, HostConfig: { Memory: c.Memory } }) : json(404, { message: 'No such container' });
    }
    json(404, { message: 'page not found' });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        addr: `127.0.0.1:${port}`,
        close: () => {
          server.closeAllConnections();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}

async function schedulingLatency(nodeCount: number, creates: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-cluster-'));
  const engines = await Promise.all(Array.from({ length: nodeCount }, (_, i) => fakeEngine(`fake${String(i).padStart(2, '0')}`)));
  const discovery = openDiscovery(`nodes://${engines.map((e) => e.addr).join(',')}`);
  const manager = await startManagerInProcess({
    listen: `unix://${join(dir, 'mgr.sock')}`,
    discovery,
    placement: { schedule, stripHints: (b) => stripSchedulingHints(b).body },
    strategy: 'spread',
    refreshIntervalMs: 30_000,
  });
  try {
    const times: number[] = [];
    for (let i = 0; i < creates; i++) {
      const t0 = process.hrtime.bigint();
      const r = await hostRequest(manager.address, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Memory: 64 * 1024 * 1024 } });
      if (r.status !== 201) throw new Error(`create through the manager -> ${r.status}: ${r.text}`);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return median(times.slice(Math.min(5, creates - 1)));
  } finally {
    await manager.close();
    await discovery.close();
    await Promise.all(engines.map((e) => e.close()));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function failoverTimes(runs: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-failover-'));
  const etcd = await startEtcd();
  const times: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const url = etcd.url(`failover${i}`);
      const [p1, p2] = [await freePort(), await freePort()];
      const args = (port: number): string[] => ['--replication', '--replication-ttl', '2s', '--advertise', `127.0.0.1:${port}`, url];
      const first = await startManager(dir, `a${i}`, args(p1), `tcp://127.0.0.1:${p1}`);
      const role = async (host: string): Promise<string | undefined> => {
        const r = await hostRequest(host, 'GET', '/info', undefined, 1_000).catch(() => undefined);
        return (r?.json as { SystemStatus?: [string, string][] } | undefined)?.SystemStatus?.find(([k]) => k === 'Role')?.[1];
      };
      while ((await role(first.host)) !== 'primary') await sleep(50);
      const second = await startManager(dir, `b${i}`, args(p2), `tcp://127.0.0.1:${p2}`);
      try {
        while (!(await hostRequest(second.host, 'GET', '/info').then((r) => JSON.stringify(r.json).includes(`127.0.0.1:${p1}`)))) await sleep(50);
        await first.kill9();
        const t0 = process.hrtime.bigint();
        const deadline = Date.now() + 30_000;
        while ((await role(second.host)) !== 'primary') {
          if (Date.now() > deadline) throw new Error(`backup not primary after 30 s\n${second.log()}`);
          await sleep(20);
        }
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } finally {
        await first.stop();
        await second.stop();
      }
    }
  } finally {
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

export async function clusterFigures(runs: number): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of [10, 50]) {
    const row: Row = { figure: `create via manager, ${n} nodes (scheduling e2e)`, target: '< 20 ms' };
    try {
      const t = await schedulingLatency(n, Math.max(30, runs * 4));
      row.berthd = ms(t);
      row.met = t < 20;
      row.note = 'fake engines; median per container';
    } catch (e) {
      row.note = `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    }
    rows.push(row);
  }
  const row: Row = { figure: 'manager failover (lease TTL 2 s)', target: '< TTL + 1 s' };
  try {
    const times = await failoverTimes(Math.min(runs, 3));
    const t = median(times);
    row.berthd = ms(t);
    row.met = t < 3_000;
    row.note = `kill -9 primary -> backup answers /info as primary; runs: ${times.map((x) => x.toFixed(0)).join(', ')} ms`;
  } catch (e) {
    row.note = `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
  }
  rows.push(row);
  return rows;
}

/** `node bench/cluster.js` alone prints just these figures. */
if (process.argv[1]?.endsWith('/bench/cluster.js')) {
  const { renderTable } = await import('./report.js');
  const rows = await clusterFigures(Math.max(1, Number(process.env.BENCH_RUNS ?? 5)));
  process.stdout.write(`${renderTable(rows)}\n`);
}
