/**
 * The Compose Specification's merge rules, used for several -f files, `extends` and overrides:
 * mappings merge key by key; scalars and the "command-like" sequences are replaced; map-like
 * sequences (environment, labels, build args, ...) merge as maps; volumes merge by mount target,
 * secrets/configs by target, ports and other sequences are appended without duplicates.
 */
export type Doc = Record<string, unknown>;

function isMap(v: unknown): v is Doc {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** list_or_dict -> dict: ["A=1", "B"] -> {A: "1", B: null}. */
export function listOrDictToMap(v: unknown): Record<string, unknown> {
  if (isMap(v)) return { ...v };
  const out: Record<string, unknown> = {};
  if (Array.isArray(v)) {
    for (const item of v) {
      const s = String(item);
      const eq = s.indexOf('=');
      if (eq < 0) out[s] = null;
      else out[s.slice(0, eq)] = s.slice(eq + 1);
    }
  }
  return out;
}

/** depends_on as a map with every entry's condition spelled out. */
export function dependsOnToMap(v: unknown): Record<string, Doc> {
  if (Array.isArray(v)) return Object.fromEntries(v.map((name) => [String(name), { condition: 'service_started' }]));
  return isMap(v) ? ({ ...v } as Record<string, Doc>) : {};
}

/** A volume entry's container path, from the short ("src:/dst:ro") or the long syntax. */
export function volumeTarget(v: unknown): string {
  if (isMap(v)) return String(v.target ?? '');
  const parts = String(v).split(':');
  return parts.length === 1 ? (parts[0] as string) : (parts[1] as string);
}

function refTarget(v: unknown): string {
  if (isMap(v)) return String(v.target ?? v.source ?? '');
  return String(v);
}

const REPLACED = new Set(['command', 'entrypoint', 'test']);
const MAP_LIKE = new Set(['environment', 'labels', 'args', 'annotations', 'sysctls', 'extra_hosts', 'driver_opts', 'options']);

function mergeByKey(base: unknown[], over: unknown[], key: (v: unknown) => string): unknown[] {
  const out = new Map<string, unknown>();
  for (const v of base) out.set(key(v), v);
  for (const v of over) out.set(key(v), v);
  return [...out.values()];
}

function appendUnique(base: unknown[], over: unknown[]): unknown[] {
  const seen = new Set(base.map((v) => JSON.stringify(v)));
  return [...base, ...over.filter((v) => !seen.has(JSON.stringify(v)))];
}

function mergeValue(key: string, parent: string, base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (base === undefined || over === null) return over;
  if (MAP_LIKE.has(key) && (Array.isArray(base) || isMap(base)) && (Array.isArray(over) || isMap(over))) {
    return { ...listOrDictToMap(base), ...listOrDictToMap(over) };
  }
  if (key === 'depends_on' && parent === 'service') return mergeMaps(dependsOnToMap(base), dependsOnToMap(over), 'depends_on');
  if (REPLACED.has(key)) return over;
  if (Array.isArray(base) && Array.isArray(over)) {
    if (key === 'volumes' && parent === 'service') return mergeByKey(base, over, volumeTarget);
    if ((key === 'secrets' || key === 'configs') && parent === 'service') return mergeByKey(base, over, refTarget);
    return appendUnique(base, over);
  }
  if (key === 'networks' && parent === 'service') {
    const toMap = (v: unknown): Doc => (Array.isArray(v) ? Object.fromEntries(v.map((n) => [String(n), null])) : (v as Doc));
    return mergeMaps(toMap(base), toMap(over), 'networks');
  }
  if (isMap(base) && isMap(over)) return mergeMaps(base, over, key);
  return over;
}

/** Merges `over` onto `base`; `context` tells which rule set applies ("service", "build", ...). */
export function mergeMaps(base: Doc, over: Doc, context: string): Doc {
  const out: Doc = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeValue(k, context, base[k], v);
  return out;
}

export function mergeService(base: Doc, over: Doc): Doc {
  return mergeMaps(base, over, 'service');
}

/** Merges whole compose documents: services one by one, the other top-level maps key by key. */
export function mergeDocuments(base: Doc, over: Doc): Doc {
  const out: Doc = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === 'services' && isMap(v)) {
      const services: Doc = { ...(isMap(base.services) ? base.services : {}) };
      for (const [name, svc] of Object.entries(v)) {
        const prev = services[name];
        services[name] = isMap(prev) && isMap(svc) ? mergeService(prev, svc) : svc;
      }
      out.services = services;
    } else if (isMap(v) && isMap(base[k])) {
      out[k] = mergeMaps(base[k] as Doc, v, k);
    } else {
      out[k] = v;
    }
  }
  return out;
}
