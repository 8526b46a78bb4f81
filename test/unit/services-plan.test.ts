import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNode } from '../../src/cluster/types.js';
import { schedule } from '../../src/cluster/scheduler/index.js';
import { plan, type NodeView, type ObservedContainer, type Plan } from '../../src/cluster/services/plan.js';
import { makePlacer } from '../../src/cluster/services/placer.js';
import { specHash, validateSpec, checkPortConflicts } from '../../src/cluster/services/spec.js';
import type { NodeAvailability, NodeRecord, ServiceRecord, ServiceSpec, TaskRecord } from '../../src/cluster/services/types.js';
import { isBerthError } from '../../src/util/errors.js';

const GiB = 1024 ** 3;

/** A small world the decision function runs against: nodes, services, task records, containers. */
class World {
  now = Date.parse('2026-01-01T00:00:00Z');
  nodes: ClusterNode[];
  views = new Map<string, NodeView>();
  records = new Map<string, NodeRecord>();
  services: ServiceRecord[] = [];
  tasks = new Map<string, TaskRecord>();
  containers = new Map<string, ObservedContainer>();
  seq = 0;

  constructor(names: string[], labels: Record<string, Record<string, string>> = {}) {
    this.nodes = names.map((name) => ({ id: `id-${name}`, name, addr: `${name}:2376`, labels: labels[name] ?? {}, totalCpus: 2, totalMemory: 2 * GiB, healthy: true, containers: [], images: [] }));
    for (const n of this.nodes) {
      this.views.set(n.id, { id: n.id, name: n.name, ready: true, reachable: true, availability: 'active' });
      this.records.set(n.id, { ID: n.id, CreatedAt: '', UpdatedAt: '', Spec: { Role: 'worker', Availability: 'active', Labels: {} }, Hostname: n.name, Addr: n.addr, NanoCPUs: 2e9, MemoryBytes: 2 * GiB, EngineLabels: {} });
    }
  }

  service(spec: Partial<ServiceSpec> & { replicas?: number }, id = `svc${this.services.length + 1}`): ServiceRecord {
    const { replicas, ...rest } = spec;
    const full = validateSpec({ Name: id, TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, Mode: { Replicated: { Replicas: replicas ?? 1 } }, ...rest });
    const rec: ServiceRecord = { ID: id, CreatedAt: new Date(this.now).toISOString(), UpdatedAt: new Date(this.now).toISOString(), Spec: full };
    this.services.push(rec);
    return rec;
  }

  setAvailability(name: string, availability: NodeAvailability): void {
    const v = [...this.views.values()].find((x) => x.name === name)!;
    v.availability = availability;
    this.records.get(v.id)!.Spec.Availability = availability;
  }

  down(name: string): void {
    const v = [...this.views.values()].find((x) => x.name === name)!;
    v.ready = false;
    v.reachable = false;
    this.nodes.find((n) => n.name === name)!.healthy = false;
    for (const [id, c] of this.containers) if (c.nodeId === v.id) this.containers.delete(id);
  }

  round(): Plan {
    const tasks = [...this.tasks.values()];
    const views = [...this.views.values()];
    const placer = makePlacer({ schedule: (n, r) => schedule(n, r, 'spread'), clusterNodes: this.nodes, views, records: this.records, services: this.services, tasks });
    const p = plan({ now: this.now, observedAt: this.now - 1, services: this.services, tasks, containers: [...this.containers.values()], nodes: views, placer, newId: () => `t${++this.seq}` });
    for (const t of p.taskWrites.values()) this.tasks.set(t.ID, structuredClone(t));
    for (const id of p.taskDeletes) this.tasks.delete(id);
    for (const s of p.serviceWrites) this.services = this.services.map((x) => (x.ID === s.ID ? s : x));
    return p;
  }

  /** What the executor and the engines would do: starts run containers (healthy), stops remove them. */
  act(p: Plan, options: { startFails?: (t: TaskRecord) => boolean } = {}): void {
    for (const s of p.stops) this.containers.delete(s.containerId);
    for (const st of p.starts) {
      const t = this.tasks.get(st.taskId)!;
      if (options.startFails?.(t)) {
        t.Status = { Timestamp: new Date(this.now).toISOString(), State: 'rejected', Message: 'preparing', Err: 'No such image: nope' };
        continue;
      }
      const cid = `c-${st.taskId}`;
      this.containers.set(cid, { nodeId: st.nodeId, containerId: cid, taskId: st.taskId, serviceId: t.ServiceID, state: 'running' });
      t.Status = { Timestamp: new Date(this.now).toISOString(), State: 'starting', Message: 'starting', ContainerStatus: { ContainerID: cid } };
    }
  }

  tick(ms = 1000, options?: { startFails?: (t: TaskRecord) => boolean }): Plan {
    this.now += ms;
    const p = this.round();
    this.act(p, options);
    return p;
  }

  running(serviceId: string): TaskRecord[] {
    return [...this.tasks.values()].filter((t) => t.ServiceID === serviceId && t.DesiredState === 'running' && t.Status.State === 'running' && this.containers.has(`c-${t.ID}`));
  }

  perNode(serviceId: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of this.running(serviceId)) {
      const name = this.nodes.find((n) => n.id === t.NodeID)!.name;
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }

  converge(rounds = 5, options?: { startFails?: (t: TaskRecord) => boolean }): void {
    for (let i = 0; i < rounds; i++) this.tick(1000, options);
  }
}

test('a 6-replica service on 3 empty nodes is placed 2/2/2 in one round and runs', () => {
  const w = new World(['a', 'b', 'c']);
  const svc = w.service({ replicas: 6 });
  const p = w.tick();
  assert.equal(p.starts.length, 6);
  w.converge(2);
  assert.deepEqual(w.perNode(svc.ID), { a: 2, b: 2, c: 2 });
  // Converged: nothing more to do.
  const idle = w.tick();
  assert.equal(idle.starts.length + idle.stops.length + idle.taskWrites.size, 0);
});

test('tasks of a node that went down are replaced on the others; a node that is only unreachable is left alone', () => {
  const w = new World(['a', 'b', 'c']);
  const svc = w.service({ replicas: 6 });
  w.converge(3);
  const viewB = [...w.views.values()].find((v) => v.name === 'b')!;
  viewB.reachable = false; // listing failed once: no decision about b's tasks
  const p0 = w.tick();
  assert.equal(p0.starts.length, 0, JSON.stringify([...p0.taskWrites.values()].map((t) => [t.ID, t.NodeID, t.Slot, t.DesiredState, t.Status])));
  viewB.reachable = true;
  w.down('c');
  w.converge(3);
  assert.deepEqual(w.perNode(svc.ID), { a: 3, b: 3 });
  const onC = [...w.tasks.values()].filter((t) => t.NodeID === 'id-c');
  assert.ok(onC.every((t) => t.DesiredState === 'shutdown'));
});

test('restart policy: a failed task is replaced after the delay, up to MaxAttempts', () => {
  const w = new World(['a']);
  const svc = w.service({ replicas: 1, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, RestartPolicy: { Condition: 'on-failure', Delay: 3e9, MaxAttempts: 2 } } });
  w.converge(2);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [t] = w.running(svc.ID);
    assert.ok(t, `a running task before failure ${attempt}`);
    w.containers.get(`c-${t.ID}`)!.state = 'exited';
    w.containers.get(`c-${t.ID}`)!.exitCode = 3;
    w.tick(100);
    const failed = w.tasks.get(t.ID)!;
    assert.equal(failed.Status.State, 'failed');
    assert.equal(failed.Status.Err, 'task: non-zero exit (3)');
    const pending = [...w.tasks.values()].filter((x) => x.DesiredState === 'running' && x.ID !== t.ID);
    if (attempt === 3) {
      assert.equal(pending.length, 0, 'MaxAttempts 2: no third restart');
      break;
    }
    assert.equal(pending.length, 1);
    assert.equal(pending[0]!.Status.State, 'pending');
    w.tick(1000);
    assert.equal(w.running(svc.ID).length, 0, 'still inside the 3 s delay');
    w.converge(3);
  }
});

test('an impossible constraint leaves the task pending with "no suitable node"', () => {
  const w = new World(['a', 'b']);
  const svc = w.service({ replicas: 1, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Placement: { Constraints: ['node.labels.zone==mars'] } } });
  w.converge(2);
  const [t] = [...w.tasks.values()].filter((x) => x.ServiceID === svc.ID);
  assert.equal(t!.Status.State, 'pending');
  assert.match(t!.Status.Err ?? '', /no suitable node/);
});

test('constraints on node labels and spread preferences', () => {
  const w = new World(['a', 'b', 'c', 'd'], { a: { zone: 'x' }, b: { zone: 'x' }, c: { zone: 'y' }, d: {} });
  const pinned = w.service({ replicas: 4, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Placement: { Constraints: ['node.labels.zone==x'] } } });
  w.converge(2);
  assert.deepEqual(w.perNode(pinned.ID), { a: 2, b: 2 });
  const spread = w.service({ replicas: 4, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Placement: { Constraints: ['node.labels.zone!=q'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }] } } });
  w.converge(2);
  const by = w.perNode(spread.ID);
  // Three zone values (x, y, none): 4 tasks split 2/1/1 or so, never all in zone x.
  assert.ok((by.a ?? 0) + (by.b ?? 0) <= 2, JSON.stringify(by));
  assert.ok((by.c ?? 0) >= 1 && (by.d ?? 0) >= 1, JSON.stringify(by));
});

test('scaling down shuts down the highest slots; scaling does not replace tasks', () => {
  const w = new World(['a', 'b']);
  const svc = w.service({ replicas: 4 });
  w.converge(2);
  const before = new Set(w.running(svc.ID).map((t) => t.ID));
  svc.Spec.Mode = { Replicated: { Replicas: 2 } };
  const p = w.tick();
  assert.equal(p.stops.length, 2);
  w.converge(2);
  const after = w.running(svc.ID);
  assert.deepEqual(after.map((t) => t.Slot).sort(), [1, 2]);
  assert.ok(after.every((t) => before.has(t.ID)));
});

test('rolling update, stop-first, parallelism 2: never fewer than 4 of 6 running, completes', () => {
  const w = new World(['a', 'b', 'c']);
  const svc = w.service({ replicas: 6, UpdateConfig: { Parallelism: 2, Delay: 0, Monitor: 2e9, Order: 'stop-first', FailureAction: 'pause' } });
  w.converge(3);
  const old = specHash(svc.Spec);
  svc.PreviousSpec = structuredClone(svc.Spec);
  svc.Spec.TaskTemplate.ContainerSpec.Env = ['V=2'];
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(w.now).toISOString() };
  let min = 6;
  for (let i = 0; i < 30; i++) {
    const live = new Set([...w.containers.values()].map((c) => c.taskId));
    const p = w.tick(1000);
    assert.ok(p.stops.length <= 2, `at most 2 stopped per round, got ${p.stops.length}`);
    for (const st of p.starts) {
      const slot = w.tasks.get(st.taskId)!.Slot;
      const other = [...w.tasks.values()].find((t) => t.Slot === slot && t.ID !== st.taskId && live.has(t.ID));
      assert.equal(other, undefined, `slot ${slot} started a replacement while its old container still ran`);
    }
    min = Math.min(min, w.running(svc.ID).length);
    if (w.services[0]!.UpdateStatus?.State === 'completed') break;
  }
  assert.ok(min >= 4, `min running during the update: ${min}`);
  assert.equal(w.services[0]!.UpdateStatus?.State, 'completed');
  assert.equal(w.running(svc.ID).length, 6);
  assert.ok(w.running(svc.ID).every((t) => t.SpecHash !== old));
});

test('update delay: the next task is replaced only Delay after the previous one became ready', () => {
  const w = new World(['a']);
  const svc = w.service({ replicas: 3, UpdateConfig: { Parallelism: 1, Delay: 5e9, Monitor: 1e9 } });
  w.converge(2);
  svc.PreviousSpec = structuredClone(svc.Spec);
  svc.Spec.TaskTemplate.ContainerSpec.Env = ['V=2'];
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(w.now).toISOString() };
  const startedAt: number[] = [];
  for (let i = 0; i < 40 && w.services[0]!.UpdateStatus?.State !== 'completed'; i++) {
    const p = w.tick(500);
    if (p.starts.length) startedAt.push(w.now);
  }
  assert.equal(w.services[0]!.UpdateStatus?.State, 'completed');
  assert.equal(startedAt.length, 3);
  for (let i = 1; i < startedAt.length; i++) assert.ok(startedAt[i]! - startedAt[i - 1]! >= 5000, `replacements ${startedAt[i]! - startedAt[i - 1]!} ms apart`);
});

test('max failure ratio: failures up to the ratio are tolerated, more trigger the failure action', () => {
  const w = new World(['a', 'b']);
  const svc = w.service({ replicas: 4, UpdateConfig: { Parallelism: 4, FailureAction: 'pause', Monitor: 1e9, MaxFailureRatio: 0.5 } });
  w.converge(2);
  svc.PreviousSpec = structuredClone(svc.Spec);
  svc.Spec.TaskTemplate.ContainerSpec.Env = ['V=2'];
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(w.now).toISOString() };
  let failed = 0;
  // One replacement fails to start: 1 of 4 is within the 0.5 ratio, the update goes on.
  for (let i = 0; i < 10 && w.services[0]!.UpdateStatus?.State === 'updating'; i++) w.tick(1000, { startFails: () => failed++ === 0 });
  assert.equal(w.services[0]!.UpdateStatus?.State, 'completed');
  // Three of four failing is over the ratio: paused.
  const w2 = new World(['a', 'b']);
  const svc2 = w2.service({ replicas: 4, UpdateConfig: { Parallelism: 4, FailureAction: 'pause', Monitor: 1e9, MaxFailureRatio: 0.5 } });
  w2.converge(2);
  svc2.PreviousSpec = structuredClone(svc2.Spec);
  svc2.Spec.TaskTemplate.ContainerSpec.Env = ['V=2'];
  svc2.UpdateStatus = { State: 'updating', StartedAt: new Date(w2.now).toISOString() };
  let failed2 = 0;
  for (let i = 0; i < 10 && w2.services[0]!.UpdateStatus?.State === 'updating'; i++) w2.tick(1000, { startFails: () => failed2++ < 3 });
  assert.equal(w2.services[0]!.UpdateStatus?.State, 'paused');
});

test('start-first keeps the old task until its replacement runs', () => {
  const w = new World(['a']);
  const svc = w.service({ replicas: 1, UpdateConfig: { Parallelism: 1, Order: 'start-first', Monitor: 1e9 } });
  w.converge(2);
  const [old] = w.running(svc.ID);
  svc.PreviousSpec = structuredClone(svc.Spec);
  svc.Spec.TaskTemplate.ContainerSpec.Env = ['V=2'];
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(w.now).toISOString() };
  const p = w.tick();
  assert.equal(p.stops.length, 0, 'old task not stopped before the new one runs');
  assert.equal(p.starts.length, 1);
  w.converge(3);
  assert.equal(w.tasks.get(old!.ID)!.DesiredState, 'shutdown');
  assert.equal(w.running(svc.ID).length, 1);
});

test('an update whose tasks cannot start rolls back with failure action rollback', () => {
  const w = new World(['a', 'b']);
  const svc = w.service({ replicas: 2, UpdateConfig: { Parallelism: 1, FailureAction: 'rollback', Monitor: 1e9 } });
  w.converge(2);
  const good = structuredClone(svc.Spec);
  svc.PreviousSpec = good;
  svc.Spec = { ...structuredClone(good), TaskTemplate: { ...good.TaskTemplate, ContainerSpec: { Image: 'nope:missing' } } };
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(w.now).toISOString() };
  const fails = (t: TaskRecord) => t.Spec.ContainerSpec.Image === 'nope:missing';
  for (let i = 0; i < 20 && w.services[0]!.UpdateStatus?.State !== 'rollback_completed'; i++) w.tick(1000, { startFails: fails });
  const s = w.services[0]!;
  assert.equal(s.UpdateStatus?.State, 'rollback_completed');
  assert.equal(s.Spec.TaskTemplate.ContainerSpec.Image, 'busybox');
  assert.equal(w.running(svc.ID).length, 2);
});

test('failure action pause stops the update at the failed task', () => {
  const w = new World(['a']);
  const svc = w.service({ replicas: 3, UpdateConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 1e9 } });
  w.converge(2);
  svc.PreviousSpec = structuredClone(svc.Spec);
  svc.Spec.TaskTemplate.ContainerSpec.Image = 'nope:missing';
  svc.UpdateStatus = { State: 'updating', StartedAt: new Date(w.now).toISOString() };
  for (let i = 0; i < 10; i++) w.tick(1000, { startFails: (t) => t.Spec.ContainerSpec.Image === 'nope:missing' });
  assert.equal(w.services[0]!.UpdateStatus?.State, 'paused');
  assert.match(w.services[0]!.UpdateStatus?.Message ?? '', /update paused due to failure or early termination of task/);
  assert.equal(w.running(svc.ID).length, 2, 'one slot tried the new image, the other two untouched');
});

test('drain moves tasks off a node; pause keeps them but takes no new ones', () => {
  const w = new World(['a', 'b', 'c']);
  const svc = w.service({ replicas: 6 });
  w.converge(2);
  w.setAvailability('c', 'pause');
  svc.Spec.Mode = { Replicated: { Replicas: 9 } };
  w.converge(3);
  assert.equal(w.running(svc.ID).length, 9);
  assert.equal(w.perNode(svc.ID).c, 2, 'paused node keeps its two');
  w.setAvailability('a', 'drain');
  w.converge(3);
  const by = w.perNode(svc.ID);
  assert.equal(by.a, undefined, `drained: ${JSON.stringify(by)}`);
  assert.equal((by.b ?? 0) + (by.c ?? 0), 9);
  assert.equal(by.c, 2, 'still no new task on the paused node');
});

test('global mode: one task per eligible node, following nodes and constraints', () => {
  const w = new World(['a', 'b', 'c'], { a: { role: 'edge' }, b: { role: 'edge' }, c: {} });
  const svc = w.service({ Mode: { Global: {} }, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, Placement: { Constraints: ['node.labels.role==edge'] } } });
  w.converge(2);
  assert.deepEqual(w.perNode(svc.ID), { a: 1, b: 1 });
  w.setAvailability('b', 'drain');
  w.converge(2);
  assert.deepEqual(w.perNode(svc.ID), { a: 1 });
});

test('containers no task claims are removed; removed services take their tasks with them', () => {
  const w = new World(['a']);
  const svc = w.service({ replicas: 2 });
  w.converge(2);
  w.containers.set('stray', { nodeId: 'id-a', containerId: 'stray', taskId: 'gone', serviceId: svc.ID, state: 'running' });
  const p = w.tick();
  assert.deepEqual(p.stops.map((s) => s.containerId), ['stray']);
  w.services = [];
  w.converge(3);
  assert.equal(w.tasks.size, 0);
  assert.equal(w.containers.size, 0);
});

test('an unhealthy container fails its task and is replaced', () => {
  const w = new World(['a']);
  const svc = w.service({ replicas: 1, TaskTemplate: { ContainerSpec: { Image: 'busybox' }, RestartPolicy: { Delay: 0 } } });
  w.converge(2);
  const [t] = w.running(svc.ID);
  w.containers.get(`c-${t!.ID}`)!.health = 'unhealthy';
  w.converge(3);
  assert.equal(w.tasks.get(t!.ID)!.Status.State, 'failed');
  assert.equal(w.running(svc.ID).length, 1);
  assert.notEqual(w.running(svc.ID)[0]!.ID, t!.ID);
});

test('published ports: the second service asking for a port gets docker\'s conflict', () => {
  const w = new World(['a']);
  const first = w.service({ EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, Protocol: 'tcp' }] } });
  const spec = validateSpec({ Name: 'other', TaskTemplate: { ContainerSpec: { Image: 'busybox' } }, EndpointSpec: { Ports: [{ TargetPort: 81, PublishedPort: 8080 }] } });
  assert.throws(() => checkPortConflicts(spec, undefined, [first]), (err) => isBerthError(err, 'conflict') && /port '8080' is already in use by service/.test(err.message));
  // Host-mode publishing: two replicas cannot share one node's port, the second stays pending.
  w.services = [];
  const svc = w.service({ replicas: 2, EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] } });
  w.converge(2);
  assert.equal(w.running(svc.ID).length, 1);
  const pending = [...w.tasks.values()].find((t) => t.Status.State === 'pending');
  assert.match(pending?.Status.Err ?? '', /no suitable node/);
});

test('spec validation names the problem', () => {
  assert.throws(() => validateSpec({ Name: 'bad name', TaskTemplate: { ContainerSpec: { Image: 'x' } } }), /DNS name component/);
  assert.throws(() => validateSpec({ Name: 'ok', TaskTemplate: { ContainerSpec: {} } }), /image reference must be provided/);
  assert.throws(() => validateSpec({ Name: 'ok', TaskTemplate: { ContainerSpec: { Image: 'x' } }, Mode: { Replicated: { Replicas: -1 } } }), /invalid replicas/);
  assert.throws(() => validateSpec({ Name: 'ok', TaskTemplate: { ContainerSpec: { Image: 'x' }, Placement: { Constraints: ['node.labels.zone'] } } }), /invalid constraint/);
});
