/**
 * The manager's view of the cluster: follows discovery, keeps each node's engine state (info,
 * containers with their reservations, images) fresh by polling and on the engine's events, marks
 * nodes that fail a refresh unhealthy, and gives the scheduler ClusterNode values. It also
 * answers "which node owns this container" for the router.
 */
import type { IncomingMessage } from 'node:http';
import type { ContainerSummary, ImageSummary, SystemInfo } from '../../client/types.js';
import type { ClusterNode, Discovery, NodeContainer, NodeEntry } from '../types.js';
import { invalidParameter, notFound, errorMessage } from '../../util/errors.js';
import { getJson, openRequest, upstreamFor, type TlsMaterial, type Upstream } from './upstream.js';

export type NodeStatus = 'pending' | 'healthy' | 'unhealthy';

/** What the manager remembers of one container: its list entry and what the scheduler needs. */
export interface KnownContainer {
  summary: ContainerSummary;
  facts: NodeContainer;
}

export interface ManagedNode {
  /** Discovery's address: the node's identity while it stays registered. */
  addr: string;
  entry: NodeEntry;
  name: string;
  id: string;
  upstream: Upstream;
  status: NodeStatus;
  error?: string;
  info?: SystemInfo;
  containers: Map<string, KnownContainer>;
  images: ImageSummary[];
  updatedAt?: Date;
}

interface Reservation {
  memory: number;
  cpus: number;
  ports: NodeContainer['publishedPorts'];
}

interface NodeRuntime {
  node: ManagedNode;
  /** Reservations read by inspect, once per container (they only change with `update`). */
  reservations: Map<string, Reservation>;
  refreshing?: Promise<void>;
  again: boolean;
  timer?: NodeJS.Timeout;
  events?: { stop(): void };
  eventsRetry?: NodeJS.Timeout;
  gone: boolean;
  /** The last registration-vs-engine disagreement logged, so it is logged once. */
  lastMismatch?: string;
}

export interface NodeRegistryOptions {
  discovery: Discovery;
  /** Milliseconds between refreshes of each node. */
  refreshIntervalMs: number;
  /** The client certificate for a node's address, if it is dialed over TLS. */
  tlsFor?: (addr: string) => TlsMaterial | undefined;
  log: (message: string) => void;
}

const REFRESH_TIMEOUT_MS = 10_000;

function reservationOf(inspect: { HostConfig?: Record<string, unknown> }): Reservation {
  const hc = inspect.HostConfig ?? {};
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const nano = num(hc.NanoCpus);
  const quota = num(hc.CpuQuota);
  const period = num(hc.CpuPeriod) || 100_000;
  const cpus = nano > 0 ? nano / 1e9 : quota > 0 ? quota / period : 0;
  const ports: Reservation['ports'] = [];
  const bindings = (hc.PortBindings ?? {}) as Record<string, { HostIp?: string; HostPort?: string }[] | null>;
  for (const [key, list] of Object.entries(bindings)) {
    const protocol = (key.split('/')[1] ?? 'tcp') as 'tcp' | 'udp' | 'sctp';
    for (const b of list ?? []) {
      const hostPort = Number(b.HostPort);
      if (Number.isInteger(hostPort) && hostPort > 0) ports.push({ hostIp: b.HostIp ?? '', hostPort, protocol });
    }
  }
  return { memory: num(hc.Memory), cpus, ports };
}

function factsOf(c: ContainerSummary, r: Reservation | undefined): NodeContainer {
  const listed = (c.Ports ?? [])
    .filter((p) => p.PublicPort)
    .map((p) => ({ hostIp: p.IP ?? '', hostPort: p.PublicPort!, protocol: (p.Type || 'tcp') as 'tcp' | 'udp' | 'sctp' }));
  const ports = [...(r?.ports ?? [])];
  for (const p of listed) if (!ports.some((q) => q.hostPort === p.hostPort && q.protocol === p.protocol)) ports.push(p);
  return {
    id: c.Id,
    names: (c.Names ?? []).map((n) => n.replace(/^\//, '')),
    image: c.Image ?? '',
    imageId: c.ImageID ?? '',
    labels: c.Labels ?? {},
    running: c.State === 'running' || c.State === 'restarting' || c.State === 'paused',
    publishedPorts: ports,
    memory: r?.memory ?? 0,
    cpus: r?.cpus ?? 0,
  };
}

/** The facts classic swarm exposed as node labels, from the engine's /info. */
function engineLabels(info: SystemInfo | undefined): Record<string, string> {
  if (!info) return {};
  const out: Record<string, string> = {};
  if (info.Driver) out.storagedriver = info.Driver;
  if (info.KernelVersion) out.kernelversion = info.KernelVersion;
  if (info.OperatingSystem) out.operatingsystem = info.OperatingSystem;
  out.executiondriver = String(info.DefaultRuntime ?? 'runc');
  for (const label of info.Labels ?? []) {
    const eq = label.indexOf('=');
    if (eq > 0) out[label.slice(0, eq)] = label.slice(eq + 1);
  }
  return out;
}

export class NodeRegistry {
  private readonly runtimes = new Map<string, NodeRuntime>();
  private stopWatch?: () => void;
  private firstList?: () => void;
  private readonly firstListSeen: Promise<void>;
  private closed = false;

  constructor(private readonly options: NodeRegistryOptions) {
    this.firstListSeen = new Promise((resolve) => (this.firstList = resolve));
  }

  /** Starts following discovery; resolves once the first node set has been applied and refreshed (or after a short wait). */
  async start(): Promise<void> {
    let lastError = '';
    this.stopWatch = this.options.discovery.watch(
      (entries) => {
        lastError = '';
        this.apply(entries);
        this.firstList?.();
      },
      (err) => {
        const message = `discovery: ${errorMessage(err)} (retrying)`;
        if (message !== lastError) this.options.log(message);
        lastError = message;
      },
    );
    await Promise.race([this.firstListSeen, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await Promise.race([this.refreshAll(), new Promise((r) => setTimeout(r, REFRESH_TIMEOUT_MS).unref())]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWatch?.();
    for (const rt of this.runtimes.values()) this.drop(rt);
    this.runtimes.clear();
  }

  /** Every node the manager accepted, in name order (info, aggregation). */
  nodes(): ManagedNode[] {
    return [...this.runtimes.values()].map((rt) => rt.node).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Nodes the manager talks to now: healthy ones. */
  healthyNodes(): ManagedNode[] {
    return this.nodes().filter((n) => n.status === 'healthy');
  }

  /** The scheduler's input. Pending and unhealthy nodes are included with healthy=false so the "fits nowhere" error names them. */
  clusterNodes(): ClusterNode[] {
    return this.nodes().map((n) => ({
      id: n.id,
      name: n.name,
      addr: n.addr,
      labels: { ...engineLabels(n.info), ...(n.entry.labels ?? {}) },
      // The engine's own figures win over what an agent registered: an agent may be stale or lie.
      // The engine's own figures; the registration's are only a fallback before the first refresh.
      totalCpus: n.info?.NCPU ?? n.entry.cpus ?? 0,
      totalMemory: n.info?.MemTotal ?? n.entry.memory ?? 0,
      healthy: n.status === 'healthy' && n.entry.healthy !== false,
      containers: [...n.containers.values()].map((c) => c.facts),
      images: n.images.map((i) => ({ id: i.Id, repoTags: i.RepoTags ?? [] })),
    }));
  }

  byName(name: string): ManagedNode | undefined {
    return this.nodes().find((n) => n.name === name);
  }

  private apply(entries: NodeEntry[]): void {
    if (this.closed) return;
    const seen = new Set<string>();
    for (const entry of entries) {
      if (!entry.addr) continue;
      seen.add(entry.addr);
      const existing = this.runtimes.get(entry.addr);
      if (existing) {
        existing.node.entry = entry;
        continue;
      }
      const clash = entry.name ? this.nodes().find((n) => n.name === entry.name) : undefined;
      if (clash) {
        this.options.log(`refusing node ${entry.addr}: the name ${entry.name} is already used by ${clash.addr}`);
        continue;
      }
      this.add(entry);
    }
    for (const [addr, rt] of this.runtimes) {
      if (seen.has(addr)) continue;
      this.options.log(`node ${rt.node.name} (${addr}) left the cluster`);
      this.drop(rt);
      this.runtimes.delete(addr);
    }
  }

  private add(entry: NodeEntry): void {
    const name = entry.name ?? entry.addr;
    let upstream: Upstream;
    try {
      upstream = upstreamFor(`node ${name} (${entry.addr})`, entry.addr, this.options.tlsFor?.(entry.addr));
    } catch (err) {
      this.options.log(`refusing node ${entry.addr}: ${errorMessage(err)}`);
      return;
    }
    const node: ManagedNode = { addr: entry.addr, entry, name, id: entry.id ?? entry.addr, upstream, status: 'pending', containers: new Map(), images: [] };
    const rt: NodeRuntime = { node, reservations: new Map(), again: false, gone: false };
    this.runtimes.set(entry.addr, rt);
    this.options.log(`node ${name} (${entry.addr}) joined`);
    const tick = (): void => {
      void this.refreshRuntime(rt);
    };
    rt.timer = setInterval(tick, this.options.refreshIntervalMs);
    rt.timer.unref();
    tick();
  }

  private drop(rt: NodeRuntime): void {
    rt.gone = true;
    if (rt.timer) clearInterval(rt.timer);
    if (rt.eventsRetry) clearTimeout(rt.eventsRetry);
    rt.events?.stop();
  }

  /** Refreshes every node now (after a create elsewhere, or before giving up on a lookup). */
  async refreshAll(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((rt) => this.refreshRuntime(rt)));
  }

  async refreshNode(node: ManagedNode): Promise<void> {
    const rt = this.runtimes.get(node.addr);
    if (rt) await this.refreshRuntime(rt);
  }

  /** At most one refresh per node in flight; a request during one runs once more after it. */
  private refreshRuntime(rt: NodeRuntime): Promise<void> {
    if (rt.refreshing) {
      rt.again = true;
      return rt.refreshing;
    }
    rt.refreshing = (async () => {
      do {
        rt.again = false;
        await this.refreshOnce(rt);
      } while (rt.again && !rt.gone);
    })().finally(() => (rt.refreshing = undefined));
    return rt.refreshing;
  }

  private async refreshOnce(rt: NodeRuntime): Promise<void> {
    const node = rt.node;
    try {
      const [info, list, images] = await Promise.all([
        getJson<SystemInfo>(node.upstream, '/info', REFRESH_TIMEOUT_MS),
        getJson<ContainerSummary[]>(node.upstream, '/containers/json?all=1', REFRESH_TIMEOUT_MS),
        getJson<ImageSummary[]>(node.upstream, '/images/json', REFRESH_TIMEOUT_MS),
      ]);
      if (rt.gone) return;
      // The scheduler reserves against these totals: a node reporting impossible ones is kept
      // out (unhealthy, with the reason) rather than attracting every container.
      const impossible = impossibleResources(info);
      if (impossible) throw new Error(impossible);
      const mismatch = registrationMismatch(node.entry, info);
      if (mismatch && mismatch !== rt.lastMismatch) this.options.log(`node ${node.addr}: ${mismatch}; using the engine's figures`);
      rt.lastMismatch = mismatch;
      const name = node.entry.name ?? info.Name ?? node.addr;
      const clash = this.nodes().find((n) => n !== node && n.name === name);
      if (clash) {
        this.options.log(`refusing node ${node.addr}: the name ${name} is already used by ${clash.addr}`);
        this.drop(rt);
        this.runtimes.delete(node.addr);
        return;
      }
      // Reservations are read once per new container; inspect of a container that vanished meanwhile is skipped.
      const ids = new Set(list.map((c) => c.Id));
      for (const id of rt.reservations.keys()) if (!ids.has(id)) rt.reservations.delete(id);
      await Promise.all(
        list
          .filter((c) => !rt.reservations.has(c.Id))
          .map(async (c) => {
            try {
              rt.reservations.set(c.Id, reservationOf(await getJson(node.upstream, `/containers/${c.Id}/json`, REFRESH_TIMEOUT_MS)));
            } catch {
              // Removed between list and inspect.
            }
          }),
      );
      const containers = new Map<string, KnownContainer>();
      for (const c of list) containers.set(c.Id, { summary: c, facts: factsOf(c, rt.reservations.get(c.Id)) });
      if (node.status !== 'healthy') this.options.log(`node ${name} (${node.addr}) is healthy`);
      node.name = name;
      node.id = node.entry.id ?? info.ID ?? node.addr;
      node.upstream = { ...node.upstream, label: `node ${name} (${node.addr})` };
      node.info = info;
      node.containers = containers;
      node.images = images;
      node.status = 'healthy';
      node.error = undefined;
      node.updatedAt = new Date();
      if (!rt.events && !rt.eventsRetry) this.followEvents(rt);
    } catch (err) {
      if (rt.gone) return;
      if (node.status !== 'unhealthy') this.options.log(`node ${node.name} (${node.addr}) is unhealthy: ${errorMessage(err)}`);
      node.status = 'unhealthy';
      node.error = errorMessage(err);
      node.updatedAt = new Date();
    }
  }

  /** The engine's event stream: container and image changes trigger a refresh; a broken stream means a refresh (which finds out whether the node is down). */
  private followEvents(rt: NodeRuntime): void {
    const req = openRequest(rt.node.upstream, 'GET', '/events');
    let stopped = false;
    let debounce: NodeJS.Timeout | undefined;
    const retry = (): void => {
      if (stopped || rt.gone) return;
      stopped = true;
      rt.events = undefined;
      void this.refreshRuntime(rt);
      rt.eventsRetry = setTimeout(() => {
        rt.eventsRetry = undefined;
        if (!rt.gone && rt.node.status === 'healthy') this.followEvents(rt);
      }, 1_000);
      rt.eventsRetry.unref();
    };
    rt.events = {
      stop: () => {
        stopped = true;
        if (debounce) clearTimeout(debounce);
        req.destroy();
      },
    };
    req.on('error', retry);
    req.on('response', (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume();
        retry();
        return;
      }
      res.on('data', () => {
        debounce ??= setTimeout(() => {
          debounce = undefined;
          if (!rt.gone) void this.refreshRuntime(rt);
        }, 50);
      });
      res.on('end', retry);
      res.on('error', retry);
    });
    req.end();
  }

  /** Records a container the manager just created, so the next placement sees it before the next refresh does. */
  noteCreated(node: ManagedNode, id: string, name: string | undefined, facts: Omit<NodeContainer, 'id' | 'names'>): void {
    const summary: ContainerSummary = { Id: id, Names: name ? [`/${name}`] : [], Image: facts.image, State: 'created', Labels: facts.labels };
    node.containers.set(id, { summary, facts: { ...facts, id, names: name ? [name] : [] } });
    const rt = this.runtimes.get(node.addr);
    rt?.reservations.set(id, { memory: facts.memory, cpus: facts.cpus, ports: facts.publishedPorts });
  }

  noteRemoved(node: ManagedNode, id: string): void {
    node.containers.delete(id);
    this.runtimes.get(node.addr)?.reservations.delete(id);
  }

  /** The node and container a reference names: full ID, `node/name`, name, or a unique ID prefix. */
  findContainer(ref: string): { node: ManagedNode; container: KnownContainer } | undefined {
    const nodes = this.nodes().filter((n) => n.status !== 'pending');
    const all = nodes.flatMap((node) => [...node.containers.values()].map((container) => ({ node, container })));
    const exact = all.find((c) => c.container.summary.Id === ref);
    if (exact) return exact;
    const slash = ref.indexOf('/', 1);
    if (slash > 0) {
      const nodeName = ref.replace(/^\//, '').slice(0, ref.replace(/^\//, '').indexOf('/'));
      const name = ref.replace(/^\//, '').slice(nodeName.length + 1);
      const hit = all.find((c) => c.node.name === nodeName && c.container.facts.names.includes(name));
      if (hit) return hit;
    }
    const bare = ref.replace(/^\//, '');
    const named = all.filter((c) => c.container.facts.names.includes(bare));
    if (named.length === 1) return named[0];
    if (named.length > 1) throw invalidParameter(`container name ${bare} is ambiguous: it exists on nodes ${named.map((c) => c.node.name).join(', ')}; use NODE/${bare}`);
    if (/^[0-9a-f]+$/.test(ref)) {
      const prefixed = all.filter((c) => c.container.summary.Id.startsWith(ref));
      if (prefixed.length === 1) return prefixed[0];
      if (prefixed.length > 1) throw invalidParameter(`multiple IDs found with provided prefix: ${ref}`);
    }
    return undefined;
  }

  /** findContainer, refreshing the cluster once before answering "no such container". */
  async locate(ref: string): Promise<{ node: ManagedNode; container: KnownContainer }> {
    const found = this.findContainer(ref);
    if (found) return found;
    await this.refreshAll();
    const again = this.findContainer(ref);
    if (!again) throw notFound(`No such container: ${ref}`);
    return again;
  }
}

/** Largest figures taken at face value: beyond them a report is a lie or a bug, not a machine. */
const MAX_CPUS = 16_384;
const MAX_MEMORY = 2 ** 52;

/** Why an engine's /info cannot be scheduled against, or undefined when its resources are plausible. */
export function impossibleResources(info: Pick<SystemInfo, 'NCPU' | 'MemTotal'>): string | undefined {
  const problems: string[] = [];
  const { NCPU: cpus, MemTotal: memory } = info;
  if (cpus === undefined || !Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) problems.push(`NCPU ${String(cpus)}`);
  if (memory === undefined || !Number.isInteger(memory) || memory < 1 || memory > MAX_MEMORY) problems.push(`MemTotal ${String(memory)}`);
  return problems.length ? `engine reports impossible resources (${problems.join(', ')})` : undefined;
}

/** A registration whose resources differ from what the engine itself reports. */
export function registrationMismatch(entry: NodeEntry, info: Pick<SystemInfo, 'NCPU' | 'MemTotal'>): string | undefined {
  const problems: string[] = [];
  if (entry.cpus !== undefined && entry.cpus !== info.NCPU) problems.push(`${entry.cpus} CPUs registered, engine reports ${info.NCPU}`);
  if (entry.memory !== undefined && entry.memory !== info.MemTotal) problems.push(`${entry.memory} bytes of memory registered, engine reports ${info.MemTotal}`);
  return problems.length ? `registration disagrees with the engine (${problems.join('; ')})` : undefined;
}
