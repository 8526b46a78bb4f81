/**
 * Discovery URLs as classic swarm wrote them:
 *   etcd://HOST[:PORT][,HOST[:PORT]...][/PREFIX]   a store that agents register in
 *   file:///PATH                                   a static list, one address per line
 *   nodes://ADDR[,ADDR...]                         a static list on the command line
 * Static addresses may hold numeric ranges, `10.0.0.[10:20]:2375`, expanded here.
 */
import { invalidParameter } from '../../util/errors.js';

export const DEFAULT_ETCD_PORT = 2379;
/** The key prefix when an etcd URL names none: keys live under /berth/docker/swarm/... */
export const DEFAULT_ETCD_PREFIX = 'berth';
/** A range like [1:100000] must not turn a typo into a million entries. */
const MAX_EXPANDED = 65_536;

export type DiscoveryUrl =
  | { kind: 'etcd'; url: string; endpoints: string[]; prefix: string }
  | { kind: 'file'; url: string; path: string }
  | { kind: 'nodes'; url: string; addrs: string[] };

export function parseDiscoveryUrl(url: string): DiscoveryUrl {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(url.trim());
  if (!m) throw invalidParameter(`invalid discovery URL "${url}": expected etcd://HOST:PORT/PREFIX, file:///PATH or nodes://ADDR,ADDR`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  switch (scheme) {
    case 'etcd': {
      const slash = rest.indexOf('/');
      const hostPart = slash < 0 ? rest : rest.slice(0, slash);
      const prefix = (slash < 0 ? '' : rest.slice(slash)).replace(/^\/+|\/+$/g, '') || DEFAULT_ETCD_PREFIX;
      if (!hostPart) throw invalidParameter(`invalid discovery URL "${url}": no etcd endpoint (etcd://HOST:PORT/PREFIX)`);
      const endpoints = hostPart.split(',').map((h) => normalizeEndpoint(h, url));
      return { kind: 'etcd', url, endpoints, prefix };
    }
    case 'file': {
      if (!rest.startsWith('/')) throw invalidParameter(`invalid discovery URL "${url}": file discovery needs an absolute path (file:///PATH)`);
      return { kind: 'file', url, path: rest };
    }
    case 'nodes': {
      if (!rest) throw invalidParameter(`invalid discovery URL "${url}": no addresses (nodes://HOST:PORT,HOST:PORT)`);
      const addrs = expandList(splitOutsideBrackets(rest), (problem) => `invalid discovery URL "${url}": ${problem}`);
      return { kind: 'nodes', url, addrs };
    }
    default:
      throw invalidParameter(`unsupported discovery "${scheme}://" in "${url}": use etcd://, file:// or nodes://`);
  }
}

function normalizeEndpoint(text: string, url: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?$/.exec(text.trim());
  if (!m) throw invalidParameter(`invalid discovery URL "${url}": bad etcd endpoint "${text}" (HOST:PORT)`);
  const port = m[2] === undefined ? DEFAULT_ETCD_PORT : Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw invalidParameter(`invalid discovery URL "${url}": bad port in etcd endpoint "${text}"`);
  return `${m[1]}:${port}`;
}

/** Commas separate addresses, except inside a [a:b] range or an [IPv6] literal. */
function splitOutsideBrackets(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function expandList(patterns: string[], describe: (problem: string) => string): string[] {
  const out: string[] = [];
  for (const pattern of patterns) {
    for (const addr of expandRanges(pattern, describe)) {
      checkAddr(addr, describe);
      if (!out.includes(addr)) out.push(addr);
    }
  }
  return out;
}

/**
 * `10.0.0.[10:12]:2375` -> 10.0.0.10:2375, 10.0.0.11:2375, 10.0.0.12:2375. Several ranges
 * multiply out; a bound written with a leading zero ([01:10]) keeps its width. An IPv6
 * literal in brackets is not a range (it has no a:b of two plain numbers).
 */
export function expandRanges(pattern: string, describe: (problem: string) => string = (p) => p): string[] {
  const m = /\[(\d+):(\d+)\]/.exec(pattern);
  if (!m) return [pattern];
  const [whole, fromText, toText] = [m[0], m[1]!, m[2]!];
  const from = Number(fromText);
  const to = Number(toText);
  if (from > to) throw invalidParameter(describe(`range ${whole} in "${pattern}" runs backwards`));
  if (to - from + 1 > MAX_EXPANDED) throw invalidParameter(describe(`range ${whole} in "${pattern}" is larger than ${MAX_EXPANDED} addresses`));
  const width = fromText.startsWith('0') && fromText.length > 1 ? fromText.length : 0;
  const head = pattern.slice(0, m.index);
  const tail = pattern.slice(m.index + whole.length);
  const out: string[] = [];
  for (let i = from; i <= to; i++) {
    for (const rest of expandRanges(tail, describe)) {
      out.push(`${head}${String(i).padStart(width, '0')}${rest}`);
      if (out.length > MAX_EXPANDED) throw invalidParameter(describe(`"${pattern}" expands to more than ${MAX_EXPANDED} addresses`));
    }
  }
  return out;
}

/** An engine address as discovery holds it: HOST:PORT, the port required (as in classic swarm). */
export function checkAddr(addr: string, describe: (problem: string) => string = (p) => p): void {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d+)$/.exec(addr);
  if (!m) throw invalidParameter(describe(`"${addr}" is not an address of the form HOST:PORT`));
  const port = Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw invalidParameter(describe(`"${addr}": port ${m[2]} is out of range`));
}

/**
 * The body of a file:// discovery file: one address (or range) per line, `#` starts a comment,
 * blank lines are skipped. Errors name the file and the line.
 */
export function parseNodesFile(text: string, path: string): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const describe = (problem: string): string => `${path}:${index + 1}: ${problem}`;
    if (/\s/.test(line)) throw invalidParameter(describe(`expected one address per line, got "${line}"`));
    for (const addr of expandList(splitOutsideBrackets(line), describe)) if (!out.includes(addr)) out.push(addr);
  });
  return out;
}
