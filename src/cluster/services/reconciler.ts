/**
 * The reconcile loop on the primary manager: list the task containers on every node, then read
 * the store (in that order, so every container seen has its record visible), decide with
 * plan(), write the decisions in one transaction per service, and only then touch containers.
 * A store that cannot be read or written pauses everything: nothing is stopped on a guess.
 */
import { ClientError } from '../../client/errors.js';
import { jsonLines } from '../../client/jsonlines.js';
import type { ContainerSummary } from '../../client/types.js';
import { errorMessage } from '../../util/errors.js';
import type { ClusterNode } from '../types.js';
import { swarmId, type ServicesContext } from './context.js';
import { makePlacer } from './placer.js';
import { ServiceNames } from './names.js';
import { plan, type ContainerRunState, type NodeView, type ObservedContainer, type Plan } from './plan.js';
import { containerName, networksOf, taskContainerBody } from './spec.js';
import { keys, ServiceStore, type Change, type Snapshot } from './store.js';
import { LABEL, type NodeRecord, type ServiceRecord, type TaskRecord } from './types.js';

const LIST_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_S = 10;

export interface Reconciler {
  /** Runs a round soon (after an API write) instead of waiting for the period. */
  kick(): void;
  /** Resolves after the next complete round (tests, benchmarks). */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function parseHealth(status: string | undefined): ObservedContainer['health'] {
  if (!status) return undefined;
  if (status.includes('(healthy)')) return 'healthy';
  if (status.includes('(unhealthy)')) return 'unhealthy';
  if (status.includes('(health: starting)')) return 'starting';
  return undefined;
}

function parseExit(status: string | undefined): number | undefined {
  const m = /^Exited \((-?\d+)\)/.exec(status ?? '');
  return m ? Number(m[1]) : undefined;
}

export function observed(nodeId: string, list: ContainerSummary[]): ObservedContainer[] {
  const out: ObservedContainer[] = [];
  for (const c of list) {
    const taskId = c.Labels?.[LABEL.taskId];
    const serviceId = c.Labels?.[LABEL.serviceId];
    if (!taskId || !serviceId) continue;
    const exitCode = parseExit(c.Status);
    const health = parseHealth(c.Status);
    out.push({
      nodeId,
      containerId: c.Id,
      taskId,
      serviceId,
      state: (c.State ?? 'created') as ContainerRunState,
      ...(exitCode !== undefined ? { exitCode } : {}),
      ...(health ? { health } : {}),
    });
  }
  return out;
}

/**
 * Node views for plan(): registry nodes joined with the records in the store. `settling` is
 * true just after this manager became primary, while its registry may not have heard from
 * every node yet: a node not seen then is unknown, not down, so none of its tasks move.
 */
export function nodeViews(cluster: ClusterNode[], records: Map<string, NodeRecord>, reachable: Set<string>, settling = false): NodeView[] {
  const views: NodeView[] = [];
  const seen = new Set<string>();
  for (const n of cluster) {
    seen.add(n.id);
    views.push({ id: n.id, name: n.name, ready: n.healthy || settling, reachable: reachable.has(n.id), availability: records.get(n.id)?.Spec.Availability ?? 'active' });
  }
  for (const r of records.values()) {
    if (!seen.has(r.ID)) views.push({ id: r.ID, name: r.Hostname, ready: settling, reachable: false, availability: r.Spec.Availability });
  }
  return views;
}

/** A node record for a node seen for the first time, or the refreshed facts of a known one. */
export function nodeRecordFor(n: ClusterNode, existing: NodeRecord | undefined, now: string): NodeRecord {
  const engineLabels = { ...n.labels };
  const base: NodeRecord = existing ?? { ID: n.id, CreatedAt: now, UpdatedAt: now, Spec: { Role: 'worker', Availability: 'active', Labels: {} }, Hostname: n.name, Addr: n.addr, NanoCPUs: 0, MemoryBytes: 0, EngineLabels: {} };
  return { ...base, Hostname: n.name, Addr: n.addr, NanoCPUs: Math.round(n.totalCpus * 1e9), MemoryBytes: n.totalMemory, EngineLabels: engineLabels };
}

function sameFacts(a: NodeRecord, b: NodeRecord): boolean {
  return a.Hostname === b.Hostname && a.Addr === b.Addr && a.NanoCPUs === b.NanoCPUs && a.MemoryBytes === b.MemoryBytes && JSON.stringify(a.EngineLabels) === JSON.stringify(b.EngineLabels);
}

export function startReconciler(ctx: ServicesContext): Reconciler {
  const store = new ServiceStore(ctx.store.client, ctx.store.prefix);
  const period = ctx.reconcileIntervalMs ?? 1_000;
  const inflight = new Set<string>();
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let again = false;
  let paused = false;
  let waiters: (() => void)[] = [];
  let currentCluster: ClusterNode[] = [];
  const names = new ServiceNames(
    ctx.store.client,
    ctx.store.prefix,
    (nodeId) => {
      const node = currentCluster.find((n) => n.id === nodeId);
      return node ? ctx.engine(node.name) : undefined;
    },
    ctx.log,
  );

  const schedule = (ms: number) => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(tick, ms);
  };

  const tick = () => {
    if (running) {
      again = true;
      return;
    }
    running = round()
      .catch((err: unknown) => ctx.log(`services: reconcile round failed: ${errorMessage(err)}`))
      .finally(() => {
        running = undefined;
        const done = waiters;
        waiters = [];
        for (const w of done) w();
        if (again) {
          again = false;
          schedule(0);
        } else schedule(period);
      });
  };

  let clusterId: string | undefined;

  async function observe(cluster: ClusterNode[], cid: string): Promise<{ containers: ObservedContainer[]; reachable: Set<string> }> {
    const containers: ObservedContainer[] = [];
    const reachable = new Set<string>();
    await Promise.all(
      cluster
        .filter((n) => n.healthy)
        .map(async (n) => {
          try {
            const list = await withTimeout(ctx.engine(n.name).containerList({ all: true, filters: { label: { [`${LABEL.cluster}=${cid}`]: true } } }), LIST_TIMEOUT_MS, `list containers on ${n.name}`);
            containers.push(...observed(n.id, list));
            reachable.add(n.id);
          } catch (err) {
            ctx.log(`services: cannot list containers on ${n.name}: ${errorMessage(err)}`);
          }
        }),
    );
    return { containers, reachable };
  }

  async function syncNodes(cluster: ClusterNode[], snap: Snapshot): Promise<void> {
    const now = new Date().toISOString();
    for (const n of cluster) {
      const current = snap.nodes.get(n.id);
      const next = nodeRecordFor(n, current?.rec, now);
      if (current && sameFacts(current.rec, next)) continue;
      const ok = await store.commit({ expect: [{ key: keys.node(n.id), rev: current?.rev ?? 0 }], put: [{ key: keys.node(n.id), value: next }], del: [] });
      if (ok) snap.nodes.set(n.id, { rec: next, rev: snap.revision });
    }
  }

  let primarySince: number | undefined;
  const settleMs = ctx.settleMs ?? Math.max(5_000, 3 * period);

  async function round(): Promise<void> {
    if (!ctx.isPrimary()) {
      primarySince = undefined;
      return;
    }
    primarySince ??= Date.now();
    const cluster = ctx.nodes();
    if (!clusterId) {
      try {
        clusterId = await store.clusterId(swarmId);
      } catch (err) {
        if (!paused) ctx.log(`services: reconciler paused: ${errorMessage(err)}`);
        paused = true;
        return;
      }
    }
    const observedAt = Date.now();
    const { containers, reachable } = await observe(cluster, clusterId);
    let snap: Snapshot;
    try {
      snap = await store.snapshot();
      await syncNodes(cluster, snap);
    } catch (err) {
      if (!paused) ctx.log(`services: reconciler paused: ${errorMessage(err)}`);
      paused = true;
      return;
    }
    if (paused) ctx.log('services: cluster store reachable again, reconciler resumes');
    paused = false;
    const records = new Map([...snap.nodes.values()].map((v) => [v.rec.ID, v.rec]));
    const views = nodeViews(cluster, records, reachable, Date.now() - primarySince < settleMs);
    const services = [...snap.services.values()].map((v) => v.rec);
    const tasks = [...snap.tasks.values()].map((v) => v.rec);
    const placer = makePlacer({ schedule: (n, r) => ctx.schedule(n, r), clusterNodes: cluster, views, records, services, tasks });
    const decided = plan({ now: Date.now(), observedAt, services, tasks, containers, nodes: views, placer, newId: swarmId });
    const committed = await commitPlan(snap, decided);
    execute(snap, decided, committed, cluster, services);
    currentCluster = cluster;
    const latest = new Map(tasks.map((t) => [t.ID, t]));
    for (const t of decided.taskWrites.values()) if (committed.has(t.ServiceID)) latest.set(t.ID, t);
    await names.sync(services, [...latest.values()]);
  }

  /** One transaction per service (its record and its tasks); returns the services whose writes landed. */
  async function commitPlan(snap: Snapshot, decided: Plan): Promise<Map<string, number>> {
    const groups = new Map<string, Change>();
    const group = (serviceId: string): Change => {
      let g = groups.get(serviceId);
      if (!g) {
        const svc = snap.services.get(serviceId);
        g = { expect: svc ? [{ key: keys.service(serviceId), rev: svc.rev }] : [], put: [], del: [] };
        groups.set(serviceId, g);
      }
      return g;
    };
    for (const t of decided.taskWrites.values()) {
      const g = group(t.ServiceID);
      g.expect.push({ key: keys.task(t.ID), rev: snap.tasks.get(t.ID)?.rev ?? 0 });
      g.put.push({ key: keys.task(t.ID), value: t });
    }
    for (const id of decided.taskDeletes) {
      const prev = snap.tasks.get(id);
      if (!prev) continue;
      const g = group(prev.rec.ServiceID);
      g.expect.push({ key: keys.task(id), rev: prev.rev });
      g.del.push(keys.task(id));
    }
    for (const s of decided.serviceWrites) group(s.ID).put.push({ key: keys.service(s.ID), value: s });
    const landed = new Map<string, number>();
    for (const [serviceId, change] of groups) {
      try {
        const rev = await store.commitRevision(change);
        if (rev) landed.set(serviceId, rev);
        else ctx.log(`services: ${serviceId}: state changed while deciding; will retry`);
      } catch (err) {
        ctx.log(`services: cannot write decisions for ${serviceId}: ${errorMessage(err)}`);
      }
    }
    return landed;
  }

  function execute(snap: Snapshot, decided: Plan, landed: Map<string, number>, cluster: ClusterNode[], services: ServiceRecord[]): void {
    const nameOf = new Map(cluster.map((n) => [n.id, n.name]));
    const serviceById = new Map(services.map((s) => [s.ID, s]));
    const taskOf = (id: string): TaskRecord | undefined => decided.taskWrites.get(id) ?? snap.tasks.get(id)?.rec;
    for (const s of decided.stops) {
      const task = taskOf(s.taskId);
      // A stop decided together with a write waits for that write; orphans need none.
      if (task && decided.taskWrites.has(task.ID) && !landed.has(task.ServiceID)) continue;
      const node = nameOf.get(s.nodeId);
      const key = `stop:${s.containerId}`;
      if (!node || inflight.has(key)) continue;
      inflight.add(key);
      const grace = task?.Spec.ContainerSpec.StopGracePeriod;
      const timeout = grace !== undefined ? Math.ceil(grace / 1e9) : STOP_TIMEOUT_S;
      void stopContainer(node, s.containerId, timeout).finally(() => inflight.delete(key));
    }
    for (const st of decided.starts) {
      const task = decided.taskWrites.get(st.taskId) ?? snap.tasks.get(st.taskId)?.rec;
      if (!task) continue;
      const rev = decided.taskWrites.has(st.taskId) ? landed.get(task.ServiceID) : snap.tasks.get(st.taskId)?.rev;
      const service = serviceById.get(task.ServiceID);
      const node = nameOf.get(st.nodeId);
      const key = `start:${st.taskId}`;
      if (!rev || !service || !node || inflight.has(key)) continue;
      inflight.add(key);
      void startTask(service, task, rev, st.nodeId, node).finally(() => {
        inflight.delete(key);
        tickSoon();
      });
    }
  }

  let soon: NodeJS.Timeout | undefined;
  const tickSoon = () => {
    if (soon || stopped) return;
    soon = setTimeout(() => {
      soon = undefined;
      tick();
    }, 50);
  };

  async function stopContainer(node: string, id: string, timeout: number): Promise<void> {
    const engine = ctx.engine(node);
    try {
      await engine.containerStop(id, timeout).catch((err: unknown) => {
        if (!(err instanceof ClientError && (err.statusCode === 304 || err.statusCode === 404))) throw err;
      });
      await engine.containerRemove(id, { force: true });
    } catch (err) {
      if (!(err instanceof ClientError && err.statusCode === 404)) ctx.log(`services: cannot stop ${id.slice(0, 12)} on ${node}: ${errorMessage(err)}`);
    }
  }

  async function pull(node: string, image: string): Promise<void> {
    const at = image.lastIndexOf(':');
    const slash = image.lastIndexOf('/');
    const [repo, tag] = at > slash ? [image.slice(0, at), image.slice(at + 1)] : [image, 'latest'];
    const res = await ctx.engine(node).imagePull(repo, tag);
    for await (const msg of jsonLines<{ error?: string }>(res)) if (msg.error) throw new Error(msg.error);
  }

  async function startTask(service: ServiceRecord, task: TaskRecord, rev: number, nodeId: string, node: string): Promise<void> {
    const engine = ctx.engine(node);
    const name = containerName(service.Spec.Name, task);
    const body = taskContainerBody(service, task, nodeId, clusterId!);
    let result: { state: 'starting'; id: string } | { state: 'rejected'; err: string };
    try {
      let id: string;
      try {
        id = (await engine.containerCreate(body, name)).Id;
      } catch (err) {
        if (err instanceof ClientError && err.statusCode === 409) {
          // Created by an earlier attempt (a start cut short by a failover): use it.
          id = (await engine.containerInspect(name)).Id;
        } else if (err instanceof ClientError && err.statusCode === 404 && /no such image/i.test(err.message)) {
          try {
            await pull(node, body.Image!);
          } catch (pullErr) {
            throw new Error(`No such image: ${body.Image!}`, { cause: pullErr });
          }
          id = (await engine.containerCreate(body, name)).Id;
        } else throw err;
      }
      // Create joins the first network (NetworkMode); the others are connected before start.
      for (const net of networksOf(service.Spec).slice(1)) {
        const res = await engine
          .raw({ method: 'POST', path: `/networks/${encodeURIComponent(net)}/connect`, body: JSON.stringify({ Container: id }), headers: { 'Content-Type': 'application/json' } })
          .catch((err: unknown) => {
            // Already connected (a start repeated after a failover) is fine.
            if (err instanceof ClientError && /already (exists|connected)/i.test(err.message)) return undefined;
            throw err;
          });
        res?.resume();
      }
      await engine.containerStart(id).catch((err: unknown) => {
        if (!(err instanceof ClientError && err.statusCode === 304)) throw err;
      });
      result = { state: 'starting', id };
    } catch (err) {
      result = { state: 'rejected', err: errorMessage(err) };
      ctx.log(`services: task ${task.ID} on ${node}: ${result.err}`);
    }
    const now = new Date().toISOString();
    const next: TaskRecord = {
      ...task,
      UpdatedAt: now,
      Status:
        result.state === 'starting'
          ? { Timestamp: now, State: 'starting', Message: 'starting', ContainerStatus: { ContainerID: result.id } }
          : { Timestamp: now, State: 'rejected', Message: 'preparing', Err: result.err },
    };
    try {
      await store.commit({ expect: [{ key: keys.task(task.ID), rev }], put: [{ key: keys.task(task.ID), value: next }], del: [] });
    } catch (err) {
      ctx.log(`services: cannot record task ${task.ID}: ${errorMessage(err)}`);
    }
  }

  schedule(0);
  return {
    kick: () => tickSoon(),
    settle: () =>
      new Promise<void>((resolve) => {
        waiters.push(resolve);
        tickSoon();
      }),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(soon);
      await running;
    },
  };
}
