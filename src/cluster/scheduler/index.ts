/**
 * The cluster scheduler, classic swarm's two phases: filters remove the nodes that cannot take
 * a container (health, constraint, affinity, dependency, port, container slots, resources),
 * then a strategy (spread, binpack, random) picks one of the rest. Pure: no I/O, the manager
 * passes in what it knows of the nodes.
 */
import type { ClusterNode, PlacementRequest, Rejection, Schedule, StrategyName } from '../types.js';
import { conflict, invalidParameter } from '../../util/errors.js';
import { checkConstraintKey, FILTERS, type Verdict } from './filters.js';
import { prepareRequest, type PreparedRequest } from './request.js';
import { binpack, randomWith, spread, type Rank } from './strategies.js';

export { stripSchedulingHints, readSchedulingHints, CONSTRAINTS_LABEL, AFFINITIES_LABEL, RESCHEDULE_LABEL, type SchedulingHints } from './hints.js';
export { parseExpr, type Expr } from './expr.js';
export { seededRandom, parseStrategy, STRATEGIES } from './strategies.js';

export interface FilterOutcome {
  candidates: ClusterNode[];
  rejections: (Rejection & { condition: string })[];
}

/** Runs every filter over every node; each node is rejected by the first filter it fails. */
function applyFilters(nodes: ClusterNode[], req: PreparedRequest, soft: boolean): FilterOutcome {
  const candidates: ClusterNode[] = [];
  const rejections: FilterOutcome['rejections'] = [];
  for (const node of nodes) {
    let verdict: Verdict | undefined;
    let filter = '';
    for (const f of FILTERS) {
      verdict = f.check(node, req, soft);
      if (verdict) {
        filter = f.name;
        break;
      }
    }
    if (verdict) rejections.push({ node: node.name, filter, reason: verdict.reason, condition: verdict.condition });
    else candidates.push(node);
  }
  return { candidates, rejections };
}

function prepare(nodes: ClusterNode[], request: PlacementRequest): PreparedRequest {
  const req = prepareRequest(nodes, request);
  for (const c of req.constraints) checkConstraintKey(c);
  return req;
}

/**
 * The filter phase alone: soft rules first, and without them when they leave nothing. For the
 * manager's diagnostics and the tests; schedule() is this plus a strategy.
 */
export function filterNodes(nodes: ClusterNode[], request: PlacementRequest): FilterOutcome {
  const req = prepare(nodes, request);
  return filterPrepared(nodes, req);
}

function filterPrepared(nodes: ClusterNode[], req: PreparedRequest): FilterOutcome {
  const first = applyFilters(nodes, req, true);
  return first.candidates.length ? first : applyFilters(nodes, req, false);
}

/**
 * The "fits nowhere" error: classic swarm's wording with its list of unmet conditions, then
 * every node and the filter that removed it.
 */
export function noSuitableNodeMessage(rejections: FilterOutcome['rejections']): string {
  const conditions = [...new Set(rejections.map((r) => `[${r.condition}]`))].join(' ');
  const perNode = [...rejections].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)).map((r) => `${r.node}: ${r.filter} ${r.reason}`);
  return `Unable to find a node that satisfies the following conditions ${conditions}; no suitable node (${perNode.join('; ')})`;
}

export interface SchedulerOptions {
  /** The generator for the random strategy, [0, 1); Math.random by default, seededRandom(n) in tests. */
  random?: () => number;
}

export function makeScheduler(options: SchedulerOptions = {}): Schedule {
  const ranks: Record<StrategyName, Rank> = { spread, binpack, random: randomWith(options.random ?? Math.random) };
  return (nodes, request, strategy) => {
    const rank = ranks[strategy];
    if (!rank) throw invalidParameter(`unknown scheduling strategy "${String(strategy)}": expected spread, binpack or random`);
    const req = prepare(nodes, request);
    if (!nodes.length) throw conflict('no suitable node: the cluster has no nodes (is discovery reaching any engine?)');
    const { candidates, rejections } = filterPrepared(nodes, req);
    if (!candidates.length) throw conflict(noSuitableNodeMessage(rejections));
    return rank(candidates, req.reservation);
  };
}

/** The scheduler the manager calls on every create: `schedule(nodes, { name, body }, strategy)`. */
export const schedule: Schedule = makeScheduler();
