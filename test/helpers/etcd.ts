/**
 * A real etcd (/usr/bin/etcd) for tests: one member or a cluster of several, on loopback with
 * free ports, data in one temp dir. Members can be killed and started again (same data) to
 * test failover; stop() kills every member and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive, terminate } from './cleanup.js';
import { sleep } from './exec.js';

export const ETCD_BIN = process.env.BERTH_TEST_ETCD ?? '/usr/bin/etcd';

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  /** 127.0.0.1:PORT */
  endpoint: string;
  dataDir: string;
  logPath: string;
  readonly pid: number | undefined;
  readonly running: boolean;
}

export interface TestEtcd {
  dir: string;
  members: EtcdMember[];
  /** HOST:PORT,HOST:PORT... of every member. */
  endpoints: string;
  /** etcd://ENDPOINTS/PREFIX */
  url(prefix?: string): string;
  /** SIGKILL one member (its data stays). */
  kill(index: number): Promise<void>;
  /** Start a killed member again on its data and wait until it is healthy. */
  start(index: number): Promise<void>;
  killAll(): Promise<void>;
  startAll(): Promise<void>;
  log(index: number): string;
  stop(): Promise<void>;
}

/** A port the kernel just handed out and we released; good enough on loopback in a test. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', timeout: 1_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(Buffer.concat(chunks).toString())));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

const live = new Set<TestEtcd>();
let handlersInstalled = false;

/**
 * `clientHost`: an extra address (of a bridge the test made) the members also serve clients on,
 * and the one `endpoints`/`url()` name, for berthds inside network namespaces.
 */
export async function startEtcd(options: { members?: number; clientHost?: string } = {}): Promise<TestEtcd> {
  const count = options.members ?? 1;
  const clientHost = options.clientHost ?? '127.0.0.1';
  const dir = mkdtempSync(join(tmpdir(), 'berth-etcd-'));
  const ports: number[] = [];
  while (ports.length < count * 2) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const token = `berth-test-${process.pid}-${Date.now()}`;
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `m${i}`,
    clientPort: ports[i * 2]!,
    peerPort: ports[i * 2 + 1]!,
    dataDir: join(dir, `m${i}.etcd`),
    logPath: join(dir, `m${i}.log`),
  }));
  const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peerPort}`).join(',');
  const children: (ChildProcess | undefined)[] = specs.map(() => undefined);

  const spawnMember = (i: number): void => {
    const s = specs[i]!;
    const log = openSync(s.logPath, 'a');
    const child = spawn(
      ETCD_BIN,
      [
        '--name', s.name,
        '--data-dir', s.dataDir,
        '--listen-client-urls', clientHost === '127.0.0.1' ? `http://127.0.0.1:${s.clientPort}` : `http://127.0.0.1:${s.clientPort},http://${clientHost}:${s.clientPort}`,
        '--advertise-client-urls', `http://${clientHost}:${s.clientPort}`,
        '--listen-peer-urls', `http://127.0.0.1:${s.peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${s.peerPort}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        // Faster leader elections than the defaults so member-failure tests stay short.
        '--heartbeat-interval', '50',
        '--election-timeout', '500',
      ],
      { stdio: ['ignore', log, log], detached: false },
    );
    closeSync(log);
    child.on('error', () => undefined);
    children[i] = child;
  };

  const waitHealthy = async (indexes: number[], timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (const i of indexes) {
      for (;;) {
        if (await healthy(specs[i]!.clientPort)) break;
        const child = children[i];
        if (child && child.exitCode !== null) throw new Error(`etcd ${specs[i]!.name} exited (${child.exitCode}):\n${readLog(i)}`);
        if (Date.now() > deadline) throw new Error(`etcd ${specs[i]!.name} not healthy after ${timeoutMs} ms:\n${readLog(i)}`);
        await sleep(100);
      }
    }
  };
  const readLog = (i: number): string => (existsSync(specs[i]!.logPath) ? readFileSync(specs[i]!.logPath, 'utf8').split('\n').slice(-30).join('\n') : '');
  const killMember = async (i: number): Promise<void> => {
    const child = children[i];
    children[i] = undefined;
    if (child?.pid && isAlive(child.pid)) {
      const exited = new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
      child.kill('SIGKILL');
      await exited;
    }
  };

  const members: EtcdMember[] = specs.map((s, i) => ({
    ...s,
    endpoint: `${clientHost}:${s.clientPort}`,
    get pid() {
      return children[i]?.pid;
    },
    get running() {
      const c = children[i];
      return !!c && c.exitCode === null && c.signalCode === null;
    },
  }));
  const endpoints = members.map((m) => m.endpoint).join(',');
  const etcd: TestEtcd = {
    dir,
    members,
    endpoints,
    url: (prefix = 'test') => `etcd://${endpoints}/${prefix}`,
    kill: killMember,
    async start(i) {
      if (!members[i]!.running) spawnMember(i);
      await waitHealthy([i]);
    },
    async killAll() {
      await Promise.all(members.map((_, i) => killMember(i)));
    },
    async startAll() {
      members.forEach((m, i) => {
        if (!m.running) spawnMember(i);
      });
      await waitHealthy(members.map((_, i) => i));
    },
    log: readLog,
    async stop() {
      live.delete(etcd);
      await Promise.all(children.map(async (c, i) => {
        if (c?.pid) await terminate(c.pid, 3_000);
        children[i] = undefined;
      }));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(etcd);
  if (!handlersInstalled) {
    handlersInstalled = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void Promise.allSettled([...live].map((e) => e.stop())).finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
      });
    }
  }
  try {
    for (let i = 0; i < count; i++) spawnMember(i);
    await waitHealthy(members.map((_, i) => i));
  } catch (err) {
    await etcd.stop();
    throw err;
  }
  return etcd;
}
