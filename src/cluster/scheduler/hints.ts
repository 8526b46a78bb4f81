/**
 * Scheduling hints in a create body, as classic swarm read them: `-e constraint:EXPR`,
 * `-e affinity:EXPR` and `-e reschedule:POLICY` in Config.Env, and the labels
 * `com.docker.swarm.constraints` / `com.docker.swarm.affinities` /
 * `com.docker.swarm.reschedule-policies` (JSON arrays of strings). Swarm moved the Env hints into
 * those labels before creating the container on the node, so the engine never sees them as
 * environment variables and whoever reschedules the container later still knows them; the
 * manager does the same with stripSchedulingHints.
 */
import type { ContainerCreateBody } from '../../client/types.js';
import { invalidParameter } from '../../util/errors.js';

export const CONSTRAINTS_LABEL = 'com.docker.swarm.constraints';
export const AFFINITIES_LABEL = 'com.docker.swarm.affinities';
export const RESCHEDULE_LABEL = 'com.docker.swarm.reschedule-policies';

/** The policies classic swarm accepted for `-e reschedule:...`. */
const RESCHEDULE_POLICIES = new Set(['on-node-failure', 'off']);

export interface SchedulingHints {
  /** Expressions without the `constraint:` prefix, labels' first then Env's, de-duplicated. */
  constraints: string[];
  affinities: string[];
  reschedule: string[];
}

const ENV_PREFIXES = { constraint: 'constraint:', affinity: 'affinity:', reschedule: 'reschedule:' } as const;

function isHint(entry: string): boolean {
  return entry.startsWith(ENV_PREFIXES.constraint) || entry.startsWith(ENV_PREFIXES.affinity) || entry.startsWith(ENV_PREFIXES.reschedule);
}

/**
 * A hint label's value: a JSON array of strings as swarm stored it. A value that is not JSON
 * (`--label com.docker.swarm.constraints=node.labels.x==y`, as people wrote for swarm mode) is
 * taken as one expression rather than refused.
 */
function labelList(labels: Record<string, string> | undefined, name: string): string[] {
  const raw = labels?.[name];
  if (raw === undefined || raw.trim() === '') return [];
  const text = raw.trim();
  if (!text.startsWith('[')) return [text];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParameter(`invalid label ${name}=${raw}: expected a JSON array of strings such as ["node==node1"]`);
  }
  if (!Array.isArray(parsed) || !parsed.every((v): v is string => typeof v === 'string')) {
    throw invalidParameter(`invalid label ${name}=${raw}: expected a JSON array of strings such as ["node==node1"]`);
  }
  return parsed.map((s) => s.trim()).filter(Boolean);
}

const unique = (values: string[]): string[] => [...new Set(values)];

/** Reads every hint of a create body without changing it. */
export function readSchedulingHints(body: ContainerCreateBody): SchedulingHints {
  const env = body.Env ?? [];
  const fromEnv = (prefix: string): string[] => env.filter((e) => e.startsWith(prefix)).map((e) => e.slice(prefix.length).trim());
  const hints: SchedulingHints = {
    constraints: unique([...labelList(body.Labels, CONSTRAINTS_LABEL), ...fromEnv(ENV_PREFIXES.constraint)]),
    affinities: unique([...labelList(body.Labels, AFFINITIES_LABEL), ...fromEnv(ENV_PREFIXES.affinity)]),
    reschedule: unique([...labelList(body.Labels, RESCHEDULE_LABEL), ...fromEnv(ENV_PREFIXES.reschedule)]),
  };
  for (const policy of hints.reschedule) {
    if (!RESCHEDULE_POLICIES.has(policy)) throw invalidParameter(`invalid reschedule policy "${policy}": expected on-node-failure or off`);
  }
  return hints;
}

/**
 * The body to forward to the chosen node: hint entries removed from Env and recorded in the
 * swarm labels (merged with any already there), everything else untouched. The input is not
 * modified. Returns the hints too, so the caller need not parse twice.
 */
export function stripSchedulingHints(body: ContainerCreateBody): { body: ContainerCreateBody; hints: SchedulingHints } {
  const hints = readSchedulingHints(body);
  const labels: Record<string, string> = { ...(body.Labels ?? {}) };
  const record = (name: string, values: string[]): void => {
    if (values.length) labels[name] = JSON.stringify(values);
    else delete labels[name];
  };
  record(CONSTRAINTS_LABEL, hints.constraints);
  record(AFFINITIES_LABEL, hints.affinities);
  record(RESCHEDULE_LABEL, hints.reschedule);
  const out: ContainerCreateBody = { ...body };
  if (body.Env) out.Env = body.Env.filter((e) => !isHint(e));
  if (Object.keys(labels).length || body.Labels) out.Labels = labels;
  return { body: out, hints };
}
