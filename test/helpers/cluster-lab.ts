/**
 * The cluster as a user builds it, for tests: N netns machines (test/helpers/machines.ts, each
 * berthd behind client-cert TLS on IP:2376) on the test's own bridge and subnet, a real
 * 3-member etcd on loopback, one `berth swarm join` agent process per node (the machine
 * store's client cert, a short TTL) and `berth swarm manage` processes serving TLS with
 * --tlsverify (a machine's server cert under the store's CA) that dial the nodes with the
 * store's client cert (--storage-path). The real docker CLI reaches a manager through
 * lab.docker(). stop() removes containers, managers, agents, machines, etcd and the temp dir,
 * and resolves to what it could not clean (empty when all went).
 *
 *   const lab = await startClusterLab({ bridge: 'bxyz0', subnet: '10.231.95.0/24', namePrefix: 'x', ttl: 4, discoveryPrefix: 'x' });
 *   const m = await lab.startManager('primary', ['--reconcile-interval', '1s']);
 *   lab.expectDocker(m, 'docker info', await lab.docker(m, ['info']));
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEtcd, freePort, type TestEtcd } from './etcd.js';
import { createMachines, tlsClientEnv, type MachineNode, type MachineSet } from './machines.js';
import { startManager, type ClientTls, type TestManager } from './manager.js';
import { berthBin, dockerBin } from './paths.js';
import { run, sleep, describeResult, type RunResult } from './exec.js';
import { terminate } from './cleanup.js';
import { machineCertPaths } from '../../src/cluster/machine/certs.js';

export interface ClusterLabOptions {
  /** Host bridge of the machines (unique per test file). */
  bridge: string;
  /** Their subnet (unique per test file). */
  subnet: string;
  /** Machines are PREFIX-1 .. PREFIX-N. */
  namePrefix: string;
  /** Number of machines (default 3). */
  count?: number;
  /** Engine labels per machine. */
  labels?: string[][];
  /** The agents' --ttl in seconds. */
  ttl: number;
  /** The agents' --heartbeat in seconds (default 1). */
  heartbeat?: number;
  /** The discovery URL's path: etcd://ENDPOINTS/PREFIX. */
  discoveryPrefix: string;
}

export interface Agent {
  node: MachineNode;
  child: ChildProcess;
  logPath: string;
}

export interface ClusterLab {
  dir: string;
  etcd: TestEtcd;
  set: MachineSet;
  nodes: MachineNode[];
  agents: Agent[];
  managers: TestManager[];
  discoveryUrl: string;
  /** DOCKER_CERT_PATH for the managers and the nodes: the store's client cert. */
  certDir: string;
  clientTls: ClientTls;
  /** The docker CLI against a manager over TLS. */
  docker(m: TestManager, args: string[], env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<RunResult>;
  /** stdout of a successful CLI call; otherwise throws with the manager's log tail. */
  expectDocker(m: TestManager, what: string, r: RunResult): string;
  /**
   * A TLS `swarm manage` on a free loopback port (--engine-refresh-interval 1s); the word PORT in
   * `extra` becomes that port (for --advertise).
   */
  startManager(name: string, extra?: string[]): Promise<TestManager>;
  agentLog(a: Agent | MachineNode): string;
  stop(): Promise<string[]>;
}

/** Polls `probe` every 200 ms until it gives a value; the timeout error names the last failure. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, context?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await probe().catch((err: unknown) => ((last = err), undefined));
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}${context ? `\n${context()}` : ''}`);
    await sleep(200);
  }
}

export async function startClusterLab(options: ClusterLabOptions): Promise<ClusterLab> {
  const dir = mkdtempSync(join(tmpdir(), `berth-lab-${options.namePrefix}-`));
  const dockerConfig = join(dir, 'docker-config');
  mkdirSync(dockerConfig);
  let etcd: TestEtcd | undefined;
  let set: MachineSet | undefined;
  const agents: Agent[] = [];
  const managers: TestManager[] = [];

  const agentLog = (a: Agent | MachineNode): string => {
    const agent = 'child' in a ? a : agents.find((x) => x.node === a);
    try {
      return agent ? readFileSync(agent.logPath, 'utf8') : '';
    } catch {
      return '';
    }
  };

  const stop = async (): Promise<string[]> => {
    const problems: string[] = [];
    // Managers first: a reconciler would otherwise replace the task containers removed below.
    for (const m of managers.splice(0)) await m.stop().catch((e: Error) => problems.push(e.message));
    for (const a of agents.splice(0)) if (a.child.pid) await terminate(a.child.pid, 5_000).catch((e: Error) => problems.push(e.message));
    for (const n of set?.nodes ?? []) {
      const r = await n.api('GET', '/containers/json?all=1').catch(() => undefined);
      for (const c of (r?.json as { Id: string }[] | undefined) ?? []) await n.api('DELETE', `/containers/${c.Id}?force=1`).catch(() => undefined);
    }
    await set?.removeAll().catch((e: Error) => problems.push(e.message));
    await etcd?.stop().catch((e: Error) => problems.push(e.message));
    rmSync(dir, { recursive: true, force: true });
    return problems;
  };

  try {
    etcd = await startEtcd({ members: 3 });
    const discoveryUrl = etcd.url(options.discoveryPrefix);
    set = await createMachines(options.count ?? 3, { bridge: options.bridge, subnet: options.subnet, namePrefix: options.namePrefix, labels: options.labels });
    const nodes = set.nodes;
    await Promise.all(nodes.map((n) => n.loadBusybox()));
    for (const node of nodes) {
      const logPath = join(dir, `agent-${node.name}.log`);
      const fd = openSync(logPath, 'a');
      try {
        const child = spawn(
          berthBin,
          ['swarm', 'join', '--advertise', `${node.ip}:2376`, '--ttl', `${options.ttl}s`, '--heartbeat', `${options.heartbeat ?? 1}s`, '--tlsverify', '--cert-path', node.certDir, discoveryUrl],
          { stdio: ['ignore', fd, fd], env: { ...process.env, DOCKER_HOST: '', DOCKER_CERT_PATH: '', DOCKER_TLS_VERIFY: '' } },
        );
        child.on('error', () => undefined);
        agents.push({ node, child, logPath });
      } finally {
        closeSync(fd);
      }
    }

    // The managers serve a machine's server cert (SANs: its IP and 127.0.0.1) under the store's
    // CA and require client certs from that CA; nodes and other managers are dialed with the
    // store's client cert (--storage-path).
    const certDir = nodes[0]!.certDir;
    const server = machineCertPaths(set.machines.store.machineDir(nodes[0]!.name));
    const caPath = join(set.storePath, 'certs', 'ca.pem');
    const managerTlsArgs = ['--tlsverify', '--tlscacert', caPath, '--tlscert', server.serverCert, '--tlskey', server.serverKey, '--storage-path', set.storePath];
    const clientTls: ClientTls = { ca: readFileSync(caPath, 'utf8'), cert: readFileSync(join(certDir, 'cert.pem'), 'utf8'), key: readFileSync(join(certDir, 'key.pem'), 'utf8') };

    return {
      dir,
      etcd,
      set,
      nodes,
      agents,
      managers,
      discoveryUrl,
      certDir,
      clientTls,
      docker: (m, args, env, timeoutMs = 60_000) => run(dockerBin, args, { env: tlsClientEnv(m.host, certDir, dockerConfig, env), timeoutMs }),
      expectDocker(m, what, r) {
        if (r.code !== 0) throw new Error(`${describeResult(what, r)}\n--- manager log ---\n${m.log().split('\n').slice(-20).join('\n')}`);
        return r.stdout;
      },
      async startManager(name, extra = []) {
        const port = await freePort();
        const args = ['--engine-refresh-interval', '1s', ...managerTlsArgs, ...extra.map((a) => a.replace('PORT', String(port))), discoveryUrl];
        const m = await startManager(dir, name, args, `tcp://127.0.0.1:${port}`, clientTls);
        managers.push(m);
        return m;
      },
      agentLog,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
