/**
 * The filters, in classic swarm's order: each looks at one node and either keeps it or says why
 * not. `soft` is true on the first pass, when soft constraints/affinities (`==~`, `!=~`) and
 * ports held by stopped containers count; the scheduler drops them on a second pass if the
 * first leaves nothing, as swarm did ("tries to meet the rule; if not, discards it").
 */
import type { ClusterNode } from '../types.js';
import { invalidParameter } from '../../util/errors.js';
import { matchesAny, type Expr } from './expr.js';
import { containerSpellings, imageSpellings } from './lookup.js';
import type { PreparedRequest, WantedPort } from './request.js';
import { bytes, cpuCount, usedReservation } from './resources.js';

export interface Verdict {
  /** Why this node cannot take the container, worded to follow the filter's name. */
  reason: string;
  /** The unmet condition as classic swarm listed it ("node==foo", "port 80/tcp"). */
  condition: string;
}

export interface Filter {
  name: string;
  check(node: ClusterNode, req: PreparedRequest, soft: boolean): Verdict | undefined;
}

const health: Filter = {
  name: 'health',
  check: (node) => (node.healthy ? undefined : { reason: 'node is unhealthy or unreachable', condition: 'healthy node' }),
};

/** The values a constraint key reads from a node; undefined when the node has no such value. */
function constraintValues(node: ClusterNode, key: string): string[] {
  if (key === 'node') return [node.name, node.id];
  if (key === 'node.hostname') return [node.name];
  if (key === 'node.id') return [node.id];
  for (const prefix of ['node.labels.', 'engine.labels.']) {
    if (key.startsWith(prefix)) {
      const v = node.labels[key.slice(prefix.length)];
      return v === undefined ? [] : [v];
    }
  }
  const v = node.labels[key];
  return v === undefined ? [] : [v];
}

/** Keys of swarm mode's `node.*` family that a berth cluster has no data for: refused, not silently unmatched. */
export function checkConstraintKey(expr: Expr): void {
  if (expr.key.startsWith('node.') && !['node.hostname', 'node.id'].includes(expr.key) && !expr.key.startsWith('node.labels.')) {
    throw invalidParameter(`invalid constraint "${expr.text}": unsupported key ${expr.key} (use node, node.hostname, node.id, node.labels.KEY, engine.labels.KEY or an engine label)`);
  }
  if ((expr.key === 'node.labels.' || expr.key === 'engine.labels.')) throw invalidParameter(`invalid constraint "${expr.text}": empty label name`);
}

/** `==` holds when some value matches; `!=` when none does (so a missing label satisfies `!=`). */
function holds(expr: Expr, values: Iterable<string>): boolean {
  return matchesAny(expr, values) !== expr.negate;
}

const constraint: Filter = {
  name: 'constraint',
  check(node, req, soft) {
    for (const expr of req.constraints) {
      if (expr.soft && !soft) continue;
      if (!holds(expr, constraintValues(node, expr.key))) return { reason: expr.text, condition: expr.text };
    }
    return undefined;
  },
};

function affinityValues(node: ClusterNode, key: string): Iterable<string> {
  if (key === 'container') return node.containers.flatMap((c) => containerSpellings(node, c));
  if (key === 'image') return imageSpellings(node);
  // Label affinity: containers on the node carrying that label.
  return node.containers.flatMap((c) => (c.labels[key] === undefined ? [] : [c.labels[key]!]));
}

const affinity: Filter = {
  name: 'affinity',
  check(node, req, soft) {
    for (const expr of req.affinities) {
      if (expr.soft && !soft) continue;
      if (!holds(expr, affinityValues(node, expr.key))) return { reason: expr.text, condition: expr.text };
    }
    return undefined;
  },
};

const dependency: Filter = {
  name: 'dependency',
  check(node, req) {
    if (!req.dependencyNodes || req.dependencyNodes.has(node.name)) return undefined;
    const missing = req.dependencies.find((d) => !req.dependencyHolders.get(d.ref)?.includes(node.name)) ?? req.dependencies[0]!;
    const holders = req.dependencyHolders.get(missing.ref) ?? [];
    return { reason: `${missing.via} ${missing.ref} is on ${holders.join(', ')}`, condition: `${missing.via} ${missing.ref}` };
  },
};

const WILDCARDS = new Set(['', '0.0.0.0', '::']);
const ipsClash = (a: string, b: string): boolean => WILDCARDS.has(a) || WILDCARDS.has(b) || a === b;
const portLabel = (p: WantedPort): string => `${p.hostIp && !WILDCARDS.has(p.hostIp) ? `${p.hostIp}:` : ''}${p.first === p.last ? p.first : `${p.first}-${p.last}`}/${p.protocol}`;

/**
 * A node is out when a wanted host port is published there already (same protocol, and the same
 * host IP or a wildcard on either side; for a range, when every port in it is taken).
 * Running containers hold their ports, as the engine sees it: it refuses to start a second
 * container on a bound port but lets you create one. Stopped containers' ports count only on
 * the soft pass: placing next to them works today but fails when the old container starts
 * again, so another node is preferred while one exists. (Classic swarm counted every
 * container, which left ports blocked by long-dead containers until they were removed.)
 */
const port: Filter = {
  name: 'port',
  check(node, req, soft) {
    for (const want of req.ports) {
      const taken = new Map<number, string>();
      for (const c of node.containers) {
        if (!c.running && !soft) continue;
        for (const p of c.publishedPorts) {
          if (p.protocol === want.protocol && p.hostPort >= want.first && p.hostPort <= want.last && ipsClash(p.hostIp, want.hostIp)) {
            taken.set(p.hostPort, (c.names[0] ?? c.id.slice(0, 12)).replace(/^\//, '') + (c.running ? '' : ' (stopped)'));
          }
        }
      }
      if (taken.size === want.last - want.first + 1) {
        const by = [...new Set(taken.values())].join(', ');
        return { reason: `${portLabel(want)} in use by ${by}`, condition: `port ${portLabel(want)}` };
      }
    }
    return undefined;
  },
};

/** Classic swarm's `containerslots` engine label: at most that many containers on the node. */
const containerslots: Filter = {
  name: 'containerslots',
  check(node) {
    const raw = node.labels.containerslots;
    if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
    const slots = Number(raw.trim());
    return node.containers.length >= slots ? { reason: `all ${slots} container slots used`, condition: 'available container slots' } : undefined;
  },
};

/** Reservations must fit whatever the strategy: -m 2g fits no node with less free memory. */
const resources: Filter = {
  name: 'resources',
  check(node, req) {
    const want = req.reservation;
    if (!want.memory && !want.cpus) return undefined;
    const used = usedReservation(node);
    const reasons: string[] = [];
    if (want.memory && used.memory + want.memory > node.totalMemory) {
      reasons.push(`needs ${bytes(want.memory)} memory, ${bytes(Math.max(0, node.totalMemory - used.memory))} of ${bytes(node.totalMemory)} free`);
    }
    // A small epsilon: 0.1 + 0.2 CPUs must fit in 0.3.
    if (want.cpus && used.cpus + want.cpus > node.totalCpus + 1e-9) {
      reasons.push(`needs ${cpuCount(want.cpus)}, ${cpuCount(Math.max(0, node.totalCpus - used.cpus))} of ${cpuCount(node.totalCpus)} free`);
    }
    return reasons.length ? { reason: reasons.join(', '), condition: 'available resources' } : undefined;
  },
};

export const FILTERS: readonly Filter[] = [health, constraint, affinity, dependency, port, containerslots, resources];
