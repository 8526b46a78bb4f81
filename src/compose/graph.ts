/**
 * The service dependency graph: checks (unknown services, cycles) and the start order. Edges come
 * from depends_on and from network_mode "service:NAME", which also needs NAME's container first.
 */
import { ComposeError } from './errors.js';
import type { Service } from './model.js';

export function dependenciesOf(svc: Service): string[] {
  const deps = Object.keys(svc.depends_on);
  const mode = svc.network_mode;
  if (mode?.startsWith('service:') && !deps.includes(mode.slice(8))) deps.push(mode.slice(8));
  return deps;
}

export function checkDependencies(services: Record<string, Service>, disabled: Record<string, Service>, file: string): void {
  for (const svc of Object.values(services)) {
    for (const [dep, cfg] of Object.entries(svc.depends_on)) {
      const key = `services.${svc.name}.depends_on`;
      if (services[dep]) continue;
      if (disabled[dep]) {
        if (cfg.required) throw new ComposeError(`service "${svc.name}" depends on service "${dep}", which is disabled by its profiles`, { file, key });
        continue;
      }
      throw new ComposeError(`service "${svc.name}" depends on undefined service "${dep}"`, { file, key });
    }
  }
  startOrder(services, file);
}

/**
 * Services grouped in levels: every service's dependencies sit in earlier levels, so a level can
 * start in parallel. A cycle is an error that spells the cycle out.
 */
export function startOrder(services: Record<string, Service>, file?: string): string[][] {
  const state = new Map<string, 'visiting' | 'done'>();
  const depth = new Map<string, number>();
  const visit = (name: string, path: string[]): number => {
    const seen = state.get(name);
    if (seen === 'done') return depth.get(name) as number;
    if (seen === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new ComposeError(`dependency cycle between services: ${cycle.join(' -> ')}`, { file, key: `services.${name}.depends_on` });
    }
    state.set(name, 'visiting');
    let d = 0;
    const svc = services[name] as Service;
    for (const dep of dependenciesOf(svc)) if (services[dep]) d = Math.max(d, visit(dep, [...path, name]) + 1);
    state.set(name, 'done');
    depth.set(name, d);
    return d;
  };
  for (const name of Object.keys(services).sort()) visit(name, []);
  const levels: string[][] = [];
  for (const [name, d] of [...depth].sort((a, b) => a[0].localeCompare(b[0]))) (levels[d] ??= []).push(name);
  return levels.filter(Boolean);
}

/** `names` plus everything they depend on, transitively. */
export function withDependencies(services: Record<string, Service>, names: string[]): Set<string> {
  const out = new Set<string>();
  const stack = [...names];
  while (stack.length) {
    const n = stack.pop() as string;
    if (out.has(n) || !services[n]) continue;
    out.add(n);
    stack.push(...dependenciesOf(services[n] as Service));
  }
  return out;
}
