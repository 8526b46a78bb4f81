/**
 * What the services module needs from the manager that mounts it. The manager owns discovery,
 * the node registry, the engine clients and the election; services only read them.
 */
import { randomBytes } from 'node:crypto';
import type { Etcd3, Namespace } from 'etcd3';
import type { EngineClient } from '../../client/client.js';
import type { ClusterNode, PlacementRequest } from '../types.js';

export interface ServicesContext {
  /** The etcd client and the cluster's key prefix (the discovery URL's path). */
  store: { client: Etcd3 | Namespace; prefix: string };
  /** The manager's node registry as of now (refreshed by the manager from each node's engine). */
  nodes(): ClusterNode[];
  /** A client for a node's engine, by node name. */
  engine(nodeName: string): EngineClient;
  /** The scheduler with the manager's strategy bound. */
  schedule(nodes: ClusterNode[], request: PlacementRequest): ClusterNode;
  /** Only the primary manager reconciles; backups proxy API calls to it. */
  isPrimary(): boolean;
  log(message: string): void;
  /** Milliseconds between reconcile rounds (default 1000). */
  reconcileIntervalMs?: number;
  /** After becoming primary, how long nodes not yet heard from count as unknown rather than down (default max(5 s, 3 periods)). */
  settleMs?: number;
  /** This manager's advertised address: what /info reports as the swarm NodeAddr. */
  advertise?: string;
}

/** Swarm-style object IDs: 25 lowercase base-36 characters. */
export function swarmId(): string {
  let n = BigInt(`0x${randomBytes(16).toString('hex')}`);
  let out = '';
  while (out.length < 25) {
    out += (n % 36n).toString(36);
    n /= 36n;
  }
  return out;
}
