/**
 * The host side of a local machine (berth machine -d netns): a named network namespace
 * (/run/netns/NAME, so `ip netns exec` and `ip -n` reach it), a veth from it into a host
 * bridge, a FORWARD accept for traffic between the bridge's ports (br_netfilter sends bridged
 * frames through iptables), a berthd started inside the namespace, and the teardown of all of it.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { execTool, execToolChecked } from './exec.js';
import { listMountPoints, unmount } from './fs.js';
import { processAlive } from '../util/pid-lock.js';

export function namedNetnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export function namedNetnsExists(name: string): boolean {
  return existsSync(namedNetnsPath(name));
}

export async function addNamedNetns(name: string): Promise<void> {
  await execToolChecked('ip', ['netns', 'add', name]);
}

/** Deleting the namespace also deletes the veth end inside it, and so its host peer. */
export async function deleteNamedNetns(name: string): Promise<void> {
  if (!namedNetnsExists(name)) return;
  const r = await execTool('ip', ['netns', 'del', name]);
  if (r.code !== 0 && namedNetnsExists(name)) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
}

function hostLinkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The bridge's ports (host veth ends plugged into it). */
export function bridgePorts(bridge: string): string[] {
  try {
    return readdirSync(`/sys/class/net/${bridge}/brif`);
  } catch {
    return [];
  }
}

export function bridgeExists(bridge: string): boolean {
  return existsSync(`/sys/class/net/${bridge}/bridge`);
}

function forwardRule(bridge: string): string[] {
  return ['-i', bridge, '-o', bridge, '-m', 'comment', '--comment', `berth-machine:${bridge}`, '-j', 'ACCEPT'];
}

/** Creates the machines' bridge with the gateway address (idempotent) and lets its ports talk. */
export async function ensureMachineBridge(bridge: string, gatewayCidr: string): Promise<void> {
  if (!bridgeExists(bridge)) {
    if (hostLinkExists(bridge)) throw new Error(`${bridge} exists and is not a bridge`);
    await execToolChecked('ip', ['-batch', '-'], {
      input: [`link add name ${bridge} type bridge`, `link set dev ${bridge} alias berth-machine`, `addr add ${gatewayCidr} dev ${bridge}`, `link set dev ${bridge} up`].join('\n') + '\n',
    });
  }
  const rule = forwardRule(bridge);
  const check = await execTool('iptables', ['-w', '-C', 'FORWARD', ...rule]);
  if (check.code !== 0) await execToolChecked('iptables', ['-w', '-I', 'FORWARD', '1', ...rule]);
}

/** Removes the bridge and its FORWARD rule. */
export async function removeMachineBridge(bridge: string): Promise<void> {
  const rule = forwardRule(bridge);
  while ((await execTool('iptables', ['-w', '-C', 'FORWARD', ...rule])).code === 0) {
    await execToolChecked('iptables', ['-w', '-D', 'FORWARD', ...rule]);
  }
  if (hostLinkExists(bridge)) await execToolChecked('ip', ['link', 'del', 'dev', bridge]);
}

export interface MachineLink {
  netns: string;
  hostVeth: string;
  bridge: string;
  /** The machine's address with prefix, e.g. 192.168.99.2/24. */
  cidr: string;
  gateway: string;
}

/** eth0 inside the namespace with the machine's address and a default route via the bridge; lo up. */
export async function wireMachine(l: MachineLink): Promise<void> {
  await execToolChecked('ip', ['link', 'add', l.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', l.netns]);
  await execToolChecked('ip', ['link', 'set', 'dev', l.hostVeth, 'master', l.bridge, 'up']);
  await execToolChecked('ip', ['-n', l.netns, '-batch', '-'], {
    input: ['link set lo up', `addr add ${l.cidr} dev eth0`, 'link set eth0 up', `route add default via ${l.gateway} dev eth0`].join('\n') + '\n',
  });
}

export async function deleteHostLink(name: string): Promise<void> {
  if (!hostLinkExists(name)) return;
  const r = await execTool('ip', ['link', 'del', 'dev', name]);
  if (r.code !== 0 && hostLinkExists(name)) throw new Error(`ip link del ${name}: ${r.stderr.trim()}`);
}

/**
 * Starts `file args` inside the namespace with its own hostname, detached from the caller (it outlives `berth machine
 * create`), output appended to `logPath`. nsenter switches only the network namespace, so the
 * daemon's mounts stay in the host's mount namespace where `machine rm` can see and undo them.
 */
export function spawnInNetns(netns: string, hostname: string, file: string, args: string[], logPath: string, env: NodeJS.ProcessEnv): number {
  const fd = openSync(logPath, 'a');
  try {
    // A UTS namespace of its own gives the node its own hostname, which is the engine's /info
    // Name: a cluster tells its nodes apart by it. Every step execs, so the pid is berthd's.
    const argv = [`--net=${namedNetnsPath(netns)}`, '--', 'unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', hostname, file, ...args];
    const child = spawn('nsenter', argv, { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (!child.pid) throw new Error(`cannot start ${file} in netns ${netns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}


function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, SIGKILL after `graceMs`; resolves once the pid is gone (or a zombie). */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!processAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (const deadline = Date.now() + graceMs; Date.now() < deadline; await sleep(50)) {
    if (!processAlive(pid) || isZombie(pid)) return;
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && processAlive(pid) && !isZombie(pid); i++) await sleep(20);
}

/** Pids whose command line mentions one of `needles` (a machine's conmons name its exec-root). */
export function pidsMentioning(needles: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (needles.some((n) => cmdline.includes(n))) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** Pids in the named network namespace (what `ip netns pids` reports). */
export async function pidsInNetns(netns: string): Promise<number[]> {
  const r = await execTool('ip', ['netns', 'pids', netns]);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

/** Unmounts everything below `dir`, deepest first. */
export async function unmountUnder(dir: string): Promise<void> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (let round = 0; round < 3; round++) {
    const points = (await listMountPoints()).filter((p) => p === dir || p.startsWith(prefix)).sort((a, b) => b.length - a.length);
    if (points.length === 0) return;
    for (const p of points) await unmount(p).catch(() => execTool('umount', ['-l', p]));
  }
}

/** `runc --root ROOT delete --force ID` for every container runc still knows under ROOT. */
export async function runcDeleteAll(runcPath: string, root: string): Promise<void> {
  let ids: string[];
  try {
    ids = readdirSync(root);
  } catch {
    return;
  }
  for (const id of ids) await execTool(runcPath, ['--root', root, 'delete', '--force', id]);
}

/** Runs a command with the caller's terminal; resolves with its exit status (machine ssh). */
export function runAttached(file: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Runs a command inside the named namespace with the caller's terminal. */
export function runAttachedInNetns(netns: string, argv: string[]): Promise<number> {
  return runAttached('ip', ['netns', 'exec', netns, ...argv]);
}

/** Packs `paths` (relative to `cwd`) into a gzip tarball at `out` (the ssh driver's upload). */
export async function packTarball(cwd: string, paths: string[], out: string): Promise<void> {
  await execToolChecked('tar', ['-czf', out, '-C', cwd, ...paths]);
}
