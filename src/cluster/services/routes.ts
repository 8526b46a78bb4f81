/**
 * The swarm-mode Engine API on the manager: /services, /tasks, /nodes and service logs, in the
 * shapes of moby's swagger so the docker CLI's `service` and `node` verbs work. Handlers only
 * read and write desired state in the store; the reconciler does the rest.
 */
import type { ServerResponse } from 'node:http';
import { readJsonObject, queryBool, queryFilters, checkFilterKeys, sendJson } from '../../api/io.js';
import type { Router } from '../../api/router.js';
import { ClientError } from '../../client/errors.js';
import { Demuxer, encodeFrame, StreamType } from '../../client/stdcopy.js';
import { BerthError, errorMessage, invalidParameter, notFound } from '../../util/errors.js';
import type { ClusterNode } from '../types.js';
import { swarmId, type ServicesContext } from './context.js';
import { isEnded } from './plan.js';
import { checkPortConflicts, isGlobal, replicasOf, specHash, validateSpec } from './spec.js';
import { keys, ServiceStore, type Snapshot, type Versioned } from './store.js';
import type { NodeAvailability, NodeRecord, NodeSpec, Service, ServiceRecord, ServiceSpec, SwarmNode, Task, TaskRecord } from './types.js';
import { LABEL } from './types.js';
import { BERTH_VERSION } from '../../api/version.js';

export interface ServiceRoutesOptions {
  /** Called after a write so the reconciler acts at once rather than at its next period. */
  kick?: () => void;
}

/** A stable cluster ID for /info and GET /swarm, kept in the store. */
const CLUSTER_ID = 'berth-cluster';

export function toService(v: Versioned<ServiceRecord>, tasks?: TaskRecord[], nodes?: ClusterNode[]): Service {
  const { rec, rev } = v;
  const endpointSpec = rec.Spec.EndpointSpec ?? { Mode: 'vip' };
  const ports = (endpointSpec.Ports ?? []).filter((p) => p.PublishedPort).map((p) => ({ Protocol: p.Protocol ?? 'tcp', TargetPort: p.TargetPort, PublishedPort: p.PublishedPort, PublishMode: p.PublishMode ?? 'ingress' }));
  const out: Service = {
    ID: rec.ID,
    Version: { Index: rev },
    CreatedAt: rec.CreatedAt,
    UpdatedAt: rec.UpdatedAt,
    Spec: rec.Spec,
    ...(rec.PreviousSpec ? { PreviousSpec: rec.PreviousSpec } : {}),
    Endpoint: { Spec: endpointSpec, ...(ports.length ? { Ports: ports } : {}) },
    ...(rec.UpdateStatus ? { UpdateStatus: rec.UpdateStatus } : {}),
  };
  if (tasks) {
    const mine = tasks.filter((t) => t.ServiceID === rec.ID && t.DesiredState === 'running');
    const running = mine.filter((t) => t.Status.State === 'running').length;
    const desired = isGlobal(rec.Spec) ? (nodes ?? []).filter((n) => n.healthy && mine.some((t) => t.NodeID === n.id)).length || mine.length : replicasOf(rec.Spec);
    out.ServiceStatus = { RunningTasks: running, DesiredTasks: desired, CompletedTasks: 0 };
  }
  return out;
}

export function toTask(v: Versioned<TaskRecord>): Task {
  const { SpecHash: _h, Attempt: _a, NotBefore: _n, ReadyAt: _r, ...wire } = v.rec;
  return { ...wire, Version: { Index: v.rev } };
}

function ipOf(addr: string): string {
  const m = /^(?:[a-z]+:\/\/)?\[?([^\]]+?)\]?(?::\d+)?$/.exec(addr);
  return addr.startsWith('unix://') ? '127.0.0.1' : m?.[1] ?? addr;
}

export function toNode(v: Versioned<NodeRecord>, live: ClusterNode | undefined): SwarmNode {
  const { rec, rev } = v;
  return {
    ID: rec.ID,
    Version: { Index: rev },
    CreatedAt: rec.CreatedAt,
    UpdatedAt: rec.UpdatedAt,
    Spec: { ...rec.Spec, Labels: rec.Spec.Labels ?? {} },
    Description: {
      Hostname: rec.Hostname,
      Platform: { Architecture: 'x86_64', OS: 'linux' },
      Resources: { NanoCPUs: rec.NanoCPUs, MemoryBytes: rec.MemoryBytes },
      Engine: { EngineVersion: BERTH_VERSION, Labels: rec.EngineLabels, Plugins: [] },
    },
    Status: live?.healthy ? { State: 'ready', Addr: ipOf(rec.Addr) } : { State: 'down', Message: 'heartbeat failure', Addr: ipOf(rec.Addr) },
  };
}

/** What the manager's /info reports under Swarm, so `docker info` and `docker node ls` see an active manager. */
export function swarmInfo(ctx: ServicesContext): Record<string, unknown> {
  const nodes = ctx.nodes();
  return {
    NodeID: '',
    NodeAddr: ctx.advertise ? ipOf(ctx.advertise) : '',
    LocalNodeState: 'active',
    ControlAvailable: true,
    Error: '',
    RemoteManagers: ctx.advertise ? [{ NodeID: 'manager', Addr: ctx.advertise }] : [],
    Nodes: nodes.length,
    Managers: 1,
    Cluster: {
      ID: CLUSTER_ID,
      Version: { Index: 1 },
      CreatedAt: new Date(0).toISOString(),
      UpdatedAt: new Date(0).toISOString(),
      Spec: {
        Name: 'default',
        Labels: {},
        Orchestration: { TaskHistoryRetentionLimit: 5 },
        Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
        Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
        CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
        TaskDefaults: {},
        EncryptionConfig: { AutoLockManagers: false },
      },
      TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
      RootRotationInProgress: false,
      DefaultAddrPool: [],
      SubnetSize: 24,
      DataPathPort: 4789,
    },
  };
}

function match(values: string[] | undefined, test: (v: string) => boolean): boolean {
  return !values?.length || values.some(test);
}

function labelsMatch(wanted: string[] | undefined, labels: Record<string, string>): boolean {
  return (wanted ?? []).every((w) => {
    const eq = w.indexOf('=');
    return eq < 0 ? w in labels : labels[w.slice(0, eq)] === w.slice(eq + 1);
  });
}

/** Finds a node by ID, hostname or unique ID prefix. */
function findNode(snap: Snapshot, ref: string): Versioned<NodeRecord> {
  const all = [...snap.nodes.values()];
  const exact = all.find((n) => n.rec.ID === ref) ?? all.find((n) => n.rec.Hostname === ref);
  if (exact) return exact;
  const prefixed = all.filter((n) => n.rec.ID.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) throw invalidParameter(`node ${ref} is ambiguous (${prefixed.length} matches found)`);
  throw notFound(`node ${ref} not found`);
}

function findTask(snap: Snapshot, ref: string): Versioned<TaskRecord> {
  const exact = snap.tasks.get(ref);
  if (exact) return exact;
  const prefixed = [...snap.tasks.values()].filter((t) => t.rec.ID.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  throw notFound(`task ${ref} not found`);
}

function outOfSequence(): BerthError {
  return new BerthError('system', 'rpc error: code = Unknown desc = update out of sequence');
}

function parseVersion(query: URLSearchParams): number {
  const v = query.get('version');
  if (v === null || !/^\d+$/.test(v)) throw invalidParameter('invalid service version: the version query parameter is required (GET the service for its Version.Index)');
  return Number(v);
}

export function serviceRoutes(router: Router, ctx: ServicesContext, options: ServiceRoutesOptions = {}): void {
  const store = new ServiceStore(ctx.store.client, ctx.store.prefix);
  const kick = options.kick ?? (() => undefined);
  const now = () => new Date().toISOString();

  router.on('GET', '/services', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['id', 'label', 'mode', 'name']);
    const snap = await store.snapshot();
    const withStatus = queryBool(query, 'status');
    const tasks = withStatus ? [...snap.tasks.values()].map((t) => t.rec) : undefined;
    const nodes = withStatus ? ctx.nodes() : undefined;
    const list = [...snap.services.values()]
      .filter(({ rec }) => match(filters.get('id'), (v) => rec.ID.startsWith(v)))
      .filter(({ rec }) => match(filters.get('name'), (v) => rec.Spec.Name.startsWith(v)))
      .filter(({ rec }) => match(filters.get('mode'), (v) => (v === 'global') === isGlobal(rec.Spec)))
      .filter(({ rec }) => labelsMatch(filters.get('label'), rec.Spec.Labels ?? {}))
      .sort((a, b) => (a.rec.Spec.Name < b.rec.Spec.Name ? -1 : 1))
      .map((v) => toService(v, tasks, nodes));
    sendJson(res, 200, list);
  });

  router.on('POST', '/services/create', async ({ req, res }) => {
    const spec = validateSpec(await readJsonObject(req));
    const existing = await store.services();
    checkPortConflicts(spec, undefined, existing.map((s) => s.rec));
    const ts = now();
    const rec: ServiceRecord = { ID: swarmId(), CreatedAt: ts, UpdatedAt: ts, Spec: spec };
    await store.createService(rec);
    ctx.log(`services: created ${spec.Name} (${rec.ID})`);
    kick();
    sendJson(res, 201, { ID: rec.ID, Warnings: null });
  });

  router.on('GET', '/services/{id}', async ({ res, params }) => {
    sendJson(res, 200, toService(await store.findService(params.id!)));
  });

  router.on('POST', '/services/{id}/update', async ({ req, res, params, query }) => {
    const version = parseVersion(query);
    const body = await readJsonObject(req);
    const current = await store.findService(params.id!);
    if (current.rev !== version) throw outOfSequence();
    const rollback = query.get('rollback') === 'previous';
    let spec: ServiceSpec;
    if (rollback) {
      if (!current.rec.PreviousSpec) throw invalidParameter(`service ${current.rec.Spec.Name} does not have a previous spec`);
      spec = current.rec.PreviousSpec;
    } else spec = validateSpec(body);
    if (spec.Name !== current.rec.Spec.Name) throw invalidParameter('renaming services is not supported');
    checkPortConflicts(spec, current.rec.ID, (await store.services()).map((s) => s.rec));
    const ts = now();
    const changed = specHash(spec) !== specHash(current.rec.Spec);
    const next: ServiceRecord = {
      ...current.rec,
      UpdatedAt: ts,
      Spec: spec,
      PreviousSpec: current.rec.Spec,
      ...(changed ? { UpdateStatus: { State: rollback ? 'rollback_started' : 'updating', StartedAt: ts, Message: rollback ? 'manually requested rollback' : 'update in progress' } } : {}),
    };
    if (!(await store.replaceService(next, current.rev))) throw outOfSequence();
    kick();
    sendJson(res, 200, { Warnings: null });
  });

  router.on('DELETE', '/services/{id}', async ({ res, params }) => {
    const current = await store.findService(params.id!);
    if (!(await store.deleteService(current.rec, current.rev))) throw new BerthError('conflict', `service ${params.id} changed while it was being removed; try again`);
    ctx.log(`services: removed ${current.rec.Spec.Name} (${current.rec.ID})`);
    kick();
    res.writeHead(200);
    res.end();
  });

  router.on('GET', '/services/{id}/logs', async ({ req, res, params, query }) => {
    const service = await store.findService(params.id!);
    const snap = await store.snapshot();
    const tasks = [...snap.tasks.values()].map((t) => t.rec).filter((t) => t.ServiceID === service.rec.ID && t.NodeID && t.Status.ContainerStatus?.ContainerID);
    await streamLogs(ctx, res, req.on.bind(req), tasks, query, service.rec);
  });

  router.on('GET', '/tasks', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['id', 'name', 'service', 'node', 'label', 'desired-state', '_up-to-date', 'runtime']);
    const snap = await store.snapshot();
    const services = [...snap.services.values()];
    const serviceIds = filters.get('service')?.map((ref) => {
      const s = services.find((v) => v.rec.ID === ref || v.rec.Spec.Name === ref) ?? services.find((v) => v.rec.ID.startsWith(ref));
      return s?.rec.ID ?? ref;
    });
    const nodeIds = filters.get('node')?.map((ref) => {
      try {
        return findNode(snap, ref).rec.ID;
      } catch {
        return ref;
      }
    });
    const upToDate = filters.has('_up-to-date');
    const list = [...snap.tasks.values()]
      .filter(({ rec }) => match(filters.get('id'), (v) => rec.ID.startsWith(v)))
      .filter(({ rec }) => match(serviceIds, (v) => rec.ServiceID === v))
      .filter(({ rec }) => match(nodeIds, (v) => rec.NodeID === v))
      .filter(({ rec }) => match(filters.get('desired-state'), (v) => rec.DesiredState === v || (v === 'accepted' && rec.DesiredState === 'running')))
      .filter(({ rec }) => labelsMatch(filters.get('label'), rec.Labels))
      .filter(({ rec }) =>
        match(filters.get('name'), (v) => {
          const svc = snap.services.get(rec.ServiceID)?.rec.Spec.Name ?? '';
          return `${svc}.${rec.Slot ?? rec.NodeID}`.startsWith(v);
        }),
      )
      .filter(({ rec }) => {
        if (!upToDate) return true;
        const svc = snap.services.get(rec.ServiceID)?.rec;
        return svc !== undefined && rec.SpecHash === specHash(svc.Spec) && rec.DesiredState === 'running';
      })
      .sort((a, b) => (a.rec.CreatedAt < b.rec.CreatedAt ? 1 : -1))
      .map(toTask);
    sendJson(res, 200, list);
  });

  router.on('GET', '/tasks/{id}', async ({ res, params }) => {
    sendJson(res, 200, toTask(findTask(await store.snapshot(), params.id!)));
  });

  router.on('GET', '/nodes', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['id', 'label', 'node.label', 'membership', 'name', 'role']);
    const snap = await store.snapshot();
    const live = new Map(ctx.nodes().map((n) => [n.id, n]));
    const list = [...snap.nodes.values()]
      .filter(({ rec }) => match(filters.get('id'), (v) => rec.ID.startsWith(v)))
      .filter(({ rec }) => match(filters.get('name'), (v) => rec.Hostname.startsWith(v)))
      .filter(({ rec }) => match(filters.get('role'), (v) => rec.Spec.Role === v))
      .filter(({ rec }) => match(filters.get('membership'), (v) => v === 'accepted'))
      .filter(({ rec }) => labelsMatch(filters.get('node.label'), rec.Spec.Labels ?? {}))
      .filter(({ rec }) => labelsMatch(filters.get('label'), rec.EngineLabels))
      .sort((a, b) => (a.rec.Hostname < b.rec.Hostname ? -1 : 1))
      .map((v) => toNode(v, live.get(v.rec.ID)));
    sendJson(res, 200, list);
  });

  router.on('GET', '/nodes/{id}', async ({ res, params }) => {
    const snap = await store.snapshot();
    const node = findNode(snap, params.id!);
    sendJson(res, 200, toNode(node, ctx.nodes().find((n) => n.id === node.rec.ID)));
  });

  router.on('POST', '/nodes/{id}/update', async ({ req, res, params, query }) => {
    const version = parseVersion(query);
    const body = (await readJsonObject(req)) as Partial<NodeSpec>;
    const snap = await store.snapshot();
    const node = findNode(snap, params.id!);
    if (node.rev !== version) throw outOfSequence();
    const availability = (body.Availability ?? node.rec.Spec.Availability) as NodeAvailability;
    if (!['active', 'pause', 'drain'].includes(availability)) throw invalidParameter(`invalid availability "${String(body.Availability)}": expected active, pause or drain`);
    if (body.Role && body.Role !== 'worker') throw invalidParameter('berth nodes are workers: the manager runs apart from the engines (berth swarm manage)');
    const labels = body.Labels ?? {};
    if (typeof labels !== 'object' || Array.isArray(labels)) throw invalidParameter('Labels must be an object');
    const next: NodeRecord = { ...node.rec, UpdatedAt: now(), Spec: { ...node.rec.Spec, Availability: availability, Labels: labels, ...(body.Name ? { Name: body.Name } : {}) } };
    if (!(await store.commit({ expect: [{ key: keys.node(node.rec.ID), rev: node.rev }], put: [{ key: keys.node(node.rec.ID), value: next }], del: [] }))) throw outOfSequence();
    kick();
    res.writeHead(200);
    res.end();
  });

  router.on('DELETE', '/nodes/{id}', async ({ res, params, query }) => {
    const snap = await store.snapshot();
    const node = findNode(snap, params.id!);
    const live = ctx.nodes().find((n) => n.id === node.rec.ID);
    if (live?.healthy && !queryBool(query, 'force')) {
      throw new BerthError('invalidParameter', `rpc error: code = FailedPrecondition desc = node ${node.rec.ID} is not down and can't be removed`);
    }
    await store.commit({ expect: [{ key: keys.node(node.rec.ID), rev: node.rev }], put: [], del: [keys.node(node.rec.ID)] });
    kick();
    res.writeHead(200);
    res.end();
  });

  router.on('GET', '/swarm', ({ res }) => {
    const info = swarmInfo(ctx).Cluster as Record<string, unknown>;
    sendJson(res, 200, { ...info, JoinTokens: { Worker: '', Manager: '' } });
  });
}

/**
 * Service logs: each task's container log from its node, every line prefixed with the details
 * the docker CLI parses to print "NAME.SLOT.TASK@NODE | line" (node, service and task IDs).
 */
async function streamLogs(
  ctx: ServicesContext,
  res: ServerResponse,
  onReq: (event: 'close', fn: () => void) => unknown,
  tasks: TaskRecord[],
  query: URLSearchParams,
  service: ServiceRecord,
): Promise<void> {
  const nodes = new Map(ctx.nodes().map((n) => [n.id, n]));
  const follow = queryBool(query, 'follow');
  const timestamps = queryBool(query, 'timestamps');
  const tty = service.Spec.TaskTemplate.ContainerSpec.TTY === true;
  res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
  res.flushHeaders();
  const live = tasks.filter((t) => nodes.get(t.NodeID!)?.healthy && !(isEnded(t) && t.DesiredState !== 'running' && !t.Status.ContainerStatus?.ContainerID));
  const streams: NodeJS.ReadableStream[] = [];
  let closed = false;
  onReq('close', () => {
    closed = true;
    for (const s of streams) (s as unknown as { destroy(): void }).destroy();
  });
  await Promise.all(
    live.map(async (t) => {
      const node = nodes.get(t.NodeID!)!;
      const details = `${LABEL.nodeId}=${encodeURIComponent(t.NodeID!)},${LABEL.serviceId}=${encodeURIComponent(t.ServiceID)},${LABEL.taskId}=${encodeURIComponent(t.ID)}`;
      let stream;
      try {
        stream = await ctx.engine(node.name).containerLogs(t.Status.ContainerStatus!.ContainerID!, {
          follow,
          timestamps,
          stdout: queryBool(query, 'stdout', true),
          stderr: queryBool(query, 'stderr', true),
          ...(query.get('since') ? { since: query.get('since')! } : {}),
          ...(query.get('tail') ? { tail: query.get('tail')! } : {}),
        });
      } catch (err) {
        if (!(err instanceof ClientError && err.statusCode === 404)) ctx.log(`services: logs of task ${t.ID}: ${errorMessage(err)}`);
        return;
      }
      if (closed) {
        stream.destroy();
        return;
      }
      streams.push(stream);
      const partial = new Map<StreamType, string>();
      const emit = (type: StreamType, text: string) => {
        let rest = (partial.get(type) ?? '') + text;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl + 1);
          rest = rest.slice(nl + 1);
          let out: string;
          if (timestamps) {
            const sp = line.indexOf(' ');
            out = sp > 0 ? `${line.slice(0, sp)} ${details} ${line.slice(sp + 1)}` : `${details} ${line}`;
          } else out = `${details} ${line}`;
          if (!closed) res.write(tty ? out : encodeFrame(type, out));
        }
        partial.set(type, rest);
      };
      const demux = new Demuxer((type, payload) => emit(type, payload.toString('utf8')));
      await new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer) => (tty ? emit(StreamType.Stdout, chunk.toString('utf8')) : demux.push(chunk)));
        stream.on('end', resolve);
        stream.on('error', () => resolve());
        stream.on('close', resolve);
      });
      for (const [type, rest] of partial) if (rest) emit(type, '\n');
    }),
  );
  res.end();
}

