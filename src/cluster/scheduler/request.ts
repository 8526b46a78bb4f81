/**
 * A create body read once into what the filters need: parsed constraints and affinities,
 * the reservation, the host ports it wants and the containers it depends on (resolved across
 * the cluster here, because "they are on different nodes" is a property of the whole cluster,
 * not of one node).
 */
import type { ClusterNode, PlacementRequest } from '../types.js';
import type { ContainerCreateBody, HostConfig } from '../../client/types.js';
import { conflict, invalidParameter, notFound } from '../../util/errors.js';
import { parseExpr, type Expr } from './expr.js';
import { readSchedulingHints } from './hints.js';
import { refersTo } from './lookup.js';
import { requestedReservation, type Reservation } from './resources.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface WantedPort {
  hostIp: string;
  /** Inclusive range; a single port has first === last. */
  first: number;
  last: number;
  protocol: Protocol;
}

export interface Dependency {
  ref: string;
  /** The flag it came from, for messages: --volumes-from, --link, --net container:. */
  via: string;
}

export interface PreparedRequest {
  name?: string;
  body: ContainerCreateBody;
  constraints: Expr[];
  affinities: Expr[];
  reservation: Reservation;
  ports: WantedPort[];
  dependencies: Dependency[];
  /** Names of the nodes that hold every dependency (undefined when there are none). */
  dependencyNodes?: Set<string>;
  /** For each dependency, the nodes holding it (for reasons). */
  dependencyHolders: Map<string, string[]>;
}

/** The HostConfig fields the scheduler reads that the client's narrow type does not list. */
interface SchedulingHostConfig extends HostConfig {
  PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  Links?: string[] | null;
  VolumesFrom?: string[] | null;
  NetworkMode?: string;
}

export function prepareRequest(nodes: ClusterNode[], request: PlacementRequest): PreparedRequest {
  const body = request.body ?? {};
  const hints = readSchedulingHints(body);
  const hc = (body.HostConfig ?? {}) as SchedulingHostConfig;
  const prepared: PreparedRequest = {
    name: request.name,
    body,
    constraints: hints.constraints.map((c) => parseExpr('constraint', c)),
    affinities: hints.affinities.map((a) => parseExpr('affinity', a)),
    reservation: requestedReservation(body),
    ports: wantedPorts(hc, body as ContainerCreateBody & { ExposedPorts?: Record<string, unknown> | null }),
    dependencies: dependenciesOf(hc),
    dependencyHolders: new Map(),
  };
  resolveDependencies(nodes, prepared);
  return prepared;
}

function parseProtocol(raw: string | undefined, key: string): Protocol {
  const p = (raw || 'tcp').toLowerCase();
  if (p === 'tcp' || p === 'udp' || p === 'sctp') return p;
  throw invalidParameter(`invalid port "${key}": unknown protocol "${raw}"`);
}

function parsePortNumber(text: string, key: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw invalidParameter(`invalid host port "${text}" for ${key}`);
  return n;
}

/**
 * Host ports from PortBindings ("80/tcp" -> [{HostIp, HostPort}]); an empty or "0" HostPort
 * asks the engine for any free port, which never clashes. With `--net host` the container binds
 * its exposed ports on the host itself, so those count as host ports too.
 */
function wantedPorts(hc: SchedulingHostConfig, body: ContainerCreateBody & { ExposedPorts?: Record<string, unknown> | null }): WantedPort[] {
  const out: WantedPort[] = [];
  for (const [key, bindings] of Object.entries(hc.PortBindings ?? {})) {
    const protocol = parseProtocol(key.split('/')[1], key);
    for (const b of bindings ?? []) {
      const hostPort = (b.HostPort ?? '').trim();
      if (hostPort === '' || hostPort === '0') continue;
      const [a, z] = hostPort.split('-');
      const first = parsePortNumber(a!, key);
      const last = z === undefined ? first : parsePortNumber(z, key);
      if (last < first) throw invalidParameter(`invalid host port range "${hostPort}" for ${key}`);
      out.push({ hostIp: (b.HostIp ?? '').trim(), first, last, protocol });
    }
  }
  if (hc.NetworkMode === 'host') {
    for (const key of Object.keys(body.ExposedPorts ?? {})) {
      const [port, proto] = key.split('/');
      const n = parsePortNumber(port!, key);
      out.push({ hostIp: '', first: n, last: n, protocol: parseProtocol(proto, key) });
    }
  }
  return out;
}

function dependenciesOf(hc: SchedulingHostConfig): Dependency[] {
  const deps: Dependency[] = [];
  for (const spec of hc.VolumesFrom ?? []) {
    // name[:ro|:rw]
    const ref = spec.replace(/:(ro|rw|z|Z)(,(ro|rw|z|Z))*$/, '');
    if (ref) deps.push({ ref, via: '--volumes-from' });
  }
  for (const spec of hc.Links ?? []) {
    // name:alias, name may carry docker's leading slash
    const ref = spec.split(':')[0]!.replace(/^\//, '');
    if (ref) deps.push({ ref, via: '--link' });
  }
  const mode = hc.NetworkMode ?? '';
  if (mode.startsWith('container:')) deps.push({ ref: mode.slice('container:'.length), via: '--net container:' });
  return deps;
}

/**
 * Finds, across all nodes, where each dependency lives. A dependency that exists nowhere is
 * "no such container" (404), as docker says for a single engine; dependencies that exist but
 * never together on one node cannot be satisfied by any placement, so that is a conflict.
 */
function resolveDependencies(nodes: ClusterNode[], req: PreparedRequest): void {
  if (!req.dependencies.length) return;
  let common: Set<string> | undefined;
  for (const dep of req.dependencies) {
    const holders = nodes.filter((n) => n.containers.some((c) => refersTo(n, c, dep.ref))).map((n) => n.name);
    if (!holders.length) throw notFound(`No such container: ${dep.ref} (${dep.via}): no node in the cluster has it`);
    req.dependencyHolders.set(dep.ref, holders);
    common = new Set(holders.filter((h) => common === undefined || common.has(h)));
  }
  if (common && common.size === 0) {
    const where = req.dependencies.map((d) => `${d.ref} (${d.via}) on ${req.dependencyHolders.get(d.ref)!.join(', ')}`);
    throw conflict(`dependencies are on different nodes, so no node can hold this container: ${where.join('; ')}`);
  }
  req.dependencyNodes = common;
}
