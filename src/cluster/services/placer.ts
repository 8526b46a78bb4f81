/**
 * Task placement through the cluster's scheduler. The scheduler sees each node's containers;
 * tasks placed earlier in the same round (or assigned but not yet created) are added as
 * stand-ins carrying the task's reservations and published ports, so a 6-replica service placed
 * in one round spreads instead of landing six times on the node that was emptiest at first.
 *
 * On top of the scheduler's filters and strategy, swarm mode's own preferences: spread over the
 * values of the first placement preference (e.g. node.labels.zone), then nodes with the fewest
 * tasks of this service first.
 */
import { errorMessage } from '../../util/errors.js';
import type { ClusterNode, NodeContainer, PlacementRequest } from '../types.js';
import type { NodeView, Placer } from './plan.js';
import { containerName, placementBody, publishedPorts } from './spec.js';
import { LABEL, type NodeRecord, type ServiceRecord, type TaskRecord } from './types.js';

export type ScheduleFn = (nodes: ClusterNode[], request: PlacementRequest) => ClusterNode;

function standIn(service: ServiceRecord, task: TaskRecord): NodeContainer {
  const res = service.Spec.TaskTemplate.Resources?.Reservations;
  return {
    id: `task:${task.ID}`,
    names: [containerName(service.Spec.Name, task)],
    image: service.Spec.TaskTemplate.ContainerSpec.Image,
    imageId: '',
    labels: { [LABEL.serviceId]: service.ID, [LABEL.taskId]: task.ID },
    running: true,
    publishedPorts: publishedPorts(service.Spec).map((p) => ({ hostIp: '0.0.0.0', hostPort: p.PublishedPort!, protocol: p.Protocol ?? 'tcp' })),
    memory: res?.MemoryBytes ?? 0,
    cpus: (res?.NanoCPUs ?? 0) / 1e9,
  };
}

/** The value a spread descriptor names on a node: node.labels.X, engine.labels.X, node.hostname. */
function descriptorValue(descriptor: string, node: ClusterNode): string | undefined {
  if (descriptor === 'node.hostname') return node.name;
  if (descriptor === 'node.id') return node.id;
  const m = /^(?:node|engine)\.labels\.(.+)$/.exec(descriptor);
  return m ? node.labels[m[1]!] : undefined;
}

export interface PlacerInput {
  schedule: ScheduleFn;
  clusterNodes: ClusterNode[];
  views: NodeView[];
  records: Map<string, NodeRecord>;
  services: ServiceRecord[];
  tasks: TaskRecord[];
}

export function makePlacer(input: PlacerInput): Placer {
  const views = new Map(input.views.map((v) => [v.id, v]));
  const services = new Map(input.services.map((s) => [s.ID, s]));
  // Working copies: the node's labels are its engine labels plus the labels set with `node update`.
  const nodes = input.clusterNodes.map((n): ClusterNode => {
    const taskContainers = new Set(input.tasks.filter((t) => t.NodeID === n.id).map((t) => t.ID));
    return {
      ...n,
      labels: { ...n.labels, ...(input.records.get(n.id)?.Spec.Labels ?? {}) },
      // Real task containers are replaced by stand-ins below, which carry reservations, not limits.
      containers: n.containers.filter((c) => !c.labels[LABEL.taskId] || !taskContainers.has(c.labels[LABEL.taskId]!)),
    };
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const serviceTasks = new Map<string, number>(); // `${serviceId}/${nodeId}` -> count
  const count = (serviceId: string, nodeId: string) => serviceTasks.get(`${serviceId}/${nodeId}`) ?? 0;
  const assign = (service: ServiceRecord, task: TaskRecord, node: ClusterNode) => {
    node.containers.push(standIn(service, task));
    serviceTasks.set(`${service.ID}/${node.id}`, count(service.ID, node.id) + 1);
  };
  for (const t of input.tasks) {
    const service = services.get(t.ServiceID);
    const node = t.NodeID ? byId.get(t.NodeID) : undefined;
    if (!service || !node || t.DesiredState !== 'running' || ['complete', 'failed', 'rejected', 'shutdown'].includes(t.Status.State)) continue;
    assign(service, t, node);
  }

  const eligibleCache = new Map<string, boolean>();

  const tryPlace = (sets: ClusterNode[][], request: PlacementRequest): ClusterNode | Error => {
    let last: Error = new Error('no nodes');
    for (const set of sets) {
      if (!set.length) continue;
      try {
        return input.schedule(set, request);
      } catch (err) {
        last = err instanceof Error ? err : new Error(errorMessage(err));
      }
    }
    return last;
  };

  return {
    place(service, task) {
      const candidates = nodes.filter((n) => {
        const v = views.get(n.id);
        return n.healthy && v?.ready && v.reachable && v.availability === 'active';
      });
      if (!candidates.length) {
        const unavailable = nodes.length - candidates.length;
        return { error: `no suitable node (${unavailable} node${unavailable === 1 ? '' : 's'} not available for new tasks)` };
      }
      const request: PlacementRequest = { name: containerName(service.Spec.Name, task), body: placementBody(service.Spec) };
      const descriptor = service.Spec.TaskTemplate.Placement?.Preferences?.[0]?.Spread.SpreadDescriptor;
      let groups: ClusterNode[][] = [candidates];
      if (descriptor) {
        const byValue = new Map<string, ClusterNode[]>();
        for (const n of candidates) {
          const v = descriptorValue(descriptor, n) ?? '';
          byValue.set(v, [...(byValue.get(v) ?? []), n]);
        }
        const total = (set: ClusterNode[]) => set.reduce((sum, n) => sum + count(service.ID, n.id), 0);
        groups = [...byValue.entries()].sort(([va, a], [vb, b]) => total(a) - total(b) || (va < vb ? -1 : 1)).map(([, set]) => set);
      }
      // Within a group: nodes with the fewest tasks of this service first, then the whole group.
      const sets: ClusterNode[][] = [];
      for (const g of groups) {
        const least = Math.min(...g.map((n) => count(service.ID, n.id)));
        sets.push(g.filter((n) => count(service.ID, n.id) === least), g);
      }
      const chosen = tryPlace(sets, request);
      if (chosen instanceof Error) {
        // The scheduler's message already ends in docker's "no suitable node (...)"; keep that part.
        const at = chosen.message.indexOf('no suitable node');
        return { error: at >= 0 ? chosen.message.slice(at) : `no suitable node (${chosen.message})` };
      }
      const node = byId.get(chosen.id)!;
      assign(service, task, node);
      return { nodeId: node.id };
    },
    eligible(service, nodeId) {
      const key = `${service.ID}/${nodeId}`;
      const cached = eligibleCache.get(key);
      if (cached !== undefined) return cached;
      const node = byId.get(nodeId);
      // A node we know nothing about now is not judged: its tasks stay until it is seen again.
      let ok = node === undefined;
      if (node) {
        const constraints = service.Spec.TaskTemplate.Placement?.Constraints ?? [];
        if (!constraints.length) ok = true;
        else {
          // Only the constraints: the node's current load must not evict tasks already there.
          const bare: ClusterNode = { ...node, containers: [], healthy: true };
          try {
            input.schedule([bare], { body: { Image: service.Spec.TaskTemplate.ContainerSpec.Image, Labels: { [LABEL.constraints]: JSON.stringify(constraints) } } });
            ok = true;
          } catch {
            ok = false;
          }
        }
      }
      eligibleCache.set(key, ok);
      return ok;
    },
  };
}
