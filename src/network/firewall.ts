/**
 * berth's iptables rules, computed from the networks and published ports and written as a
 * whole: four chains of this daemon's own (suffixed with its instance tag so parallel daemons
 * never share one), reached by one jump each from FORWARD, POSTROUTING, PREROUTING and OUTPUT.
 *
 * - FORWARD: each berth bridge's traffic is accepted explicitly (a host whose FORWARD policy is
 *   DROP, e.g. after a dockerd stopped, still forwards it); bridges can't reach each other
 *   (isolation chain); --internal bridges reach nothing outside.
 * - POSTROUTING: masquerade a network's traffic leaving its bridge for the outside; masquerade
 *   host-local sources (127.0.0.1 after DNAT) and hairpin traffic so replies come back through
 *   the host's conntrack.
 * - DNAT: published ports, for packets arriving from outside (PREROUTING) and from the host
 *   itself (OUTPUT), including 127.0.0.1 — the kernel path instead of a userland proxy, so
 *   loopback throughput is the kernel's. That needs route_localnet on the bridge (set by the
 *   driver), as dockerd does with userland-proxy off.
 */
import { deleteChain, deleteRule, ensureJump, restoreChains, type Table, type TableRules } from '../sys/iptables.js';

export interface FirewallNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
}

export interface FirewallPort {
  proto: string;
  hostIp: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}

export interface FirewallState {
  networks: FirewallNetwork[];
  ports: FirewallPort[];
}

export interface ChainNames {
  forward: string;
  isolation: string;
  postrouting: string;
  dnat: string;
}

export function chainNames(tag: string): ChainNames {
  const suffix = tag ? `-${tag}` : '';
  return {
    forward: `BERTH-FORWARD${suffix}`,
    isolation: `BERTH-ISOLATION${suffix}`,
    postrouting: `BERTH-POSTROUTING${suffix}`,
    dnat: `BERTH-DNAT${suffix}`,
  };
}

interface Jump {
  table: Table;
  chain: string;
  rule: string[];
}

function jumps(c: ChainNames): Jump[] {
  return [
    { table: 'filter', chain: 'FORWARD', rule: ['-j', c.forward] },
    { table: 'nat', chain: 'POSTROUTING', rule: ['-j', c.postrouting] },
    { table: 'nat', chain: 'PREROUTING', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat] },
    { table: 'nat', chain: 'OUTPUT', rule: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat] },
  ];
}

/** The complete rule set for a state; pure, so it is unit-tested without iptables. */
export function buildRules(c: ChainNames, state: FirewallState): TableRules[] {
  const forward: string[][] = [];
  const isolation: string[][] = [];
  const post: string[][] = [];
  const dnat: string[][] = [];
  const F = ['-A', c.forward];
  // Replies and published-port traffic first, for every bridge, so isolation below never drops them.
  for (const n of state.networks) {
    forward.push([...F, '-o', n.bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
    if (!n.internal) forward.push([...F, '-o', n.bridge, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'ACCEPT']);
  }
  for (const n of state.networks) {
    forward.push([...F, '-i', n.bridge, '-o', n.bridge, '-j', 'ACCEPT']);
    if (n.internal) {
      forward.push([...F, '-i', n.bridge, '!', '-o', n.bridge, '-j', 'DROP']);
      forward.push([...F, '-o', n.bridge, '!', '-i', n.bridge, '-j', 'DROP']);
    } else {
      forward.push([...F, '-i', n.bridge, '!', '-o', n.bridge, '-j', c.isolation]);
      forward.push([...F, '-i', n.bridge, '!', '-o', n.bridge, '-j', 'ACCEPT']);
    }
    isolation.push(['-A', c.isolation, '-o', n.bridge, '-j', 'DROP']);
    if (!n.internal) post.push(['-A', c.postrouting, '-s', n.subnet, '!', '-o', n.bridge, '-j', 'MASQUERADE']);
    post.push(['-A', c.postrouting, '-o', n.bridge, '-m', 'addrtype', '--src-type', 'LOCAL', '-j', 'MASQUERADE']);
    post.push(['-A', c.postrouting, '-o', n.bridge, '-s', n.subnet, '-m', 'conntrack', '--ctstate', 'DNAT', '-j', 'MASQUERADE']);
  }
  for (const p of state.ports) {
    const dst = p.hostIp === '0.0.0.0' ? [] : ['-d', `${p.hostIp}/32`];
    dnat.push(['-A', c.dnat, ...dst, '-p', p.proto, '-m', p.proto, '--dport', String(p.hostPort), '-j', 'DNAT', '--to-destination', `${p.containerIp}:${p.containerPort}`]);
  }
  return [
    { table: 'filter', chains: [c.forward, c.isolation], rules: [...forward, ...isolation] },
    { table: 'nat', chains: [c.postrouting, c.dnat], rules: [...post, ...dnat] },
  ];
}

export class Firewall {
  private queue: Promise<unknown> = Promise.resolve();
  private installed = false;

  constructor(readonly chains: ChainNames) {}

  /** Rewrites berth's chains to match `state`; with no networks left, removes them. Serialised. */
  sync(state: FirewallState): Promise<void> {
    const run = async (): Promise<void> => {
      if (state.networks.length === 0) {
        await this.removeAll();
        return;
      }
      await restoreChains(buildRules(this.chains, state));
      if (!this.installed) {
        for (const j of jumps(this.chains)) await ensureJump(j.table, j.chain, j.rule);
        this.installed = true;
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Jumps first, so no packet ever meets a half-deleted chain. */
  async removeAll(): Promise<void> {
    for (const j of jumps(this.chains)) await deleteRule(j.table, j.chain, j.rule);
    await deleteChain('filter', this.chains.forward);
    await deleteChain('filter', this.chains.isolation);
    await deleteChain('nat', this.chains.postrouting);
    await deleteChain('nat', this.chains.dnat);
    this.installed = false;
  }
}
