/**
 * The pure parts of overlay networks: reading --cluster-store and --cluster-advertise, choosing
 * a VNI, a subnet and an address. The cluster store makes the choices atomic (a create-if-absent
 * transaction per VNI, subnet and address); these functions only propose candidates, so they are
 * unit-tested without etcd.
 */
import { createHash } from 'node:crypto';
import { invalidParameter } from '../../util/errors.js';
import { contains, formatIp, overlaps, parseCidr, parseIp, size, type Cidr } from '../ipv4.js';
import { pickSubnet } from '../subnets.js';

export interface ClusterStoreUrl {
  /** http://HOST:PORT for each member, as the etcd client dials them. */
  endpoints: string[];
  /** Key prefix without slashes at either end ("berth" by default). */
  prefix: string;
  /** The URL as the user wrote it, for messages. */
  text: string;
}

export const DEFAULT_STORE_PREFIX = 'berth';

/** etcd://HOST:PORT[,HOST:PORT...][/prefix], the form dockerd 20.10 accepted for --cluster-store. */
export function parseClusterStore(text: string): ClusterStoreUrl {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(text);
  if (!m) {
    if (/^(consul|zk):\/\//.test(text)) throw invalidParameter(`cluster store ${text}: only etcd:// is supported by berth`);
    throw invalidParameter(`invalid cluster store "${text}": expected etcd://HOST:PORT[,HOST:PORT][/prefix]`);
  }
  const endpoints = m[1]!.split(',').map((hostPort) => {
    if (!/^[\w.-]+:\d{1,5}$/.test(hostPort) || Number(hostPort.split(':')[1]) > 65535) {
      throw invalidParameter(`invalid cluster store "${text}": "${hostPort}" is not HOST:PORT`);
    }
    return `http://${hostPort}`;
  });
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '') || DEFAULT_STORE_PREFIX;
  return { endpoints, prefix, text };
}

export interface AdvertiseSpec {
  /** An IPv4 address, or an interface name whose first address is used. */
  host: string;
  port: number;
}

/** IP:PORT or INTERFACE:PORT (dockerd's --cluster-advertise). */
export function parseAdvertise(text: string): AdvertiseSpec {
  const m = /^([\w.-]+):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw invalidParameter(`invalid --cluster-advertise "${text}": expected IP:PORT or INTERFACE:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** The interface carrying `host` (an address or an interface name) among this namespace's addresses. */
export function resolveAdvertise(spec: AdvertiseSpec, addresses: Array<{ ifname: string; address: string; mtu: number }>): { ip: string; dev: string; mtu: number } {
  const byIp = addresses.find((a) => a.address === spec.host);
  if (byIp) return { ip: byIp.address, dev: byIp.ifname, mtu: byIp.mtu };
  if (parseIp(spec.host) !== undefined) throw invalidParameter(`--cluster-advertise ${spec.host}: no interface of this host has that address`);
  const byName = addresses.find((a) => a.ifname === spec.host);
  if (byName) return { ip: byName.address, dev: byName.ifname, mtu: byName.mtu };
  throw invalidParameter(`--cluster-advertise ${spec.host}: no interface with that name has an IPv4 address`);
}

/** VXLAN adds 50 bytes (outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8) to every frame. */
export const VXLAN_OVERHEAD = 50;

export function overlayMtu(underlayMtu: number): number {
  return underlayMtu - VXLAN_OVERHEAD;
}

/** docker's overlay VNIs start at 4096 (below are left for other uses); 2^24 - 1 is the largest. */
export const VNI_MIN = 4096;
export const VNI_MAX = 0xffffff;

/**
 * VNIs to try for a network, best first: one derived from the network id (so the same network
 * gets the same VNI however often it is recreated with that id), then the next ones. The store
 * claims the first that no other network holds.
 */
export function* vniCandidates(networkId: string): Generator<number> {
  const span = VNI_MAX - VNI_MIN + 1;
  const start = createHash('sha256').update(networkId).digest().readUInt32BE(0) % span;
  for (let i = 0; i < span; i++) yield VNI_MIN + ((start + i) % span);
}

export function validVni(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > VNI_MAX) throw invalidParameter(`invalid VXLAN id ${text}: it must be between 1 and ${VNI_MAX}`);
  return n;
}

/** docker's global address space: /24s of 10.0.0.0/8. */
export const OVERLAY_POOLS = [{ base: '10.0.0.0/8', size: 24 }];

/** The first pool block that neither another overlay network nor a route of this node uses. */
export function pickOverlaySubnet(taken: Cidr[], pools = OVERLAY_POOLS): string {
  return pickSubnet(pools, taken);
}

export interface AddressPool {
  subnet: Cidr;
  gateway: number;
  range: Cidr;
}

/**
 * Addresses to try for a new endpoint, lowest first, skipping the network and broadcast
 * addresses, the gateway and those `taken` (as the caller last saw them; the store's
 * transaction settles races).
 */
export function* addressCandidates(pool: AddressPool, taken: Set<string>): Generator<string> {
  const broadcast = pool.subnet.base + size(pool.subnet) - 1;
  const first = Math.max(pool.range.base, pool.subnet.base + 1);
  const last = Math.min(pool.range.base + size(pool.range) - 1, broadcast - 1);
  for (let ip = first; ip <= last; ip++) {
    if (ip === pool.gateway) continue;
    const text = formatIp(ip);
    if (!taken.has(text)) yield text;
  }
}

/** Checks an --ip for an overlay network; the store then claims it. */
export function checkWantedAddress(pool: AddressPool, wanted: string): string {
  const ip = parseIp(wanted);
  if (ip === undefined) throw invalidParameter(`invalid IPv4 address: ${wanted}`);
  const broadcast = pool.subnet.base + size(pool.subnet) - 1;
  if (!contains(pool.subnet, ip) || ip === pool.subnet.base || ip === broadcast) {
    throw invalidParameter(`no configured subnet or ip-range contain the IP address ${wanted}`);
  }
  if (ip === pool.gateway) throw invalidParameter('Address already in use');
  return wanted;
}

export function subnetsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return Boolean(x && y && overlaps(x, y));
}

/** etcd keys can't hold "/" inside a segment: 10.1.2.0/24 -> 10.1.2.0-24. */
export function subnetKey(subnet: string): string {
  return subnet.replace('/', '-');
}

/** Interface names for a network on a node, derived from its id (IFNAMSIZ: at most 15 bytes). */
export function overlayLinkNames(networkId: string): { bridge: string; vxlan: string } {
  return { bridge: `ovbr-${networkId.slice(0, 10)}`, vxlan: `ovx-${networkId.slice(0, 11)}` };
}
