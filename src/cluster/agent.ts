/**
 * The node agent (`berth swarm join`): every heartbeat it asks its engine for /info and, while
 * the engine answers, keeps the engine's NodeEntry registered in discovery. When the engine
 * stops answering, the agent marks the entry unhealthy and stops renewing its lease, so the
 * node leaves the cluster after the TTL; when the engine answers again it registers again.
 * The agent only needs to reach its engine and etcd, so it may run on the node or elsewhere.
 */
import { EngineClient } from '../client/client.js';
import type { DaemonAddress } from '../client/host.js';
import type { SystemInfo } from '../client/types.js';
import { errorMessage, invalidParameter, isBerthError } from '../util/errors.js';
import { Backoff, delay } from './backoff.js';
import { openDiscovery, type DiscoveryOptions } from './discovery/index.js';
import { checkAddr } from './discovery/url.js';
import { withTimeout } from './discovery/etcd-client.js';
import type { Discovery, NodeEntry, Registration } from './types.js';

export const DEFAULT_TTL_SECONDS = 20;
export const DEFAULT_HEARTBEAT_SECONDS = 5;

export interface AgentOptions {
  /** HOST:PORT registered for the manager to dial. */
  advertise: string;
  /** etcd://... (file:// and nodes:// cannot be joined). */
  discoveryUrl: string;
  /** How the agent reaches its engine: a URL or an address with TLS; default tcp://ADVERTISE. */
  engine?: string | DaemonAddress;
  ttlSeconds?: number;
  heartbeatSeconds?: number;
  /** One line per state change (registered, engine down, etcd unreachable, ...). */
  log?: (line: string) => void;
  discoveryOptions?: DiscoveryOptions;
}

export type AgentState = 'starting' | 'registered' | 'engine-down' | 'store-down' | 'stopped';

/** The engine's /info as discovery holds it, with classic swarm's engine facts as labels. */
export function entryFromInfo(addr: string, info: SystemInfo): NodeEntry {
  const labels: Record<string, string> = {};
  for (const label of info.Labels ?? []) {
    const eq = label.indexOf('=');
    if (eq > 0) labels[label.slice(0, eq)] = label.slice(eq + 1);
  }
  if (info.Driver) labels.storagedriver = info.Driver;
  if (info.KernelVersion) labels.kernelversion = info.KernelVersion;
  if (info.OperatingSystem) labels.operatingsystem = info.OperatingSystem;
  labels.executiondriver = typeof info.DefaultRuntime === 'string' && info.DefaultRuntime ? info.DefaultRuntime : 'runc';
  return {
    addr,
    name: info.Name,
    id: info.ID,
    labels,
    cpus: info.NCPU,
    memory: info.MemTotal,
    healthy: true,
    updatedAt: new Date().toISOString(),
  };
}

export class Agent {
  private readonly discovery: Discovery;
  private readonly engine: EngineClient;
  private readonly ttl: number;
  private readonly heartbeatMs: number;
  private readonly log: (line: string) => void;
  private registration: Registration | undefined;
  private lastEntry: NodeEntry | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private current: AgentState = 'starting';
  private lastProblem = '';

  constructor(private readonly options: AgentOptions) {
    checkAddr(options.advertise, (p) => `--advertise: ${p}`);
    this.ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
    const heartbeat = options.heartbeatSeconds ?? DEFAULT_HEARTBEAT_SECONDS;
    if (!Number.isInteger(this.ttl) || this.ttl < 1) throw invalidParameter(`--ttl must be a whole number of seconds >= 1, got ${this.ttl}`);
    if (!(heartbeat > 0)) throw invalidParameter(`--heartbeat must be positive, got ${heartbeat}`);
    if (heartbeat >= this.ttl) throw invalidParameter(`--heartbeat (${heartbeat}s) must be shorter than --ttl (${this.ttl}s), or the entry expires between checks`);
    this.heartbeatMs = heartbeat * 1000;
    this.log = options.log ?? (() => undefined);
    this.discovery = openDiscovery(options.discoveryUrl, {
      ...options.discoveryOptions,
      onError: (err) => {
        options.discoveryOptions?.onError?.(err);
        this.note('store-down', `discovery: ${err.message} (retrying)`);
      },
    });
    this.engine = new EngineClient(options.engine ?? `tcp://${options.advertise}`);
  }

  get state(): AgentState {
    return this.current;
  }

  /**
   * Starts heart-beating. Resolves after the first round; rejects only when that round found the
   * engine's name held by another live node (nothing to retry: the user must rename an engine).
   */
  async start(): Promise<void> {
    const conflict = await this.beat();
    if (conflict) throw conflict;
    this.loop = this.run();
  }

  /** Deregisters (the entry is deleted at once, not after the TTL) and closes the store connection. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop?.catch(() => undefined);
    const registration = this.registration;
    this.registration = undefined;
    await registration?.stop().catch(() => undefined);
    await this.discovery.close().catch(() => undefined);
    this.current = 'stopped';
  }

  private async run(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.heartbeatMs, maxMs: Math.max(this.heartbeatMs, 8_000) });
    while (!this.abort.signal.aborted) {
      // A healthy round waits one heartbeat; a store outage waits longer each time (capped).
      const wait = this.current === 'store-down' ? backoff.next() : (backoff.reset(), this.heartbeatMs);
      await delay(wait, this.abort.signal);
      if (this.abort.signal.aborted) break;
      await this.beat();
    }
  }

  /** One heartbeat. Returns the name conflict error, if that is what happened. */
  private async beat(): Promise<Error | undefined> {
    let info: SystemInfo;
    try {
      info = await withTimeout(this.engine.info(), Math.min(this.heartbeatMs, 10_000), `engine ${this.engine.host}`);
    } catch (err) {
      await this.engineDown(err);
      return undefined;
    }
    const entry = entryFromInfo(this.options.advertise, info);
    try {
      if (this.registration) {
        await this.registration.update(entry);
      } else {
        this.registration = await this.discovery.register(entry, this.ttl);
      }
      this.lastEntry = entry;
      this.note('registered', `registered ${entry.addr} (${entry.name ?? 'unnamed'}) in ${this.options.discoveryUrl}, TTL ${this.ttl}s`);
      return undefined;
    } catch (err) {
      if (isBerthError(err, 'conflict')) {
        this.note('store-down', `cannot register ${entry.addr}: ${errorMessage(err)}`);
        return err;
      }
      this.note('store-down', `cannot register ${entry.addr}: ${errorMessage(err)} (retrying with back-off)`);
      return undefined;
    }
  }

  private async engineDown(err: unknown): Promise<void> {
    const registration = this.registration;
    if (registration && this.current !== 'engine-down' && this.lastEntry) {
      // Tell the managers now, then let the lease run out: the entry is gone after the TTL.
      await registration.update({ ...this.lastEntry, healthy: false, updatedAt: new Date().toISOString() }).catch(() => undefined);
    }
    registration?.suspend();
    this.note('engine-down', `engine ${this.engine.host} is not answering (${errorMessage(err)}); stopped heart-beating, ${this.options.advertise} leaves discovery after the TTL (${this.ttl}s)`);
  }

  /** Logs a line when the state or the problem changes, not every heartbeat. */
  private note(state: AgentState, line: string): void {
    if (state === this.current && line === this.lastProblem) return;
    this.current = state;
    this.lastProblem = line;
    this.log(line);
  }
}

/** Starts an agent; the caller stops it (SIGINT/SIGTERM in the CLI). */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  const agent = new Agent(options);
  try {
    await agent.start();
  } catch (err) {
    await agent.stop();
    throw err;
  }
  return agent;
}
