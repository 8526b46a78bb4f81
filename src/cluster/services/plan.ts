/**
 * The reconciler's decision function: desired state (services) plus what is recorded (tasks) and
 * what is observed (containers on reachable nodes) in, the writes and container operations that
 * move the cluster toward the desired state out. No I/O: placement comes through an injected
 * Placer and new IDs through newId, so every rule here is unit-testable.
 *
 * Slots: a replicated service has slots 1..Replicas, a global one a slot per eligible node. A
 * slot's current task is its newest task with DesiredState running; older ones are history.
 */
import { isGlobal, replicasOf, restartPolicyOf, specHash, updateConfigOf } from './spec.js';
import type { NodeAvailability, ServiceRecord, TaskRecord, TaskState, UpdateStatus } from './types.js';

export interface NodeView {
  id: string;
  name: string;
  /** In discovery and healthy: tasks on a node that is not ready are replaced elsewhere. */
  ready: boolean;
  /** Its containers were listed this round; unreachable nodes are never acted on. */
  reachable: boolean;
  availability: NodeAvailability;
}

export type ContainerRunState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ObservedContainer {
  nodeId: string;
  containerId: string;
  taskId: string;
  serviceId: string;
  state: ContainerRunState;
  exitCode?: number;
  health?: 'starting' | 'healthy' | 'unhealthy';
}

export interface Placer {
  /** A node for the task, or docker's pending reason; a successful choice counts for later calls. */
  place(service: ServiceRecord, task: TaskRecord): { nodeId: string } | { error: string };
  /** Whether the node satisfies the service's constraints (global mode, constraint changes). */
  eligible(service: ServiceRecord, nodeId: string): boolean;
}

export interface PlanInput {
  now: number;
  /** When the containers were listed: records written after it may have containers not seen. */
  observedAt: number;
  services: ServiceRecord[];
  tasks: TaskRecord[];
  containers: ObservedContainer[];
  nodes: NodeView[];
  placer: Placer;
  newId: () => string;
}

export interface StartAction {
  taskId: string;
  nodeId: string;
}

export interface StopAction {
  nodeId: string;
  containerId: string;
  taskId: string;
}

export interface Plan {
  /** Task records to create or replace, by ID. */
  taskWrites: Map<string, TaskRecord>;
  taskDeletes: Set<string>;
  serviceWrites: ServiceRecord[];
  starts: StartAction[];
  /** Containers to stop and remove. */
  stops: StopAction[];
}

/** How many ended tasks per slot stay visible in `service ps` (swarm's default retention). */
export const HISTORY_PER_SLOT = 5;

const ENDED: ReadonlySet<TaskState> = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);
const LIVE_CONTAINER: ReadonlySet<ContainerRunState> = new Set(['created', 'running', 'paused', 'restarting']);

export function isEnded(t: Pick<TaskRecord, 'Status'>): boolean {
  return ENDED.has(t.Status.State);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Mutable working copy: each change to a task goes through `touch` so only real changes are written. */
class Work {
  readonly plan: Plan = { taskWrites: new Map(), taskDeletes: new Set(), serviceWrites: [], starts: [], stops: [] };
  readonly tasks = new Map<string, TaskRecord>();
  constructor(tasks: TaskRecord[], readonly now: number) {
    for (const t of tasks) this.tasks.set(t.ID, structuredClone(t));
  }
  touch(task: TaskRecord, change: (t: TaskRecord) => void): void {
    const before = JSON.stringify(task);
    change(task);
    if (JSON.stringify(task) === before) return;
    task.UpdatedAt = iso(this.now);
    this.plan.taskWrites.set(task.ID, task);
  }
  setState(task: TaskRecord, state: TaskState, message: string, err?: string): void {
    this.touch(task, (t) => {
      if (t.Status.State === state && t.Status.Message === message && t.Status.Err === err) return;
      t.Status = { ...t.Status, Timestamp: iso(this.now), State: state, Message: message, ...(err !== undefined ? { Err: err } : {}) };
      if (err === undefined) delete t.Status.Err;
    });
  }
  add(task: TaskRecord): void {
    this.tasks.set(task.ID, task);
    this.plan.taskWrites.set(task.ID, task);
  }
  remove(id: string): void {
    this.tasks.delete(id);
    this.plan.taskWrites.delete(id);
    this.plan.taskDeletes.add(id);
  }
}

export function plan(input: PlanInput): Plan {
  const { now } = input;
  const work = new Work(input.tasks, now);
  const nodes = new Map(input.nodes.map((n) => [n.id, n]));
  const byTask = new Map<string, ObservedContainer>();
  for (const c of input.containers) byTask.set(c.taskId, c);
  const services = new Map(input.services.map((s) => [s.ID, s]));

  // Containers no task record claims (a record pruned while its node was away, a crash between
  // create and record): nothing wants them, so they are stopped and removed.
  for (const c of input.containers) {
    if (!work.tasks.has(c.taskId)) work.plan.stops.push({ nodeId: c.nodeId, containerId: c.containerId, taskId: c.taskId });
  }

  for (const task of [...work.tasks.values()]) observeTask(work, task, nodes, byTask, input.observedAt, services);

  for (const service of input.services) reconcileService(work, service, input, nodes, byTask);

  // Tasks that should no longer run (this round's decisions included): stop their containers.
  for (const task of work.tasks.values()) {
    if (task.DesiredState === 'running' || !services.has(task.ServiceID)) continue;
    const node = task.NodeID ? nodes.get(task.NodeID) : undefined;
    const c = byTask.get(task.ID);
    if (c) work.plan.stops.push({ nodeId: c.nodeId, containerId: c.containerId, taskId: task.ID });
    if (!isEnded(task) && (!task.NodeID || node?.reachable || !node?.ready)) work.setState(task, 'shutdown', task.Status.Message || 'shutdown');
  }

  // Tasks whose service is gone: stop their containers, then forget them.
  for (const task of [...work.tasks.values()]) {
    if (services.has(task.ServiceID)) continue;
    const c = byTask.get(task.ID);
    const node = task.NodeID ? nodes.get(task.NodeID) : undefined;
    if (c && LIVE_CONTAINER.has(c.state)) {
      work.plan.stops.push({ nodeId: c.nodeId, containerId: c.containerId, taskId: task.ID });
      work.touch(task, (t) => (t.DesiredState = 'remove'));
    } else if (c) {
      work.plan.stops.push({ nodeId: c.nodeId, containerId: c.containerId, taskId: task.ID });
      work.remove(task.ID);
    } else if (!node || node.reachable || !node.ready) {
      work.remove(task.ID);
    }
  }
  const seen = new Set<string>();
  work.plan.stops = work.plan.stops.filter((s) => !seen.has(s.containerId) && seen.add(s.containerId) !== undefined);
  return work.plan;
}

/** Brings a task's recorded status in line with its container, and stops what should not run. */
function observeTask(
  work: Work,
  task: TaskRecord,
  nodes: Map<string, NodeView>,
  byTask: Map<string, ObservedContainer>,
  observedAt: number,
  services: Map<string, ServiceRecord>,
): void {
  if (!task.NodeID) return;
  const node = nodes.get(task.NodeID);
  const c = byTask.get(task.ID);
  if (!node?.reachable || !services.has(task.ServiceID) || task.DesiredState !== 'running') return;
  if (!c) {
    // A record newer than the listing may belong to a container created after it.
    const recent = Date.parse(task.UpdatedAt) >= observedAt;
    if (!recent && (task.Status.State === 'starting' || task.Status.State === 'running')) {
      work.setState(task, 'failed', 'task: container removed', 'task: container removed');
    }
    return;
  }
  const containerId = c.containerId;
  if (c.state === 'running' || c.state === 'paused' || c.state === 'restarting') {
    if (c.health === 'unhealthy') {
      work.plan.stops.push({ nodeId: c.nodeId, containerId, taskId: task.ID });
      work.setState(task, 'failed', 'task: unhealthy container', 'task: unhealthy container');
      return;
    }
    const ready = c.health === undefined || c.health === 'healthy';
    work.touch(task, (t) => {
      t.Status.ContainerStatus = { ...t.Status.ContainerStatus, ContainerID: containerId };
      if (ready && t.ReadyAt === undefined) t.ReadyAt = work.now;
    });
    if (ready) work.setState(task, 'running', 'started');
    else work.setState(task, 'starting', 'starting');
    return;
  }
  if (c.state === 'exited' || c.state === 'dead') {
    if (isEnded(task)) return;
    const code = c.exitCode ?? -1;
    work.touch(task, (t) => {
      t.Status.ContainerStatus = { ...t.Status.ContainerStatus, ContainerID: containerId, ExitCode: code };
    });
    if (code === 0) work.setState(task, 'complete', 'finished');
    else work.setState(task, 'failed', 'started', `task: non-zero exit (${code})`);
  }
}

interface SlotView {
  key: string;
  slot?: number;
  nodeId?: string;
  /** Newest first. */
  tasks: TaskRecord[];
}

function groupSlots(service: ServiceRecord, tasks: TaskRecord[]): Map<string, SlotView> {
  const global = isGlobal(service.Spec);
  const slots = new Map<string, SlotView>();
  for (const t of tasks) {
    const key = global ? `node:${t.NodeID ?? ''}` : `slot:${t.Slot ?? 0}`;
    let view = slots.get(key);
    if (!view) {
      view = { key, ...(global ? { nodeId: t.NodeID } : { slot: t.Slot }), tasks: [] };
      slots.set(key, view);
    }
    view.tasks.push(t);
  }
  for (const v of slots.values()) v.tasks.sort((a, b) => (a.CreatedAt === b.CreatedAt ? (a.ID < b.ID ? 1 : -1) : a.CreatedAt < b.CreatedAt ? 1 : -1));
  return slots;
}

function newTask(work: Work, input: PlanInput, service: ServiceRecord, hash: string, where: { slot?: number; nodeId?: string }, attempt: number, notBefore?: number): TaskRecord {
  const ts = iso(work.now);
  const task: TaskRecord = {
    ID: input.newId(),
    CreatedAt: ts,
    UpdatedAt: ts,
    Labels: {},
    Spec: structuredClone(service.Spec.TaskTemplate),
    ServiceID: service.ID,
    ...(where.slot !== undefined ? { Slot: where.slot } : {}),
    ...(where.nodeId !== undefined ? { NodeID: where.nodeId } : {}),
    Status: { Timestamp: ts, State: 'new', Message: 'created' },
    DesiredState: 'running',
    SpecHash: hash,
    Attempt: attempt,
    ...(notBefore !== undefined && notBefore > work.now ? { NotBefore: notBefore } : {}),
  };
  work.add(task);
  return task;
}

/** Whether the restart policy replaces this ended task. */
function restartAllowed(service: ServiceRecord, task: TaskRecord): boolean {
  const rp = restartPolicyOf(service.Spec);
  if (task.SpecHash !== specHash(service.Spec)) return true; // an outdated task is replaced by the updater anyway
  if (rp.condition === 'none') return false;
  if (rp.condition === 'on-failure' && task.Status.State === 'complete') return false;
  return rp.maxAttempts === 0 || task.Attempt < rp.maxAttempts;
}

function reconcileService(work: Work, service: ServiceRecord, input: PlanInput, nodes: Map<string, NodeView>, byTask: Map<string, ObservedContainer>): void {
  const { now } = work;
  const hash = specHash(service.Spec);
  const global = isGlobal(service.Spec);
  const mine = [...work.tasks.values()].filter((t) => t.ServiceID === service.ID);
  const slots = groupSlots(service, mine);

  // Which slots should exist.
  const wanted = new Map<string, { slot?: number; nodeId?: string }>();
  if (global) {
    for (const n of input.nodes) {
      if (!n.ready || n.availability === 'drain' || !input.placer.eligible(service, n.id)) continue;
      // A paused node keeps the task it has but gets no new one.
      const has = slots.get(`node:${n.id}`)?.tasks.some((t) => t.DesiredState === 'running');
      if (n.availability === 'pause' && !has) continue;
      wanted.set(`node:${n.id}`, { nodeId: n.id });
    }
  } else {
    const replicas = replicasOf(service.Spec);
    for (let i = 1; i <= replicas; i++) wanted.set(`slot:${i}`, { slot: i });
  }

  // Tasks that must go whatever the slot: unwanted slots, lost or drained nodes, broken constraints.
  for (const view of slots.values()) {
    for (const t of view.tasks) {
      if (t.DesiredState !== 'running') continue;
      const node = t.NodeID ? nodes.get(t.NodeID) : undefined;
      let reason: string | undefined;
      if (!wanted.has(view.key)) reason = global ? 'node no longer eligible' : 'service scaled down';
      else if (t.NodeID && (!node || !node.ready)) reason = 'node is down: task rescheduled';
      else if (node && node.availability === 'drain') reason = 'node is drained';
      else if (node && !global && !isEnded(t) && !input.placer.eligible(service, node.id)) reason = 'constraints no longer satisfied';
      if (!reason) continue;
      const msg = reason;
      work.touch(t, (x) => {
        x.DesiredState = 'shutdown';
        if (!isEnded(x)) x.Status = { ...x.Status, Message: msg, Timestamp: iso(now) };
      });
    }
  }

  const update = progressUpdate(work, service, slots, hash);
  const startBudget = { value: update.budget };

  for (const [key, where] of wanted) {
    const view = slots.get(key);
    const active = view?.tasks.filter((t) => t.DesiredState === 'running') ?? [];
    const current = active[0];
    if (!current) {
      // An empty slot: new, scaled up, or its task was lost with its node.
      newTask(work, input, service, hash, where, 0);
      continue;
    }
    if (isEnded(current) && current.Status.State !== 'shutdown') {
      if (!restartAllowed(service, current)) continue;
      const rp = restartPolicyOf(service.Spec);
      work.touch(current, (t) => (t.DesiredState = 'shutdown'));
      const attempt = current.SpecHash === hash ? current.Attempt + 1 : 0;
      newTask(work, input, service, hash, where, attempt, now + rp.delayMs);
      continue;
    }
    if (current.SpecHash !== hash && !update.halted) {
      // Start-first keeps the old task until its replacement is ready; stop-first frees the slot first.
      if (startBudget.value <= 0) continue;
      startBudget.value--;
      if (update.order === 'stop-first') work.touch(current, (t) => (t.DesiredState = 'shutdown'));
      newTask(work, input, service, hash, where, 0);
      continue;
    }
    if (current.SpecHash === hash && active.length > 1 && current.ReadyAt !== undefined) {
      // Start-first: the replacement runs, the old task goes.
      for (const old of active.slice(1)) work.touch(old, (t) => (t.DesiredState = 'shutdown'));
    }
  }

  // A slot runs one container at a time: a replacement (stop-first update, drain, restart)
  // waits until the container of the task it replaces has stopped. Start-first updates keep
  // the old task desired-running, so they are not held back here.
  const slotKey = (t: TaskRecord) => (global ? `node:${t.NodeID ?? ''}` : `slot:${t.Slot ?? 0}`);
  const busy = new Set<string>();
  for (const t of work.tasks.values()) {
    if (t.ServiceID !== service.ID || t.DesiredState === 'running') continue;
    const c = byTask.get(t.ID);
    if (c && LIVE_CONTAINER.has(c.state) && nodes.get(c.nodeId)?.reachable) busy.add(slotKey(t));
  }

  // Place what waits for a node; start what has one but no container yet.
  for (const t of [...work.tasks.values()]) {
    if (t.ServiceID !== service.ID || t.DesiredState !== 'running') continue;
    if (busy.has(slotKey(t)) && (t.Status.State === 'new' || t.Status.State === 'pending' || t.Status.State === 'assigned')) {
      if (t.Status.State !== 'assigned') work.setState(t, 'pending', 'waiting for the task it replaces to stop');
      continue;
    }
    if (t.NotBefore !== undefined && t.NotBefore > now) {
      work.setState(t, 'pending', 'restart delayed');
      continue;
    }
    if (t.Status.State === 'new' || t.Status.State === 'pending') {
      if (global && t.NodeID) {
        work.touch(t, (x) => delete x.NotBefore);
        work.setState(t, 'assigned', 'scheduler assigned task to node');
        work.plan.starts.push({ taskId: t.ID, nodeId: t.NodeID });
        continue;
      }
      const placed = input.placer.place(service, t);
      if ('error' in placed) {
        work.setState(t, 'pending', 'pending task scheduling', placed.error);
        continue;
      }
      work.touch(t, (x) => {
        x.NodeID = placed.nodeId;
        delete x.NotBefore;
      });
      work.setState(t, 'assigned', 'scheduler assigned task to node');
      work.plan.starts.push({ taskId: t.ID, nodeId: placed.nodeId });
    } else if (t.Status.State === 'assigned' && t.NodeID && nodes.get(t.NodeID)?.reachable) {
      // Assigned in an earlier round whose start did not complete (manager failover, network).
      work.plan.starts.push({ taskId: t.ID, nodeId: t.NodeID });
    }
  }

  pruneHistory(work, service, slots, nodes);
  if (update.status) work.plan.serviceWrites.push({ ...service, UpdateStatus: update.status, ...(update.spec ? update.spec : {}) });
}

interface UpdateProgress {
  /** How many slots may start updating now. */
  budget: number;
  order: 'stop-first' | 'start-first';
  /** Paused or rolling back to a spec we are no longer on: dirty slots are left alone. */
  halted: boolean;
  status?: UpdateStatus;
  spec?: Pick<ServiceRecord, 'Spec' | 'PreviousSpec'>;
}

/**
 * Rolling updates, decided from the records alone so a new primary resumes where the old one
 * stopped: slots in flight (replacement not yet running and healthy) use up the parallelism,
 * the delay counts from the last replacement that became ready, a replacement that fails
 * before it has been ready for the monitor period triggers the failure action, and the update
 * completes once every slot runs the new spec and the last one survived its monitor period.
 */
function progressUpdate(work: Work, service: ServiceRecord, slots: Map<string, SlotView>, hash: string): UpdateProgress {
  const status = service.UpdateStatus;
  const rollingBack = status?.State.startsWith('rollback') ?? false;
  const cfg = updateConfigOf(rollingBack ? service.Spec.RollbackConfig ?? service.Spec.UpdateConfig : service.Spec.UpdateConfig);
  const halted = status?.State === 'paused' || status?.State === 'rollback_paused';
  const startedAt = status?.StartedAt ? Date.parse(status.StartedAt) : 0;
  const inProgress = status?.State === 'updating' || status?.State === 'rollback_started';

  let inFlight = 0;
  let lastReady = 0;
  let dirty = 0;
  let failed: TaskRecord | undefined;
  let total = 0;
  let failures = 0;
  for (const view of slots.values()) {
    const active = view.tasks.filter((t) => t.DesiredState === 'running');
    const current = active[0];
    if (current) total++;
    if (current && current.SpecHash !== hash) dirty++;
    for (const t of view.tasks) {
      if (t.SpecHash !== hash || Date.parse(t.CreatedAt) < startedAt) continue;
      if (t.ReadyAt !== undefined) lastReady = Math.max(lastReady, t.ReadyAt);
      const endedAt = Date.parse(t.Status.Timestamp);
      const badEnd = t.Status.State === 'failed' || t.Status.State === 'rejected';
      if (inProgress && badEnd && (t.ReadyAt === undefined || endedAt - t.ReadyAt < cfg.monitorMs)) {
        failures++;
        failed ??= t;
      }
    }
    if (current && current.SpecHash === hash && current.ReadyAt === undefined && !isEnded(current) && inProgress) inFlight++;
    else if (active.length > 1 && inProgress) inFlight++;
  }

  const out: UpdateProgress = { budget: 0, order: cfg.order, halted };
  if (!inProgress) {
    // No update under way (created, scaled, completed): replace outdated tasks all the same,
    // but one parallelism batch at a time.
    out.budget = cfg.parallelism === 0 ? Infinity : Math.max(0, cfg.parallelism - inFlight);
    return out;
  }
  if (failures > 0 && cfg.failureAction !== 'continue' && failures > cfg.maxFailureRatio * Math.max(total, 1)) {
    const id = failed?.ID ?? '';
    if (!rollingBack && cfg.failureAction === 'rollback' && service.PreviousSpec) {
      out.status = { State: 'rollback_started', StartedAt: iso(work.now), Message: `update rolled back due to failure or early termination of task ${id}` };
      out.spec = { Spec: service.PreviousSpec, PreviousSpec: service.Spec };
    } else {
      out.status = {
        State: rollingBack ? 'rollback_paused' : 'paused',
        ...(status?.StartedAt ? { StartedAt: status.StartedAt } : {}),
        Message: `${rollingBack ? 'rollback' : 'update'} paused due to failure or early termination of task ${id}`,
      };
    }
    out.halted = true;
    return out;
  }
  if (dirty === 0 && inFlight === 0 && (lastReady === 0 || work.now >= lastReady + cfg.monitorMs)) {
    out.status = {
      State: rollingBack ? 'rollback_completed' : 'completed',
      ...(status?.StartedAt ? { StartedAt: status.StartedAt } : {}),
      CompletedAt: iso(work.now),
      Message: rollingBack ? 'rollback completed' : 'update completed',
    };
    return out;
  }
  if (lastReady && work.now < lastReady + cfg.delayMs) return out;
  out.budget = cfg.parallelism === 0 ? Infinity : Math.max(0, cfg.parallelism - inFlight);
  return out;
}

/** Keeps the last few ended tasks per slot for `service ps`; drops older ones whose containers are gone. */
function pruneHistory(work: Work, service: ServiceRecord, slots: Map<string, SlotView>, nodes: Map<string, NodeView>): void {
  for (const view of slots.values()) {
    const history = view.tasks.filter((t) => t.DesiredState !== 'running' && work.tasks.has(t.ID));
    for (const t of history.slice(HISTORY_PER_SLOT)) {
      const node = t.NodeID ? nodes.get(t.NodeID) : undefined;
      // A task on a node that is away keeps its record so its container is stopped on return.
      if (t.NodeID && node?.ready && !node.reachable) continue;
      if (!isEnded(t) && node?.reachable) continue;
      work.remove(t.ID);
    }
  }
  void service;
}
