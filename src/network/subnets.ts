/**
 * Choosing a free subnet for a new bridge: the first block of the address pools (docker's
 * defaults: the /16s of 172.17-31, then the /20s of 192.168) that overlaps neither a route of
 * the host nor another berth network. Several daemons may choose at once (parallel tests), so
 * the choice and the creation of the bridge that claims it happen under a host-wide lock file.
 */
import { listRoutes } from '../sys/ip.js';
import { invalidParameter } from '../util/errors.js';
import { withPidFileLock } from '../util/pid-lock.js';
import { formatCidr, overlaps, parseCidr, size, type Cidr } from './ipv4.js';

export const DEFAULT_POOLS = [
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/15', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/13', size: 16 },
  { base: '192.168.0.0/16', size: 20 },
];

const LOCK_PATH = '/run/berth-subnets.lock';

/** Runs `fn` holding the host-wide subnet lock. */
export function withSubnetLock<T>(fn: () => Promise<T>): Promise<T> {
  return withPidFileLock(LOCK_PATH, 'the subnet lock', fn, 15_000);
}

/** Subnets in use on the host: every route except default routes. */
export async function hostSubnets(): Promise<Cidr[]> {
  const out: Cidr[] = [];
  for (const route of await listRoutes()) {
    if (route.dst === 'default' || route.dst === '') continue;
    const cidr = parseCidr(route.dst.includes('/') ? route.dst : `${route.dst}/32`);
    if (cidr && cidr.prefix > 0) out.push(cidr);
  }
  return out;
}

export function pickSubnet(pools: Array<{ base: string; size: number }>, taken: Cidr[]): string {
  for (const pool of pools) {
    const base = parseCidr(pool.base);
    if (!base || pool.size < base.prefix || pool.size > 30) continue;
    const step = 2 ** (32 - pool.size);
    for (let n = base.base; n < base.base + size(base); n += step) {
      const candidate: Cidr = { base: n >>> 0, prefix: pool.size };
      if (!taken.some((t) => overlaps(t, candidate))) return formatCidr(candidate);
    }
  }
  throw invalidParameter('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
}
