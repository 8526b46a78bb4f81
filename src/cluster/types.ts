/**
 * The shapes the cluster's parts agree on: what discovery holds for a node, what the manager
 * knows of a node when it schedules, and the scheduler's inputs and outputs. Discovery, the
 * scheduler and the manager are written separately; these types are their only contract.
 */
import type { ContainerCreateBody } from '../client/types.js';

/** What a node's agent registers in discovery (etcd, file://, nodes://) for its engine. */
export interface NodeEntry {
  /** The engine's address as the manager dials it: "HOST:PORT" (TCP, TLS when configured). */
  addr: string;
  /** The engine's name (its /info Name); unique in a cluster, duplicates are refused. */
  name?: string;
  /** The engine's ID (its /info ID). */
  id?: string;
  /** Engine labels plus the facts classic swarm exposed as labels: storagedriver, kernelversion, operatingsystem, executiondriver. */
  labels?: Record<string, string>;
  cpus?: number;
  /** Bytes. */
  memory?: number;
  /** The agent's last check of its engine. */
  healthy?: boolean;
  /** RFC 3339 time of the agent's last heartbeat. */
  updatedAt?: string;
}

/** One container on a node, as the scheduler's filters and strategies need it. */
export interface NodeContainer {
  id: string;
  /** Names without the leading slash. */
  names: string[];
  image: string;
  imageId: string;
  labels: Record<string, string>;
  running: boolean;
  /** Host ports this container publishes (port filter). */
  publishedPorts: { hostIp: string; hostPort: number; protocol: 'tcp' | 'udp' | 'sctp' }[];
  /** Reservations: HostConfig.Memory (bytes) and NanoCpus / 1e9 (or CpuQuota / CpuPeriod). */
  memory: number;
  cpus: number;
}

/** A node as the manager knows it when scheduling: discovery entry plus live engine state. */
export interface ClusterNode {
  id: string;
  name: string;
  addr: string;
  labels: Record<string, string>;
  totalCpus: number;
  totalMemory: number;
  /** False when the engine is unreachable, unhealthy by its agent, or failed refreshes. */
  healthy: boolean;
  containers: NodeContainer[];
  images: { id: string; repoTags: string[] }[];
}

export type StrategyName = 'spread' | 'binpack' | 'random';

/** A container to place: the Engine API create body and the requested name, if any. */
export interface PlacementRequest {
  name?: string;
  body: ContainerCreateBody;
}

/** Why a node was removed: the filter's name and its reason, for the "fits nowhere" error. */
export interface Rejection {
  node: string;
  filter: string;
  reason: string;
}

/**
 * The scheduler's entry point (src/cluster/scheduler/index.ts exports `schedule` with this type):
 * filters, then ranks by the strategy; ties broken deterministically (by node name). Throws a
 * BerthError (kind conflict/invalid) whose message names, for every node, the filter that
 * removed it, when the container fits nowhere; invalid constraints throw invalid-parameter.
 */
export type Schedule = (nodes: ClusterNode[], request: PlacementRequest, strategy: StrategyName) => ClusterNode;

/** A discovery backend: etcd://HOST:PORT[,HOST:PORT]/PREFIX, file://PATH, nodes://a,b,c. */
export interface Discovery {
  /** The entries registered now (expired ones already gone). */
  list(): Promise<NodeEntry[]>;
  /** Calls onChange with the full set at once and whenever it changes; onError on failures (the watch keeps retrying with back-off). Returns a stop function. */
  watch(onChange: (nodes: NodeEntry[]) => void, onError?: (err: Error) => void): () => void;
  /** Agent side: keep `entry` registered under a lease of ttlSeconds until the handle is stopped; refuses a name another live node holds. */
  register(entry: NodeEntry, ttlSeconds: number): Promise<Registration>;
  close(): Promise<void>;
}

export interface Registration {
  /** Re-writes the entry (new health, resources) under the same lease; after suspend() it resumes renewal (under a new lease if the old one expired). */
  update(entry: NodeEntry): Promise<void>;
  /** Stops renewing the lease but keeps the entry, so it expires after the TTL: the agent's engine stopped answering. */
  suspend(): void;
  /** Stops heart-beating and deletes the entry. */
  stop(): Promise<void>;
}

/** Manager high availability: one primary elected through the discovery store. */
export interface Election {
  /** Resolves once this candidate (identified by its advertised address) is the primary. */
  campaign(advertise: string): Promise<void>;
  /** The current primary's advertised address, if any. */
  leader(): Promise<string | undefined>;
  /** Calls onChange with the primary's address whenever it changes. Returns a stop function. */
  observe(onChange: (leader: string | undefined) => void): () => void;
  /** Gives up the primary role (or the candidacy) and releases the lease. */
  resign(): Promise<void>;
}
