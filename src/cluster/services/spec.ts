/**
 * Service specs: validation of what a client sends, swarm mode's defaults, the hash that tells
 * whether a task still matches its service, and the container a task becomes on its node.
 */
import { createHash } from 'node:crypto';
import type { ContainerCreateBody, HostConfig } from '../../client/types.js';
import { conflict, invalidParameter } from '../../util/errors.js';
import {
  LABEL,
  type FailureAction,
  type PortConfig,
  type RestartCondition,
  type ServiceRecord,
  type ServiceSpec,
  type TaskRecord,
  type UpdateConfig,
} from './types.js';

const SECOND = 1e9;

/** Swarm mode's defaults (swarmkit api/defaults): what an unset field means. */
export const DEFAULTS = {
  restartCondition: 'any' as RestartCondition,
  restartDelayNs: 5 * SECOND,
  update: { Parallelism: 1, Delay: 0, FailureAction: 'pause' as FailureAction, Monitor: 5 * SECOND, MaxFailureRatio: 0, Order: 'stop-first' as const },
};

export interface EffectiveUpdateConfig {
  parallelism: number;
  delayMs: number;
  failureAction: FailureAction;
  monitorMs: number;
  maxFailureRatio: number;
  order: 'stop-first' | 'start-first';
}

export function updateConfigOf(cfg: UpdateConfig | undefined): EffectiveUpdateConfig {
  const d = DEFAULTS.update;
  return {
    parallelism: cfg?.Parallelism ?? d.Parallelism,
    delayMs: (cfg?.Delay ?? d.Delay) / 1e6,
    failureAction: cfg?.FailureAction || d.FailureAction,
    monitorMs: (cfg?.Monitor || d.Monitor) / 1e6,
    maxFailureRatio: cfg?.MaxFailureRatio ?? d.MaxFailureRatio,
    order: cfg?.Order || d.Order,
  };
}

export function restartPolicyOf(spec: ServiceSpec): { condition: RestartCondition; delayMs: number; maxAttempts: number } {
  const rp = spec.TaskTemplate.RestartPolicy;
  return {
    condition: rp?.Condition || DEFAULTS.restartCondition,
    delayMs: (rp?.Delay ?? DEFAULTS.restartDelayNs) / 1e6,
    maxAttempts: rp?.MaxAttempts ?? 0,
  };
}

export function isGlobal(spec: ServiceSpec): boolean {
  return spec.Mode?.Global !== undefined;
}

export function replicasOf(spec: ServiceSpec): number {
  return spec.Mode?.Replicated?.Replicas ?? 1;
}

/** The networks a task joins: TaskTemplate.Networks, or the deprecated top-level field. */
export function networksOf(spec: ServiceSpec): string[] {
  return (spec.TaskTemplate.Networks?.length ? spec.TaskTemplate.Networks : spec.Networks ?? []).map((n) => n.Target);
}

export function publishedPorts(spec: ServiceSpec): PortConfig[] {
  return (spec.EndpointSpec?.Ports ?? []).filter((p) => p.PublishedPort);
}

const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;

/** Checks a spec as swarmkit's controlapi does; throws invalid-parameter naming the field. */
export function validateSpec(spec: unknown): ServiceSpec {
  if (!spec || typeof spec !== 'object') throw invalidParameter('service spec must be a JSON object');
  const s = spec as ServiceSpec;
  if (typeof s.Name !== 'string' || !s.Name) throw invalidParameter('name must be valid as a DNS name component');
  if (!NAME.test(s.Name)) throw invalidParameter(`invalid name "${s.Name}": name must be valid as a DNS name component`);
  const tt = s.TaskTemplate;
  if (!tt || typeof tt !== 'object' || !tt.ContainerSpec) throw invalidParameter('TaskTemplate: missing ContainerSpec');
  if (typeof tt.ContainerSpec.Image !== 'string' || !tt.ContainerSpec.Image) throw invalidParameter('ContainerSpec: image reference must be provided');
  if (s.Mode?.Global !== undefined && s.Mode?.Replicated !== undefined) throw invalidParameter('a service is either replicated or global, not both');
  const replicas = s.Mode?.Replicated?.Replicas;
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 0)) throw invalidParameter(`invalid replicas value: ${String(replicas)}`);
  const rc = tt.RestartPolicy?.Condition;
  if (rc && !['none', 'on-failure', 'any'].includes(rc)) throw invalidParameter(`invalid RestartCondition: ${rc}`);
  if ((tt.RestartPolicy?.MaxAttempts ?? 0) < 0) throw invalidParameter('TaskTemplate.RestartPolicy.MaxAttempts must not be negative');
  for (const [key, cfg] of [['UpdateConfig', s.UpdateConfig], ['RollbackConfig', s.RollbackConfig]] as const) {
    if (!cfg) continue;
    if ((cfg.Parallelism ?? 0) < 0) throw invalidParameter(`${key}.Parallelism must not be negative`);
    if ((cfg.Delay ?? 0) < 0) throw invalidParameter(`${key}.Delay must not be negative`);
    if (cfg.FailureAction && !['pause', 'continue', 'rollback'].includes(cfg.FailureAction)) throw invalidParameter(`${key}.FailureAction: invalid value ${cfg.FailureAction}`);
    if (cfg.Order && !['stop-first', 'start-first'].includes(cfg.Order)) throw invalidParameter(`${key}.Order: invalid value ${cfg.Order}`);
  }
  const mode = s.EndpointSpec?.Mode;
  if (mode && mode !== 'vip' && mode !== 'dnsrr') throw invalidParameter(`EndpointSpec.Mode: invalid value ${mode}`);
  const seen = new Set<string>();
  for (const p of s.EndpointSpec?.Ports ?? []) {
    if (!Number.isInteger(p.TargetPort) || p.TargetPort < 1 || p.TargetPort > 65535) throw invalidParameter(`invalid target port ${String(p.TargetPort)}`);
    if (p.PublishedPort !== undefined && (!Number.isInteger(p.PublishedPort) || p.PublishedPort < 0 || p.PublishedPort > 65535)) {
      throw invalidParameter(`invalid published port ${String(p.PublishedPort)}`);
    }
    if (mode === 'dnsrr' && (p.PublishMode ?? 'ingress') === 'ingress' && p.PublishedPort) {
      throw invalidParameter('port published with ingress mode can\'t be used with dnsrr mode');
    }
    if (!p.PublishedPort) continue;
    const key = `${p.PublishedPort}/${p.Protocol ?? 'tcp'}`;
    if (seen.has(key)) throw invalidParameter(`duplicate published ports provided: ${key}`);
    seen.add(key);
  }
  for (const c of tt.Placement?.Constraints ?? []) {
    if (!/^\s*[\w.\-/]+\s*(==|!=)\s*\S.*$/.test(c)) throw invalidParameter(`invalid constraint: ${c}: constraint expected one operator from ==, !=`);
  }
  for (const p of tt.Placement?.Preferences ?? []) {
    const d = p?.Spread?.SpreadDescriptor;
    if (typeof d !== 'string' || !d) throw invalidParameter('placement preference: only spread=<descriptor> is supported');
  }
  return s;
}

/**
 * Published ports belong to one service cluster-wide (docker refuses the second service with
 * "port already in use"), since either a routing mesh or host-mode tasks would bind them.
 */
export function checkPortConflicts(spec: ServiceSpec, selfId: string | undefined, others: ServiceRecord[]): void {
  for (const mine of publishedPorts(spec)) {
    for (const other of others) {
      if (other.ID === selfId) continue;
      for (const theirs of publishedPorts(other.Spec)) {
        if (theirs.PublishedPort === mine.PublishedPort && (theirs.Protocol ?? 'tcp') === (mine.Protocol ?? 'tcp')) {
          throw conflict(`port '${mine.PublishedPort}' is already in use by service '${other.Spec.Name}' (${other.ID}) as an ingress port`);
        }
      }
    }
  }
}

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a task's container is made of: the task template and the published ports. Replicas,
 * the update config and labels on the service are left out so scaling never replaces tasks.
 */
export function specHash(spec: ServiceSpec): string {
  const parts = { tt: spec.TaskTemplate, ports: spec.EndpointSpec?.Ports ?? [], nets: networksOf(spec) };
  return createHash('sha256').update(stable(parts)).digest('hex').slice(0, 16);
}

/** docker's task container name: SERVICE.SLOT.TASKID (global tasks use the node ID as slot). */
export function containerName(serviceName: string, task: Pick<TaskRecord, 'ID' | 'Slot' | 'NodeID'>): string {
  const slot = task.Slot !== undefined && task.Slot > 0 ? String(task.Slot) : task.NodeID ?? '0';
  return `${serviceName}.${slot}.${task.ID}`;
}

export type TaskContainerBody = ContainerCreateBody & {
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig: HostConfig & {
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
    Mounts?: unknown[];
    NetworkMode?: string;
  };
};

/**
 * The Engine API create body for a task. Command replaces the image's ENTRYPOINT and Args its
 * CMD, as swarm mode does; limits become the container's cgroup limits; every published port
 * is bound on the task's own node (host-mode publishing; berth has no ingress routing mesh).
 */
export function taskContainerBody(service: { ID: string; Spec: ServiceSpec }, task: TaskRecord, nodeId: string, clusterId: string): TaskContainerBody {
  const spec = service.Spec;
  const cs = spec.TaskTemplate.ContainerSpec;
  const limits = spec.TaskTemplate.Resources?.Limits;
  const labels: Record<string, string> = {
    ...(cs.Labels ?? {}),
    [LABEL.serviceId]: service.ID,
    [LABEL.serviceName]: spec.Name,
    [LABEL.taskId]: task.ID,
    [LABEL.taskName]: containerName(spec.Name, task),
    [LABEL.nodeId]: nodeId,
    [LABEL.slot]: String(task.Slot ?? 0),
    [LABEL.cluster]: clusterId,
  };
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of spec.EndpointSpec?.Ports ?? []) {
    const key = `${p.TargetPort}/${p.Protocol ?? 'tcp'}`;
    exposed[key] = {};
    if (p.PublishedPort) (bindings[key] ??= []).push({ HostIp: '', HostPort: String(p.PublishedPort) });
  }
  const hc = cs.Healthcheck;
  const networks = networksOf(spec);
  const body: TaskContainerBody = {
    Image: cs.Image,
    Labels: labels,
    Env: cs.Env ?? [],
    ...(cs.Command?.length ? { Entrypoint: cs.Command } : {}),
    ...(cs.Args?.length ? { Cmd: cs.Args } : {}),
    ...(cs.Dir ? { WorkingDir: cs.Dir } : {}),
    ...(cs.User ? { User: cs.User } : {}),
    ...(cs.Hostname ? { Hostname: cs.Hostname } : {}),
    ...(cs.StopSignal ? { StopSignal: cs.StopSignal } : {}),
    ...(cs.StopGracePeriod !== undefined ? { StopTimeout: Math.ceil(cs.StopGracePeriod / 1e9) } : {}),
    ...(hc ? { Healthcheck: { Test: hc.Test, Interval: hc.Interval, Timeout: hc.Timeout, Retries: hc.Retries, StartPeriod: hc.StartPeriod } } : {}),
    ...(cs.TTY ? { Tty: true } : {}),
    ExposedPorts: exposed,
    HostConfig: {
      PortBindings: bindings,
      ...(cs.Mounts?.length ? { Mounts: cs.Mounts } : {}),
      ...(limits?.MemoryBytes ? { Memory: limits.MemoryBytes } : {}),
      ...(limits?.NanoCPUs ? { NanoCpus: limits.NanoCPUs } : {}),
      ...(networks.length ? { NetworkMode: networks[0] } : {}),
      RestartPolicy: { Name: 'no' },
    },
  };
  return body;
}

/**
 * The body the scheduler places: its reservations (not limits) as HostConfig.Memory/NanoCpus,
 * the published ports for the port filter and the constraints through the swarm-mode label.
 */
export function placementBody(spec: ServiceSpec): TaskContainerBody {
  const res = spec.TaskTemplate.Resources?.Reservations;
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of publishedPorts(spec)) bindings[`${p.TargetPort}/${p.Protocol ?? 'tcp'}`] = [{ HostIp: '', HostPort: String(p.PublishedPort) }];
  const constraints = spec.TaskTemplate.Placement?.Constraints ?? [];
  return {
    Image: spec.TaskTemplate.ContainerSpec.Image,
    Labels: constraints.length ? { [LABEL.constraints]: JSON.stringify(constraints) } : {},
    HostConfig: {
      PortBindings: bindings,
      ...(res?.MemoryBytes ? { Memory: res.MemoryBytes } : {}),
      ...(res?.NanoCPUs ? { NanoCpus: res.NanoCPUs } : {}),
    },
  };
}
