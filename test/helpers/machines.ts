/**
 * Local cluster nodes for tests: netns machines (src/cluster/machine) in a machine store of the
 * test's own (a temp dir), on a bridge and subnet the test names so concurrent tests never
 * share one. Each node is a berthd in its own network namespace, reachable over client-cert TLS
 * on tcp://IP:2376 (what cluster code dials) and over its unix socket (what the busybox import
 * uses). removeAll() leaves no namespace, veth, bridge, iptables rule, mount, process or dir.
 *
 *   const cluster = await createMachines(3, { bridge: 'bswt0', subnet: '10.231.40.0/24' });
 *   after(() => cluster.removeAll());
 *   await cluster.nodes[0]!.loadBusybox();
 *   await cluster.nodes[0]!.docker(['run', '--rm', 'busybox', 'echo', 'hi']);
 */
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonAddress } from '../../src/client/host.js';
import { Machines } from '../../src/cluster/machine/machines.js';
import { localSocket } from '../../src/cluster/machine/netns-driver.js';
import type { MachineConfig } from '../../src/cluster/machine/store.js';
import { apiRequest, type ApiOptions, type ApiResponse } from './daemon.js';
import { mountsUnder, processesMentioning } from './cleanup.js';
import { run, describeResult, type RunOptions, type RunResult } from './exec.js';
import { busyboxTar } from './images.js';
import { berthBin, dockerBin } from './paths.js';
import { startEtcd, type TestEtcd } from './etcd.js';
import { freeUnderlaySubnet } from './overlay-lab.js';
import { ensureMachineBridge } from '../../src/sys/machine-host.js';

export interface MachineNode {
  name: string;
  ip: string;
  /** tcp://IP:2376 */
  host: string;
  /** DOCKER_CERT_PATH for this node: ca.pem, cert.pem, key.pem (the store's client cert). */
  certDir: string;
  /** The node's TLS address with the client cert, for EngineClient and cluster code. */
  address: DaemonAddress;
  /** The node's unix socket (on this host's filesystem): no TLS, for setup shortcuts. */
  socket: string;
  config: MachineConfig;
  /** The docker CLI against the node over TLS (DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH). */
  docker(args: string[], options?: RunOptions): Promise<RunResult>;
  /** berth against the node over TLS. */
  berth(args: string[], options?: RunOptions): Promise<RunResult>;
  /** A raw Engine API call on the node's unix socket. */
  api(method: string, path: string, body?: unknown, options?: ApiOptions): Promise<ApiResponse>;
  /** Imports busybox:latest (or repo:tag) into the node; resolves to the image ID. */
  loadBusybox(repoTag?: string): Promise<string>;
  /** Stops the node's berthd (as `machine stop`); its containers keep running. */
  stopEngine(): Promise<void>;
  /** Starts it again (as `machine start`). */
  startEngine(): Promise<void>;
  /** SIGKILLs the node's berthd, as a crash would. */
  killEngine(): Promise<void>;
  /** The node's berthd log. */
  log(): string;
  /** `machine rm -f` for this node alone. */
  remove(): Promise<void>;
}

export interface MachineSetOptions {
  /** Host bridge for these nodes (at most 15 chars); unique per test. */
  bridge: string;
  /** Their subnet, e.g. 10.231.40.0/24: the bridge gets .1, nodes .2, .3, ... */
  subnet: string;
  /** Engine labels per node (index i gets labels[i]), or the same for every node. */
  labels?: string[][] | ((index: number) => string[]);
  /** Node names are PREFIX-1 .. PREFIX-N (default "node"). */
  namePrefix?: string;
  /** Extra berthd flags for every node (e.g. ['--debug']). */
  engineArgs?: string[];
}

export interface MachineSet {
  storePath: string;
  machines: Machines;
  nodes: MachineNode[];
  /** Adds one more node to the set. */
  add(name: string, labels?: string[]): Promise<MachineNode>;
  /** Removes every node, the bridge and the store; throws listing anything left behind. */
  removeAll(): Promise<void>;
}

const liveSets = new Set<MachineSet>();
let handlersInstalled = false;

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void Promise.allSettled([...liveSets].map((s) => s.removeAll())).finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
    });
  }
}

/** Environment pointing docker (and berth) at a node over TLS, never at a developer's daemon. */
export function tlsClientEnv(host: string, certDir: string, dockerConfig: string, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, BERTH_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certDir, ...extra };
  delete env.DOCKER_CONTEXT;
  delete env.BERTH_TLS_VERIFY;
  delete env.BERTH_CERT_PATH;
  env.DOCKER_CONFIG = dockerConfig;
  env.DOCKER_CLI_HINTS = 'false';
  return env;
}

function nodeFor(machines: Machines, config: MachineConfig, dockerConfig: string, engineArgs: string[]): MachineNode {
  const host = machines.url(config);
  const certDir = machines.certPath(config);
  const socket = localSocket(machines.store, config);
  const env = (extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv => tlsClientEnv(host, certDir, dockerConfig, extra);
  const node: MachineNode = {
    name: config.name,
    ip: config.ip,
    host,
    certDir,
    address: machines.address(config),
    socket,
    config,
    docker: (args, o = {}) => run(dockerBin, args, { ...o, env: env(o.env) }),
    berth: (args, o = {}) => run(berthBin, args, { ...o, env: env(o.env) }),
    api: (method, path, body, o) => apiRequest(socket, method, path, body, o),
    async loadBusybox(repoTag = 'busybox:latest') {
      const [repo, tag = 'latest'] = repoTag.split(':') as [string, string?];
      const res = await apiRequest(socket, 'POST', `/images/create?fromSrc=-&repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`, readFileSync(await busyboxTar()), {
        headers: { 'Content-Type': 'application/x-tar' },
        timeoutMs: 120_000,
      });
      if (res.status !== 200) throw new Error(`${config.name}: import busybox -> ${res.status}: ${res.text}`);
      let id = '';
      for (const line of res.text.split('\n').filter((l) => l.trim())) {
        const msg = JSON.parse(line) as { error?: string; status?: string };
        if (msg.error) throw new Error(`${config.name}: import busybox: ${msg.error}`);
        if (msg.status?.startsWith('sha256:')) id = msg.status;
      }
      return id;
    },
    stopEngine: () => machines.stop(config.name),
    startEngine: () => machines.start(config.name, engineArgs),
    async killEngine() {
      const pidfile = join(machines.store.machineDir(config.name), 'berthd.pid');
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 200; i++) {
        try {
          process.kill(pid, 0);
        } catch {
          return;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    log: () => {
      try {
        return readFileSync(join(machines.store.machineDir(config.name), 'berthd.log'), 'utf8');
      } catch {
        return '';
      }
    },
    remove: () => machines.remove(config.name, true),
  };
  return node;
}

async function leftovers(storePath: string, bridge: string, configs: MachineConfig[]): Promise<string[]> {
  const problems: string[] = [];
  for (const c of configs) {
    if (c.netns && existsSync(`/run/netns/${c.netns.netns}`)) problems.push(`netns ${c.netns.netns} still exists`);
    if (c.netns && existsSync(`/sys/class/net/${c.netns.hostVeth}`)) problems.push(`veth ${c.netns.hostVeth} still exists`);
    if (c.execRoot && existsSync(c.execRoot)) problems.push(`exec-root ${c.execRoot} still exists`);
    for (const dir of [c.execRoot].filter((d): d is string => !!d)) {
      if (mountsUnder(dir).length) problems.push(`mounts under ${dir}`);
      for (const p of processesMentioning(dir)) problems.push(`process ${p.pid} (${p.argv.join(' ')}) still runs`);
    }
  }
  if (existsSync(`/sys/class/net/${bridge}`)) problems.push(`bridge ${bridge} still exists`);
  const rules = await run('iptables', ['-w', '-S', 'FORWARD']);
  for (const line of rules.stdout.split('\n')) if (line.includes(`berth-machine:${bridge}`)) problems.push(`iptables rule left: ${line}`);
  if (mountsUnder(storePath).length) problems.push(`mounts under ${storePath}`);
  for (const p of processesMentioning(storePath)) problems.push(`process ${p.pid} (${p.argv.join(' ')}) still runs`);
  return problems;
}

/** Creates `count` netns machines (in parallel) in a fresh store; see MachineSetOptions. */
export async function createMachines(count: number, options: MachineSetOptions): Promise<MachineSet> {
  if (process.getuid?.() !== 0) throw new Error('machine tests need root: they create network namespaces and bridges');
  installSignalHandlers();
  const storePath = mkdtempSync(join(tmpdir(), 'berth-machines-'));
  const dockerConfig = join(storePath, 'docker-config');
  mkdirSync(dockerConfig);
  const machines = new Machines(storePath);
  const engineArgs = options.engineArgs ?? [];
  const labelsFor = (i: number): string[] =>
    typeof options.labels === 'function' ? options.labels(i) : Array.isArray(options.labels) ? (options.labels[i] ?? []) : [];
  const seen: MachineConfig[] = [];
  let removed = false;

  const set: MachineSet = {
    storePath,
    machines,
    nodes: [],
    async add(name, labels = []) {
      const config = await machines.create({ name, driver: 'netns', bridge: options.bridge, subnet: options.subnet, labels, engineArgs });
      seen.push(config);
      const node = nodeFor(machines, config, dockerConfig, engineArgs);
      set.nodes.push(node);
      return node;
    },
    async removeAll() {
      if (removed) return;
      removed = true;
      liveSets.delete(set);
      const problems: string[] = [];
      for (const config of await machines.list().catch(() => [] as MachineConfig[])) {
        if (!seen.some((s) => s.name === config.name)) seen.push(config);
        await machines.remove(config.name, false).catch((err: Error) => problems.push(err.message));
      }
      problems.push(...(await leftovers(storePath, options.bridge, seen)));
      try {
        rmSync(storePath, { recursive: true, force: true });
      } catch (err) {
        problems.push(`rm ${storePath}: ${(err as Error).message}`);
      }
      if (problems.length) throw new Error(`machine cleanup left things behind:\n  ${problems.join('\n  ')}`);
    },
  };
  liveSets.add(set);
  try {
    const prefix = options.namePrefix ?? 'node';
    const created = await Promise.all(Array.from({ length: count }, (_, i) => set.add(`${prefix}-${i + 1}`, labelsFor(i))));
    // Promise.all pushes in completion order; keep nodes in name order.
    set.nodes.sort((a, b) => created.indexOf(a) - created.indexOf(b));
  } catch (err) {
    await set.removeAll().catch(() => undefined);
    throw err;
  }
  return set;
}

/** Fails loudly with the node's log when a CLI call did not succeed. */
export function expectOk(node: MachineNode, what: string, r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`${describeResult(what, r)}\n--- ${node.name} berthd log ---\n${node.log().split('\n').slice(-30).join('\n')}`);
  return r;
}

/** Network namespaces, bridges and veths named like machines' (for a test's own leak check). */
export function machineNetnsNames(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith('berth-m-'));
  } catch {
    return [];
  }
}

export interface ClusterStoreMachines {
  cluster: MachineSet;
  etcd: TestEtcd;
  /** A free 10.214.N.0/24 for the test's overlay networks. */
  overlaySubnet: string;
}

/**
 * N netns machines whose berthds share a real etcd as cluster store (the overlay driver), each
 * with busybox loaded: the underlay bridge first (createMachines keeps an existing one) so etcd
 * can listen on its address before the engines start and dial it. `tag` names the bridge,
 * the machines and the store prefix, so concurrent suites never meet. A failure on the way
 * removes what was made.
 */
export async function createClusterStoreMachines(count: number, tag: string, options: { storePrefix?: string; engineArgs?: string[] } = {}): Promise<ClusterStoreMachines> {
  const underlay = await freeUnderlaySubnet();
  const bridge = `b${tag}${underlay.octet.toString(16).padStart(2, '0')}${(process.pid % 256).toString(16).padStart(2, '0')}`;
  await ensureMachineBridge(bridge, `${underlay.hostIp}/24`);
  let etcd: TestEtcd | undefined;
  try {
    etcd = await startEtcd({ clientHost: underlay.hostIp });
    const storeUrl = etcd.url(options.storePrefix ?? `${tag}-${process.pid}`);
    const cluster = await createMachines(count, {
      bridge,
      subnet: underlay.subnet,
      namePrefix: `${tag}${process.pid % 10000}`,
      engineArgs: ['--cluster-store', storeUrl, '--cluster-advertise', 'eth0:2376', '--dns', '127.0.0.1', ...(options.engineArgs ?? [])],
    });
    for (const node of cluster.nodes) await node.loadBusybox();
    return { cluster, etcd, overlaySubnet: `10.214.${underlay.octet}.0/24` };
  } catch (err) {
    await etcd?.stop();
    await run('ip', ['link', 'del', bridge]);
    await run('iptables', ['-w', '-D', 'FORWARD', '-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `berth-machine:${bridge}`, '-j', 'ACCEPT']);
    throw err;
  }
}
