/**
 * iproute2 wrappers: bridges, veth pairs, addresses and routes. Commands for one namespace are
 * batched into a single `ip -batch -` so a container's wiring costs one process, not ten.
 */
import { existsSync, readFileSync } from 'node:fs';
import { execTool, execToolChecked } from './exec.js';
import { execInNetns } from './netns.js';

export interface RouteEntry {
  /** "default" or a CIDR. */
  dst: string;
  dev?: string;
}

/** The host's IPv4 routes (`ip -j route`), to keep new subnets clear of them. */
export async function listRoutes(): Promise<RouteEntry[]> {
  const out = await execToolChecked('ip', ['-4', '-j', 'route', 'show', 'table', 'all']);
  const parsed = JSON.parse(out || '[]') as Array<{ dst?: string; dev?: string; type?: string }>;
  return parsed.filter((r) => r.type === undefined || r.type === 'unicast').map((r) => ({ dst: r.dst ?? '', dev: r.dev }));
}

export async function linkExists(name: string): Promise<boolean> {
  // /proc/self/net/dev lists the links of the namespace this process is in, even when berthd was
  // moved into a machine's namespace with nsenter and /sys still shows the host's links; reading
  // it is far cheaper than spawning `ip link show` on every container start.
  if (!/^[\w.:-]{1,15}$/.test(name)) return false;
  try {
    return readFileSync('/proc/self/net/dev', 'utf8')
      .split('\n')
      .some((line) => line.slice(0, line.indexOf(':')).trim() === name);
  } catch {
    return existsSync(`/sys/class/net/${name}`);
  }
}

/** Creates a bridge with its gateway address and brings it up; `alias` marks it as berth's. */
export async function createBridge(name: string, gatewayCidr: string, alias: string): Promise<void> {
  await execToolChecked('ip', ['-batch', '-'], {
    input: [
      `link add name ${name} type bridge`,
      `link set dev ${name} alias ${alias}`,
      `addr add ${gatewayCidr} dev ${name}`,
      `link set dev ${name} up`,
    ].join('\n') + '\n',
  });
}

export async function deleteLink(name: string): Promise<void> {
  const r = await execTool('ip', ['link', 'del', 'dev', name]);
  if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) {
    throw new Error(`ip link del ${name}: ${r.stderr.trim()}`);
  }
}

/** Names of links whose alias is exactly `alias` (bridges berth made). */
export async function linksWithAlias(alias: string): Promise<string[]> {
  const out = await execToolChecked('ip', ['-j', 'link', 'show']);
  const links = JSON.parse(out || '[]') as Array<{ ifname: string; ifalias?: string }>;
  return links.filter((l) => l.ifalias === alias).map((l) => l.ifname);
}

export interface VethSpec {
  /** Name inside the container (eth0, eth1, ...). */
  inside: string;
  /** Name of the host end, attached to the bridge. */
  hostName: string;
  bridge: string;
  mac: string;
  /** address/prefix */
  cidr: string;
  /** Default route via this gateway, for the first network that has one. */
  defaultGateway?: string;
  /** berthd's pid: `netns PID` names the host namespace from inside nsenter. */
  hostPid: number;
}

/** Brings up loopback in a fresh namespace (runc doesn't). */
export async function loopbackUp(netns: string): Promise<void> {
  await execInNetns(netns, 'ip', ['link', 'set', 'lo', 'up']);
}

/**
 * Creates the pair inside the container's namespace and pushes the host end out to berthd's,
 * which needs no name in /run/netns; then plugs the host end into the bridge.
 */
export async function addVeth(netns: string, spec: VethSpec, withLoopback: boolean): Promise<void> {
  const lines = [
    ...(withLoopback ? ['link set lo up'] : []),
    `link add name ${spec.inside} address ${spec.mac} type veth peer name ${spec.hostName} netns ${spec.hostPid}`,
    `addr add ${spec.cidr} dev ${spec.inside}`,
    `link set dev ${spec.inside} up`,
    ...(spec.defaultGateway ? [`route add default via ${spec.defaultGateway} dev ${spec.inside}`] : []),
  ];
  await execInNetns(netns, 'ip', ['-batch', '-'], lines.join('\n') + '\n');
  await execToolChecked('ip', ['link', 'set', 'dev', spec.hostName, 'master', spec.bridge, 'up']);
}

/** Removes an interface inside a namespace (its host peer goes with it). */
export async function deleteLinkInNetns(netns: string, name: string): Promise<void> {
  await execInNetns(netns, 'ip', ['link', 'del', 'dev', name]);
}
