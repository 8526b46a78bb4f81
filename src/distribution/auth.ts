/**
 * Credentials as the Engine API carries them (X-Registry-Auth: base64url JSON), and the
 * client side of registry auth: parsing WWW-Authenticate challenges and fetching bearer tokens.
 */
import { invalidParameter } from '../util/errors.js';

export interface AuthConfig {
  username?: string;
  password?: string;
  /** A refresh token from a previous login (docker's IdentityToken). */
  identitytoken?: string;
  registrytoken?: string;
  serveraddress?: string;
}

/** Decodes X-Registry-Auth; an empty or "{}"-ish header means anonymous. */
export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig {
  const raw = Array.isArray(header) ? header[0] : header;
  if (!raw) return {};
  let text: string;
  try {
    // docker sends base64url; older clients standard base64. Buffer accepts both alphabets.
    text = Buffer.from(raw.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    if (!text.trim()) return {};
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    const doc = value as Record<string, unknown>;
    const out: AuthConfig = {};
    for (const key of ['username', 'password', 'identitytoken', 'registrytoken', 'serveraddress'] as const) {
      if (typeof doc[key] === 'string' && doc[key] !== '') out[key] = doc[key];
    }
    // The docker CLI's config.json form: "auth": base64(user:pass).
    if (!out.username && typeof doc.auth === 'string' && doc.auth) {
      const pair = Buffer.from(doc.auth, 'base64').toString('utf8');
      const colon = pair.indexOf(':');
      if (colon > 0) {
        out.username = pair.slice(0, colon);
        out.password = pair.slice(colon + 1);
      }
    }
    return out;
  } catch (err) {
    throw invalidParameter(`invalid X-Registry-Auth header: ${(err as Error).message}`);
  }
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (quoted values may hold commas). */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme, params };
}

export function basicHeader(auth: AuthConfig): string | undefined {
  if (!auth.username) return undefined;
  return `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
}
