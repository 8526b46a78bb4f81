/**
 * Ranking the nodes that passed the filters. Every comparison ends on the node name, so the
 * same cluster state and request always give the same node (random aside, and random is
 * seedable).
 */
import type { ClusterNode, StrategyName } from '../types.js';
import { invalidParameter } from '../../util/errors.js';
import { reservationScore, usedReservation, type Reservation } from './resources.js';

export type Rank = (candidates: ClusterNode[], wanted: Reservation) => ClusterNode;

const byName = (a: ClusterNode, b: ClusterNode): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function scored(candidates: ClusterNode[], wanted: Reservation): { node: ClusterNode; score: number; count: number }[] {
  return candidates.map((node) => ({ node, score: reservationScore(node, usedReservation(node), wanted), count: node.containers.length }));
}

/** Fewest containers first, then the least reserved CPU+memory share. */
export const spread: Rank = (candidates, wanted) =>
  scored(candidates, wanted).sort((a, b) => a.count - b.count || a.score - b.score || byName(a.node, b.node))[0]!.node;

/**
 * The most used node that still fits (the resources filter already removed those that don't):
 * highest reserved share first, then most containers, so work piles onto one node until it is
 * full and the others stay free for big containers.
 */
export const binpack: Rank = (candidates, wanted) =>
  scored(candidates, wanted).sort((a, b) => b.score - a.score || b.count - a.count || byName(a.node, b.node))[0]!.node;

/** Uniform among the candidates, in name order so a seeded generator always gives the same node. */
export function randomWith(next: () => number): Rank {
  return (candidates) => {
    const sorted = [...candidates].sort(byName);
    const i = Math.min(sorted.length - 1, Math.floor(next() * sorted.length));
    return sorted[i]!;
  };
}

/** mulberry32: a tiny deterministic generator in [0, 1), for tests and benchmarks. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const STRATEGIES: readonly StrategyName[] = ['spread', 'binpack', 'random'];

export function parseStrategy(name: string): StrategyName {
  if ((STRATEGIES as readonly string[]).includes(name)) return name as StrategyName;
  throw invalidParameter(`unknown scheduling strategy "${name}": expected ${STRATEGIES.join(', ')}`);
}
