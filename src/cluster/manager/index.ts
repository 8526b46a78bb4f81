/**
 * The cluster manager: a node registry following discovery, an Engine API server whose
 * container calls go to the nodes (create through the scheduler), and optionally replication
 * (one primary, backups forwarding to it). `berth swarm manage` runs one in the foreground.
 */
import { existsSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseHost } from '../../client/host.js';
import type { Discovery, Election, StrategyName } from '../types.js';
import { invalidParameter } from '../../util/errors.js';
import { defaultManagerName, type ClusterSummary } from './info.js';
import { NodeRegistry } from './nodes.js';
import { Replication } from './replication.js';
import { managerRoutes, type Placement } from './routes.js';
import { createManagerServer, type Forwarding } from './server.js';
import type { ServerTls } from '../../api/listener.js';
import { upstreamFor, type TlsMaterial } from './upstream.js';
import { EngineClient } from '../../client/client.js';
import { mountServices, type ServicesContext } from '../services/index.js';

export type { Placement } from './routes.js';
export type { TlsMaterial } from './upstream.js';
export type { ServerTls } from '../../api/listener.js';

/** The filters classic swarm listed, in its order; the scheduler applies them. */
export const FILTERS = ['health', 'constraint', 'affinity', 'dependency', 'port', 'containerslots', 'resources'];

export interface ManagerOptions {
  /** unix:///path or tcp://HOST:PORT. */
  listen: string;
  discovery: Discovery;
  placement: Placement;
  strategy: StrategyName;
  refreshIntervalMs?: number;
  /** Present with --replication: the election and this manager's advertised HOST:PORT. */
  replication?: { election: Election; advertise: string };
  /** Serve TLS (and check client certificates with verify). */
  serverTls?: ServerTls;
  /** The client certificate for dialing a node (or the primary) at an address; undefined = plain. */
  clientTls?: (addr: string) => TlsMaterial | undefined;
  /** Filter names shown in /info (the scheduler's). */
  filters?: string[];
  log?: (message: string) => void;
  /** Swarm-mode services (src/cluster/services): their store, on etcd discovery. */
  services?: Pick<ServicesContext, 'store' | 'reconcileIntervalMs'>;
}

export interface RunningManager {
  /** Where it listens: unix:///path or tcp://HOST:PORT (the real port when 0 was asked). */
  address: string;
  registry: NodeRegistry;
  role(): 'primary' | 'replica';
  close(): Promise<void>;
}

async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const log = options.log ?? (() => undefined);
  const listen = parseHost(options.listen);
  if (options.replication && !options.replication.advertise) throw invalidParameter('--replication needs --advertise HOST:PORT (the address other managers and clients reach this one at)');
  const registry = new NodeRegistry({ discovery: options.discovery, refreshIntervalMs: options.refreshIntervalMs ?? 30_000, tlsFor: options.clientTls, log });
  const replication = options.replication ? new Replication(options.replication.election, options.replication.advertise, log) : undefined;
  const id = randomBytes(16).toString('hex').toUpperCase().match(/.{4}/g)!.join(':');
  const name = defaultManagerName();

  const summary = (): ClusterSummary => ({
    nodes: registry.nodes(),
    strategy: options.strategy,
    filters: options.filters ?? FILTERS,
    role: replication ? replication.role : 'primary',
    primary: replication?.primary,
    name,
    id,
    swarm: services?.swarmInfo(),
  });
  const forwarding = (): Forwarding => {
    if (!replication || replication.role === 'primary') return { kind: 'serve' };
    if (!replication.primary) return { kind: 'unavailable', message: 'no primary manager is elected yet; retry in a few seconds' };
    if (replication.primary === options.replication!.advertise) return { kind: 'serve' };
    return { kind: 'forward', to: upstreamFor(`primary manager ${replication.primary}`, replication.primary, options.clientTls?.(replication.primary)) };
  };

  const routes = managerRoutes({ registry, placement: options.placement, strategy: options.strategy, summary, log });
  const services = options.services
    ? mountServices(routes.http, {
        ...options.services,
        nodes: () => registry.clusterNodes(),
        engine: (nodeName) => {
          const node = registry.byName(nodeName);
          if (!node) throw new Error(`node ${nodeName} is not in the cluster`);
          const { addr, tls } = node.upstream;
          const buf = (pem?: string) => (pem ? Buffer.from(pem) : undefined);
          return new EngineClient(addr.kind === 'tcp' && tls ? { ...addr, tls: { ca: buf(tls.ca), cert: buf(tls.cert), key: buf(tls.key), verify: tls.verify } } : addr);
        },
        schedule: (nodes, request) => options.placement.schedule(nodes, request, options.strategy),
        isPrimary: () => !replication || replication.role === 'primary',
        log,
        advertise: options.replication?.advertise,
      })
    : undefined;
  const server: http.Server = createManagerServer({ router: routes.http, upgrade: routes.upgrade, forwarding, tls: options.serverTls, log });

  if (listen.kind === 'unix' && existsSync(listen.socketPath)) {
    if (await socketInUse(listen.socketPath)) throw invalidParameter(`${listen.socketPath} is in use by another process`);
    unlinkSync(listen.socketPath);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (listen.kind === 'unix') server.listen(listen.socketPath, resolve);
    else server.listen(listen.port, listen.host, resolve);
  });
  const bound = server.address();
  const address = listen.kind === 'unix' ? listen.url : `tcp://${listen.host}:${(bound as AddressInfo).port}`;

  // Serving starts before the first refresh completes: /_ping answers while nodes are read.
  await registry.start();
  replication?.start();

  return {
    address,
    registry,
    role: () => (replication ? replication.role : 'primary'),
    async close() {
      await replication?.stop();
      await services?.stop();
      await registry.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (listen.kind === 'unix' && existsSync(listen.socketPath)) unlinkSync(listen.socketPath);
    },
  };
}
