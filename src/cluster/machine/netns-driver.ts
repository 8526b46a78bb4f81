/**
 * The netns driver: a machine is a network namespace on this host, joined by a veth to a host
 * bridge, with an address of its own and its own berthd (own data-root, exec-root, socket,
 * pidfile, berth bridge and iptables) listening on tcp://IP:2376 with client-cert TLS.
 *
 * The berthd is entered into the namespace with nsenter --net only, so its mounts stay in the
 * host's mount namespace (visible to `machine rm`, and the same after a `machine stop/start`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineClient } from '../../client/client.js';
import { atomicWriteFile } from '../../util/atomic.js';
import { conflict, invalidParameter } from '../../util/errors.js';
import { formatIp, parseCidr, parseIp, size, overlaps, contains, type Cidr } from '../../network/ipv4.js';
import { listRoutes } from '../../sys/ip.js';
import {
  addNamedNetns,
  bridgeExists,
  bridgePorts,
  deleteHostLink,
  deleteNamedNetns,
  ensureMachineBridge,
  namedNetnsExists,
  pidsInNetns,
  pidsMentioning,
  removeMachineBridge,
  runAttachedInNetns,
  runcDeleteAll,
  spawnInNetns,
  terminate,
  unmountUnder,
  wireMachine,
} from '../../sys/machine-host.js';
import { machineCertPaths } from './certs.js';
import { localInstall } from './install.js';
import type { MachineConfig, MachineStore, NetnsDriverConfig } from './store.js';
import { processAlive } from '../../util/pid-lock.js';

export const DEFAULT_BRIDGE = 'berthm0';
/** docker-machine's VirtualBox host-only range; clear of berth's default pools (172.17-31/16 first). */
export const DEFAULT_SUBNET = '192.168.99.0/24';
export const ENGINE_PORT = 2376;
// Short on purpose: the monitor's attach socket lives at EXEC_ROOT/socket/<64-hex id>/attach and a
// unix socket path must fit in 108 bytes, so the exec-root can be at most ~29 characters.
const EXEC_ROOT_PARENT = '/run/berth-m';

const hash = (text: string, n: number): string => createHash('sha256').update(text).digest('hex').slice(0, n);

export function validateBridgeName(name: string): void {
  if (!/^[a-zA-Z0-9][\w.-]{0,14}$/.test(name)) throw invalidParameter(`invalid bridge name "${name}": at most 15 letters, digits, '_', '-' or '.'`);
}

/** A subnet the machines can live in: a valid IPv4 CIDR with room for the gateway and a machine. */
export function parseMachineSubnet(text: string): Cidr {
  const cidr = parseCidr(text);
  if (!cidr || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(text)) throw invalidParameter(`invalid subnet "${text}": want an IPv4 CIDR such as ${DEFAULT_SUBNET}`);
  if (cidr.prefix < 8 || cidr.prefix > 29) throw invalidParameter(`invalid subnet "${text}": the prefix must be between /8 and /29`);
  return cidr;
}

/** Names on the host for this machine: namespace, host veth end, exec-root. Unique per store. */
export function netnsNames(store: MachineStore, name: string, defaultStore: boolean): { netns: string; hostVeth: string; execRoot: string } {
  const machineDir = store.machineDir(name);
  return {
    netns: defaultStore ? `berth-m-${name}` : `berth-m-${hash(store.root, 6)}-${name}`,
    hostVeth: `bm${hash(machineDir, 10)}`,
    execRoot: join(EXEC_ROOT_PARENT, hash(machineDir, 10)),
  };
}

async function bridgeGateway(bridge: string): Promise<string[]> {
  const routes = await listRoutes();
  return routes.filter((r) => r.dev === bridge).map((r) => r.dst);
}

/**
 * Picks the machine's address: the lowest free one after the gateway (.1), skipping those of
 * this store's machines on the same bridge. A subnet that some other host route already
 * covers is refused unless it is this bridge's own.
 */
export async function allocateAddress(subnetText: string, bridge: string, others: MachineConfig[]): Promise<{ ip: string; gateway: string; prefix: number }> {
  const subnet = parseMachineSubnet(subnetText);
  const gateway = formatIp(subnet.base + 1);
  if (bridgeExists(bridge)) {
    const own = await bridgeGateway(bridge);
    if (!own.some((dst) => dst === `${formatIp(subnet.base)}/${subnet.prefix}`)) {
      throw conflict(`bridge ${bridge} exists with another subnet (${own.join(', ') || 'none'}); pick another --netns-bridge or its subnet`);
    }
  } else {
    for (const route of await listRoutes()) {
      const dst = route.dst === 'default' ? undefined : parseCidr(route.dst.includes('/') ? route.dst : `${route.dst}/32`);
      if (dst && dst.prefix > 0 && overlaps(dst, subnet)) {
        throw conflict(`subnet ${subnetText} overlaps the host route ${route.dst}${route.dev ? ` on ${route.dev}` : ''}; pick another --netns-subnet`);
      }
    }
  }
  const taken = new Set(others.filter((m) => m.netns?.bridge === bridge).map((m) => m.ip));
  for (let n = subnet.base + 2; n < subnet.base + size(subnet) - 1; n++) {
    const ip = formatIp(n);
    if (!taken.has(ip)) return { ip, gateway, prefix: subnet.prefix };
  }
  throw conflict(`subnet ${subnetText} has no free address left for another machine`);
}

export function isInSubnet(ip: string, subnet: string): boolean {
  const cidr = parseCidr(subnet);
  const n = parseIp(ip);
  return !!cidr && n !== undefined && contains(cidr, n);
}

function paths(store: MachineStore, config: MachineConfig): { dir: string; daemonJson: string; pidfile: string; log: string; socket: string; execRoot: string } {
  const dir = store.machineDir(config.name);
  const execRoot = config.execRoot!;
  return { dir, daemonJson: join(dir, 'daemon.json'), pidfile: join(dir, 'berthd.pid'), log: join(dir, 'berthd.log'), socket: join(execRoot, 'berth.sock'), execRoot };
}

/** The node's berthd over its unix socket (no TLS needed on the host's own filesystem). */
export function localSocket(store: MachineStore, config: MachineConfig): string {
  return paths(store, config).socket;
}

/** berthd's daemon.json for the machine: roots, listeners, TLS and labels. */
export async function writeDaemonJson(store: MachineStore, config: MachineConfig): Promise<void> {
  const p = paths(store, config);
  const certs = machineCertPaths(p.dir);
  const daemon = {
    'data-root': join(p.dir, 'data'),
    'exec-root': p.execRoot,
    pidfile: p.pidfile,
    hosts: [`unix://${p.socket}`, `tcp://${config.ip}:${config.port}`],
    tlsverify: true,
    tlscacert: certs.ca,
    tlscert: certs.serverCert,
    tlskey: certs.serverKey,
    labels: config.labels,
  };
  await atomicWriteFile(p.daemonJson, JSON.stringify(daemon, null, 2) + '\n', 0o600);
}

/** Namespace, veth, address, loopback (and the bridge when it is the first machine on it). */
export async function createNetwork(n: NetnsDriverConfig, ip: string, prefix: number): Promise<void> {
  await ensureMachineBridge(n.bridge, `${n.gateway}/${prefix}`);
  if (namedNetnsExists(n.netns)) throw conflict(`network namespace ${n.netns} already exists: remove it (ip netns del ${n.netns}) or pick another name`);
  await addNamedNetns(n.netns);
  await wireMachine({ netns: n.netns, hostVeth: n.hostVeth, bridge: n.bridge, cidr: `${ip}/${prefix}`, gateway: n.gateway });
}

export function berthdPid(store: MachineStore, config: MachineConfig): number | undefined {
  try {
    const pid = Number(readFileSync(paths(store, config).pidfile, 'utf8').trim());
    return pid > 0 && processAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function logTail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the machine's berthd in its namespace and waits until it answers on its socket. */
export async function startEngine(store: MachineStore, config: MachineConfig, extraArgs: string[] = [], timeoutMs = 30_000): Promise<void> {
  const n = config.netns!;
  if (!namedNetnsExists(n.netns)) throw conflict(`machine ${config.name}: its network namespace ${n.netns} is gone; remove the machine and create it again`);
  if (berthdPid(store, config)) return;
  const p = paths(store, config);
  const install = localInstall();
  const pid = spawnInNetns(n.netns, config.name, install.berthd, ['--config-file', p.daemonJson, ...extraArgs], p.log, install.env);
  const client = new EngineClient(`unix://${p.socket}`);
  for (const deadline = Date.now() + timeoutMs; ; await sleep(100)) {
    if (!processAlive(pid)) throw new Error(`berthd of machine ${config.name} exited during start:\n${logTail(p.log)}`);
    if (existsSync(p.socket) && (await client.ping().then(() => true, () => false))) return;
    if (Date.now() > deadline) {
      await terminate(pid, 5_000);
      throw new Error(`berthd of machine ${config.name} did not answer within ${timeoutMs} ms:\n${logTail(p.log)}`);
    }
  }
}

/** Stops the machine's berthd (SIGTERM, SIGKILL after the grace); its containers keep running, as with berthd itself. */
export async function stopEngine(store: MachineStore, config: MachineConfig, graceMs = 15_000): Promise<void> {
  const pid = berthdPid(store, config);
  if (pid) await terminate(pid, graceMs);
}

export function engineState(store: MachineStore, config: MachineConfig): 'Running' | 'Stopped' | 'Error' {
  if (!config.netns || !namedNetnsExists(config.netns.netns)) return 'Error';
  return berthdPid(store, config) ? 'Running' : 'Stopped';
}

/**
 * Removes everything the machine made: its containers (through its berthd when it runs), the
 * berthd, monitors and runc state left behind, mounts, the namespace (and with it the veth and
 * the node's own bridges and iptables), the host veth end, the bridge once no machine uses it,
 * and its directories. Collects problems instead of stopping at the first.
 */
export async function removeNetnsMachine(store: MachineStore, config: MachineConfig): Promise<string[]> {
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${(err as Error).message}`);
    }
  };
  const p = config.execRoot ? paths(store, config) : undefined;
  const n = config.netns;
  if (p && berthdPid(store, config)) {
    await step('remove containers', async () => {
      const client = new EngineClient(`unix://${p.socket}`);
      const containers = await client.containerList({ all: true });
      await Promise.all(containers.map((c) => client.containerRemove(c.Id, { force: true, volumes: true }).catch(() => undefined)));
    });
  }
  await step('stop berthd', () => stopEngine(store, config, 10_000));
  if (p) {
    await step('runc delete', () => runcDeleteAll('runc', join(p.execRoot, 'runc')));
    await step('monitors', () => Promise.all(pidsMentioning([p.execRoot, p.dir]).map((pid) => terminate(pid, 2_000))));
  }
  if (n) await step('namespace processes', async () => Promise.all((await pidsInNetns(n.netns)).map((pid) => terminate(pid, 2_000))));
  if (p) {
    await step('unmount', async () => {
      await unmountUnder(p.execRoot);
      await unmountUnder(p.dir);
    });
  }
  if (n) {
    await step('netns', () => deleteNamedNetns(n.netns));
    await step('veth', () => deleteHostLink(n.hostVeth));
    await step('bridge', async () => {
      if (bridgeExists(n.bridge) && bridgePorts(n.bridge).length === 0) await removeMachineBridge(n.bridge);
    });
  }
  if (p) await step('exec-root', () => rm(p.execRoot, { recursive: true, force: true }));
  await step('machine dir', () => rm(store.machineDir(config.name), { recursive: true, force: true }));
  return problems;
}

/** `machine ssh` for a netns machine: the command (or a shell) inside its namespace. */
export function sshNetns(config: MachineConfig, argv: string[]): Promise<number> {
  const shell = process.env.SHELL || '/bin/sh';
  return runAttachedInNetns(config.netns!.netns, argv.length ? argv : [shell]);
}
