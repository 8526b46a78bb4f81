/**
 * Address management for one network: the gateway is the first host address unless given,
 * containers get the lowest free address in the IP range. Allocations live in the network's
 * record, so they survive daemon restarts and an address is never handed out twice.
 */
import { conflict, invalidParameter } from '../util/errors.js';
import { contains, formatIp, mask, parseCidr, parseIp, size, type Cidr } from './ipv4.js';
import type { NetworkRecord } from './types.js';

export interface PoolView {
  subnet: Cidr;
  gateway: number;
  range: Cidr;
}

export function poolOf(network: NetworkRecord): PoolView | undefined {
  const pool = network.ipam[0];
  if (!pool) return undefined;
  const subnet = parseCidr(pool.Subnet)!;
  return { subnet, gateway: parseIp(pool.Gateway)!, range: pool.IPRange ? parseCidr(pool.IPRange)! : subnet };
}

/** Takes `wanted` (an --ip) or the lowest free address for `owner`. */
export function allocate(network: NetworkRecord, owner: string, wanted?: string): string {
  const pool = poolOf(network);
  if (!pool) throw invalidParameter(`network ${network.name} has no IPv4 pool`);
  const broadcast = pool.subnet.base + size(pool.subnet) - 1;
  if (wanted) {
    const ip = parseIp(wanted);
    if (ip === undefined) throw invalidParameter(`invalid IPv4 address: ${wanted}`);
    if (!contains(pool.subnet, ip) || ip === pool.subnet.base || ip === broadcast) {
      throw invalidParameter(`no configured subnet or ip-range contain the IP address ${wanted}`);
    }
    const holder = network.allocations[wanted];
    if (ip === pool.gateway || (holder !== undefined && holder !== owner)) throw conflict(`Address already in use`);
    network.allocations[wanted] = owner;
    return wanted;
  }
  const first = Math.max(pool.range.base, pool.subnet.base + 1);
  const last = Math.min(pool.range.base + size(pool.range) - 1, broadcast - 1);
  for (let ip = first; ip <= last; ip++) {
    if (ip === pool.gateway) continue;
    const text = formatIp(ip);
    if (network.allocations[text] === undefined) {
      network.allocations[text] = owner;
      return text;
    }
  }
  throw invalidParameter(`no available IPv4 addresses on this network's address pools: ${network.name} (${network.id})`);
}

export function release(network: NetworkRecord, owner: string): boolean {
  let changed = false;
  for (const [ip, holder] of Object.entries(network.allocations)) {
    if (holder === owner) {
      delete network.allocations[ip];
      changed = true;
    }
  }
  return changed;
}

export function prefixLength(network: NetworkRecord): number {
  return poolOf(network)?.subnet.prefix ?? 0;
}

/** The gateway docker picks by default: the subnet's first host address. */
export function defaultGateway(subnet: Cidr): string {
  return formatIp(((subnet.base & mask(subnet.prefix)) >>> 0) + 1);
}
