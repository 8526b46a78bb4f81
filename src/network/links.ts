/**
 * Legacy links (--link name:alias): the environment variables dockerd gives the linking
 * container, following docker's documented format.
 */
import { compareText } from '../util/compare.js';

export interface LinkTarget {
  /** "/me/alias" as docker shows it. */
  fullName: string;
  alias: string;
  ip: string;
  /** "80/tcp" keys of the target's ExposedPorts. */
  exposed: string[];
  /** The target's Config.Env. */
  env: string[];
}

export function linkEnv(link: LinkTarget): string[] {
  const prefix = link.alias.toUpperCase().replace(/-/g, '_');
  const out: string[] = [];
  const ports = link.exposed
    .map((key) => {
      const [port, proto = 'tcp'] = key.split('/') as [string, string | undefined];
      return { port: Number(port), proto };
    })
    .filter((p) => Number.isInteger(p.port))
    .sort((a, b) => a.port - b.port || compareText(a.proto, b.proto));
  if (ports.length > 0) out.push(`${prefix}_PORT=${ports[0]!.proto}://${link.ip}:${ports[0]!.port}`);
  for (const p of ports) {
    const base = `${prefix}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    out.push(`${base}=${p.proto}://${link.ip}:${p.port}`, `${base}_ADDR=${link.ip}`, `${base}_PORT=${p.port}`, `${base}_PROTO=${p.proto}`);
  }
  out.push(`${prefix}_NAME=${link.fullName}`);
  for (const entry of link.env) {
    const eq = entry.indexOf('=');
    if (eq < 0) continue;
    const name = entry.slice(0, eq);
    if (name === 'HOME' || name === 'PATH') continue;
    out.push(`${prefix}_ENV_${name}=${entry.slice(eq + 1)}`);
  }
  return out;
}

/** "name:alias" or "name" -> parts; docker's "invalid link" otherwise. */
export function parseLink(spec: string): { name: string; alias: string } | undefined {
  const [name, alias, rest] = spec.replace(/^\//, '').split(':');
  if (!name || rest !== undefined) return undefined;
  return { name, alias: (alias ?? name).replace(/^.*\//, '') };
}
