/**
 * Desired (the project) vs actual (the daemon's containers with the project label) -> what to do
 * for each service, level by level in dependency order. Pure: no I/O, so it is unit-tested.
 */
import type { ContainerSummary } from '../client/types.js';
import { startOrder, withDependencies } from './graph.js';
import { LABEL, configHash } from './labels.js';
import type { Project } from './model.js';

export interface ActualContainer {
  id: string;
  name: string;
  service: string;
  number: number;
  hash: string;
  state: string;
  oneoff: boolean;
  imageId: string;
}

export type ContainerAction =
  | { kind: 'create'; number: number }
  | { kind: 'recreate'; number: number; container: ActualContainer; reason: string }
  | { kind: 'start'; container: ActualContainer }
  | { kind: 'keep'; container: ActualContainer }
  | { kind: 'remove'; container: ActualContainer };

export interface ServicePlan {
  service: string;
  hash: string;
  actions: ContainerAction[];
}

export interface Plan {
  levels: ServicePlan[][];
  /** Containers of services that are no longer in the project. */
  orphans: ActualContainer[];
}

export interface PlanOptions {
  /** Services to act on (with their dependencies unless noDeps); all when empty. */
  services?: string[];
  noDeps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  scale?: Record<string, number>;
  /** Image IDs by image reference, to recreate containers whose image changed (rebuilt, pulled). */
  imageIds?: Map<string, string>;
  /** Create but do not start (the `create` command). */
  noStart?: boolean;
}

export function toActual(c: ContainerSummary): ActualContainer | undefined {
  const l = c.Labels ?? {};
  const service = l[LABEL.service];
  if (!service) return undefined;
  return {
    id: c.Id,
    name: (c.Names?.[0] ?? '').replace(/^\//, ''),
    service,
    number: Number(l[LABEL.number] ?? 0),
    hash: l[LABEL.configHash] ?? '',
    state: c.State ?? '',
    oneoff: l[LABEL.oneoff] === 'True',
    imageId: c.ImageID ?? '',
  };
}

export function selectedServices(project: Project, names: string[] | undefined, noDeps = false): Set<string> {
  const wanted = names?.length ? names : Object.keys(project.services);
  return noDeps ? new Set(wanted) : withDependencies(project.services, wanted);
}

export function planUp(project: Project, actual: ActualContainer[], opts: PlanOptions = {}): Plan {
  const selected = selectedServices(project, opts.services, opts.noDeps);
  const byService = new Map<string, ActualContainer[]>();
  for (const c of actual) if (!c.oneoff) (byService.get(c.service) ?? byService.set(c.service, []).get(c.service))?.push(c);
  const levels: ServicePlan[][] = [];
  for (const level of startOrder(project.services)) {
    const plans: ServicePlan[] = [];
    for (const name of level) {
      if (!selected.has(name)) continue;
      const svc = project.services[name];
      if (!svc) continue;
      const hash = configHash(svc);
      const want = opts.scale?.[name] ?? svc.replicas;
      const existing = [...(byService.get(name) ?? [])].sort((a, b) => a.number - b.number);
      const actions: ContainerAction[] = [];
      // Scale down removes the highest numbers first, as compose does.
      const keep = existing.slice(0, want);
      for (const c of existing.slice(want)) actions.push({ kind: 'remove', container: c });
      const wantedImage = opts.imageIds?.get(svc.image ?? `${project.name}-${name}`);
      for (const c of keep) {
        let reason = '';
        if (opts.forceRecreate) reason = 'forced';
        else if (c.hash !== hash) reason = 'configuration changed';
        else if (wantedImage && c.imageId && c.imageId !== wantedImage) reason = 'image changed';
        if (reason && !opts.noRecreate) actions.push({ kind: 'recreate', number: c.number, container: c, reason });
        else if (c.state !== 'running' && !opts.noStart) actions.push({ kind: 'start', container: c });
        else actions.push({ kind: 'keep', container: c });
      }
      const used = new Set(keep.map((c) => c.number));
      let next = 1;
      for (let i = keep.length; i < want; i++) {
        while (used.has(next)) next++;
        used.add(next);
        actions.push({ kind: 'create', number: next });
      }
      plans.push({ service: name, hash, actions });
    }
    if (plans.length) levels.push(plans);
  }
  const known = new Set([...Object.keys(project.services), ...Object.keys(project.disabled)]);
  const orphans = actual.filter((c) => !c.oneoff && !known.has(c.service));
  return { levels, orphans };
}

/** True when the plan changes nothing: every container is kept as it is. */
export function isNoop(plan: Plan): boolean {
  return plan.levels.every((l) => l.every((s) => s.actions.every((a) => a.kind === 'keep')));
}
