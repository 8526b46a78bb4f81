/**
 * `compose config`: the loaded project as a compose file again. Like docker compose, fields left
 * empty are omitted (no `ports: []`, `aliases: []`), and every "$" is written as "$$", because
 * interpolation already ran: a "$" left in a value was a "$$" in the source, and printing it
 * bare would make loading the output interpolate it a second time.
 */
import type { Project, Service } from './model.js';

export function configDocument(project: Project, only: string[] = []): Record<string, unknown> {
  const services = Object.fromEntries(
    Object.entries(project.services)
      .filter(([n]) => only.length === 0 || only.includes(n))
      .map(([n, s]) => [n, serviceSpec(s)]),
  );
  const doc = { name: project.name, services, networks: project.networks, volumes: project.volumes, secrets: project.secrets, configs: project.configs };
  return escapeDollars(withoutEmptyLists(doc)) as Record<string, unknown>;
}

/** A service of berth's model in the compose file's own shape (deploy, durations, grants). */
function serviceSpec(service: Service): Record<string, unknown> {
  const { name: _name, replicas, limits, stop_grace_period, secrets, configs, healthcheck, ...rest } = service;
  const out: Record<string, unknown> = { ...rest };
  // The schema takes a memory size as a string; bytes as digits load back to the same.
  const specLimits = { ...(limits.cpus !== undefined ? { cpus: limits.cpus } : {}), ...(limits.memory !== undefined ? { memory: String(limits.memory) } : {}) };
  const hasLimits = Object.keys(specLimits).length > 0;
  if (replicas !== 1 || hasLimits) out.deploy = { ...(replicas !== 1 ? { replicas } : {}), ...(hasLimits ? { resources: { limits: specLimits } } : {}) };
  if (stop_grace_period !== undefined) out.stop_grace_period = `${stop_grace_period}s`;
  // The host file is the top-level secret's/config's business, not the grant's.
  out.secrets = secrets.map(({ source, target }) => ({ source, target }));
  out.configs = configs.map(({ source, target }) => ({ source, target }));
  if (healthcheck) {
    const { disable, ...check } = healthcheck;
    out.healthcheck = disable ? { disable: true } : check;
  }
  // Service keys left at their defaults are left out, as docker compose does.
  for (const [k, v] of Object.entries(out)) {
    if (v === false || (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0)) delete out[k];
  }
  return out;
}

/** Drops empty arrays and undefined values; empty maps stay (a `volumes: {data: {}}` entry means something). */
function withoutEmptyLists(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmptyLists);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = withoutEmptyLists(v);
  }
  return out;
}

function escapeDollars(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('$', '$$$$');
  if (Array.isArray(value)) return value.map(escapeDollars);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]));
}
