/**
 * iproute2 wrappers: bridges, veth pairs, addresses and routes. Commands for one namespace are
 * batched into a single `ip -batch -` so a container's wiring costs one process, not ten.
 */
import { existsSync, readFileSync } from 'node:fs';
import { execTool, execToolChecked } from './exec.js';
import { execInNetns } from './netns.js';
import { netlinkAddon } from './netlink.js';
import { errorMessage, systemError } from '../util/errors.js';

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
  /** Both ends' MTU when the network's is below the default (overlay: underlay minus VXLAN's 50 bytes). */
  mtu?: number;
}

/** Brings up loopback in a fresh namespace (runc doesn't). */
export async function loopbackUp(netns: string): Promise<void> {
  await execInNetns(netns, 'ip', ['link', 'set', 'lo', 'up']);
}

/**
 * Creates the pair inside the container's namespace and pushes the host end out to berthd's,
 * which needs no name in /run/netns; then plugs the host end into the bridge. Through the
 * netlink addon when it is built (no process at all), else one `ip -batch` inside plus one `ip`.
 */
export async function addVeth(netns: string, spec: VethSpec, withLoopback: boolean): Promise<void> {
  const native = netlinkAddon();
  if (native) {
    const [address, prefix] = spec.cidr.split('/') as [string, string];
    try {
      await native.addVeth(netns, {
        inside: spec.inside,
        hostName: spec.hostName,
        bridge: spec.bridge,
        mac: spec.mac,
        address,
        prefixLength: Number(prefix),
        ...(spec.defaultGateway ? { gateway: spec.defaultGateway } : {}),
        ...(spec.mtu ? { mtu: spec.mtu } : {}),
        loopback: withLoopback,
      });
    } catch (err) {
      throw systemError(`wiring ${spec.inside} (${spec.cidr}) to ${spec.bridge}: ${errorMessage(err)}`);
    }
    return;
  }
  const lines = [
    ...(withLoopback ? ['link set lo up'] : []),
    `link add name ${spec.inside} address ${spec.mac}${spec.mtu ? ` mtu ${spec.mtu}` : ''} type veth peer name ${spec.hostName}${spec.mtu ? ` mtu ${spec.mtu}` : ''} netns ${spec.hostPid}`,
    `addr add ${spec.cidr} dev ${spec.inside}`,
    `link set dev ${spec.inside} up`,
    ...(spec.defaultGateway ? [`route add default via ${spec.defaultGateway} dev ${spec.inside}`] : []),
  ];
  await execInNetns(netns, 'ip', ['-batch', '-'], lines.join('\n') + '\n');
  await execToolChecked('ip', ['link', 'set', 'dev', spec.hostName, 'master', spec.bridge, 'up']);
}

/**
 * Unplugs a stopped container's host end from its bridge and takes it down, which is what
 * stops traffic; the pair itself goes with the namespace once that is unpinned and unused,
 * in the kernel's own cleanup. Deleting it here instead waits for RCU grace periods, 15-30 ms
 * on the path `run --rm` waits on.
 */
export async function detachLink(name: string): Promise<void> {
  const native = netlinkAddon();
  if (native) {
    await native.detachLink(name);
    return;
  }
  if (await linkExists(name)) await execToolChecked('ip', ['link', 'set', 'dev', name, 'nomaster', 'down']);
}

/** Removes an interface inside a namespace (its host peer goes with it). */
export async function deleteLinkInNetns(netns: string, name: string): Promise<void> {
  await execInNetns(netns, 'ip', ['link', 'del', 'dev', name]);
}

// ---- VXLAN (overlay networks) ----

export interface VxlanSpec {
  name: string;
  vni: number;
  /** UDP port of the tunnel (4789 by default, IANA's). */
  port: number;
  /** This node's underlay address: the tunnel's source. */
  local: string;
  /** The underlay interface that carries the tunnel. */
  dev: string;
  mtu: number;
  /** The bridge the device is plugged into. */
  bridge: string;
  alias: string;
}

/**
 * A bridge (no address unless `gatewayCidr`) and a vxlan device plugged into it, in one batch.
 * `nolearning`: remote MACs come only from the static FDB entries berth programs; `proxy`: the
 * device answers ARP from its neighbour table, so broadcasts never cross the underlay.
 */
export async function createVxlanBridge(bridge: string, gatewayCidr: string | undefined, vxlan: VxlanSpec): Promise<void> {
  await execToolChecked('ip', ['-batch', '-'], {
    input: [
      `link add name ${bridge} mtu ${vxlan.mtu} type bridge`,
      `link set dev ${bridge} alias ${vxlan.alias}`,
      ...(gatewayCidr ? [`addr add ${gatewayCidr} dev ${bridge}`] : []),
      `link add name ${vxlan.name} mtu ${vxlan.mtu} type vxlan id ${vxlan.vni} dstport ${vxlan.port} local ${vxlan.local} dev ${vxlan.dev} nolearning proxy`,
      `link set dev ${vxlan.name} alias ${vxlan.alias}`,
      `link set dev ${vxlan.name} master ${bridge} up`,
      // The bridge mustn't learn remote MACs either: its table would outlive the endpoints.
      `link set dev ${vxlan.name} type bridge_slave learning off`,
      `link set dev ${bridge} up`,
    ].join('\n') + '\n',
  });
}

/** Static forwarding entry: frames for `mac` go through the tunnel to `remote` (the vxlan device's own table). */
export async function addFdb(dev: string, mac: string, remote: string): Promise<void> {
  await execToolChecked('bridge', ['fdb', 'replace', mac, 'dev', dev, 'dst', remote, 'self', 'permanent']);
}

export async function deleteFdb(dev: string, mac: string, remote: string): Promise<void> {
  const r = await execTool('bridge', ['fdb', 'del', mac, 'dev', dev, 'dst', remote, 'self']);
  if (r.code !== 0 && !/No such file|not found|Cannot find/i.test(r.stderr)) throw new Error(`bridge fdb del ${mac} dev ${dev}: ${r.stderr.trim()}`);
}

/** Permanent ARP entry on the vxlan device, so its proxy answers for the remote address. */
export async function addNeigh(dev: string, ip: string, mac: string): Promise<void> {
  await execToolChecked('ip', ['neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
}

export async function deleteNeigh(dev: string, ip: string): Promise<void> {
  const r = await execTool('ip', ['neigh', 'del', ip, 'dev', dev]);
  if (r.code !== 0 && !/No such file|not found|Cannot find/i.test(r.stderr)) throw new Error(`ip neigh del ${ip} dev ${dev}: ${r.stderr.trim()}`);
}

export interface FdbEntry {
  mac: string;
  dst?: string;
}

/** The static entries of a vxlan device that point at a remote (its own self entries). */
export async function listFdb(dev: string): Promise<FdbEntry[]> {
  const out = await execToolChecked('bridge', ['-j', 'fdb', 'show', 'dev', dev]);
  const parsed = JSON.parse(out || '[]') as Array<{ mac: string; dst?: string }>;
  return parsed.filter((e) => e.dst).map((e) => ({ mac: e.mac, dst: e.dst }));
}

export interface NeighEntry {
  ip: string;
  mac: string;
}

export async function listNeigh(dev: string): Promise<NeighEntry[]> {
  const out = await execToolChecked('ip', ['-4', '-j', 'neigh', 'show', 'dev', dev]);
  const parsed = JSON.parse(out || '[]') as Array<{ dst: string; lladdr?: string }>;
  return parsed.filter((e) => e.lladdr).map((e) => ({ ip: e.dst, mac: e.lladdr! }));
}

export interface InterfaceAddress {
  ifname: string;
  address: string;
  prefix: number;
  mtu: number;
}

/** IPv4 addresses of this namespace's interfaces (`ip -j addr`), to find the underlay device. */
export async function interfaceAddresses(): Promise<InterfaceAddress[]> {
  const out = await execToolChecked('ip', ['-4', '-j', 'addr', 'show']);
  const parsed = JSON.parse(out || '[]') as Array<{ ifname: string; mtu: number; addr_info?: Array<{ family: string; local: string; prefixlen: number }> }>;
  return parsed.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => ({ ifname: l.ifname, address: a.local, prefix: a.prefixlen, mtu: l.mtu })));
}
