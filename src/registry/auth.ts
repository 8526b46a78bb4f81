/**
 * Access control: htpasswd (bcrypt) basic auth, or docker's bearer-token flow with a small
 * built-in token endpoint. Tokens are compact JWTs signed with HMAC-SHA256 by this registry's
 * own key (it is both issuer and verifier, so a shared secret is enough).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { registryError } from './errors.js';

export interface Access {
  type: string; // "repository" | "registry"
  name: string;
  actions: string[];
}

export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  key: Buffer;
  /** Seconds an access token lives. */
  ttl: number;
}

/** user -> bcrypt hash. Only bcrypt is accepted, as the reference registry does. */
export async function loadHtpasswd(path: string): Promise<Map<string, string>> {
  const users = new Map<string, string>();
  for (const raw of (await readFile(path, 'utf8')).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const hash = line.slice(colon + 1);
    if (!/^\$2[abxy]\$\d\d\$/.test(hash)) continue;
    users.set(line.slice(0, colon), hash);
  }
  return users;
}

export class Htpasswd {
  /** sha256(user:password) of recent successes: bcrypt costs ~100 ms, and clients send basic auth on every request. */
  private readonly verified = new Map<string, number>();
  /** A hash to compare against for unknown users, made on first need. */
  private decoy?: string;

  constructor(private readonly users: Map<string, string>) {}

  async check(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) {
      // Spend the same time as a real comparison so missing users are not told apart by timing.
      this.decoy ??= await bcrypt.hash(randomBytes(8).toString('hex'), 10);
      await bcrypt.compare(password, this.decoy);
      return false;
    }
    const key = createHash('sha256').update(`${user}:${password}`).digest('hex');
    const until = this.verified.get(key);
    if (until !== undefined && until > Date.now()) return true;
    // bcryptjs reads $2a$/$2b$; $2y$ (htpasswd -B) is the same algorithm under another name.
    const ok = await bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
    if (ok) this.verified.set(key, Date.now() + 5 * 60_000);
    return ok;
  }
}

/** Parses "Basic base64(user:pass)". */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** "repository:foo/bar:pull,push" -> Access; several scopes may be space-separated. */
export function parseScopes(scopes: string[]): Access[] {
  const out: Access[] = [];
  for (const scope of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first < 0 || last === first) continue;
    out.push({ type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) });
  }
  return out;
}

export function formatScope(access: Access): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: Access[];
  /** Only in refresh tokens (docker's IdentityToken): what they may be exchanged for. */
  refresh?: boolean;
}

export function signToken(config: TokenAuthConfig, claims: TokenClaims): string {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = createHmac('sha256', config.key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** Verifies signature, issuer, audience and lifetime; returns the claims or undefined. */
export function verifyToken(config: TokenAuthConfig, token: string): TokenClaims | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const expected = createHmac('sha256', config.key).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2]!, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let claims: TokenClaims;
  try {
    const head = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string };
    if (head.alg !== 'HS256') return undefined;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    return undefined;
  }
  const now = Math.floor(Date.now() / 1000);
  if (claims.iss !== config.issuer || claims.aud !== config.service) return undefined;
  if (typeof claims.exp !== 'number' || claims.exp < now || (claims.nbf ?? 0) > now + 60) return undefined;
  return claims;
}

export function issueToken(config: TokenAuthConfig, subject: string, access: Access[], options: { refresh?: boolean; ttl?: number } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signToken(config, {
    iss: config.issuer,
    sub: subject,
    aud: config.service,
    iat: now,
    nbf: now - 10,
    exp: now + (options.ttl ?? config.ttl),
    jti: randomBytes(12).toString('hex'),
    access,
    ...(options.refresh ? { refresh: true } : {}),
  });
}

/** True when the granted access covers `wanted` (every action, same type and name). */
export function covers(granted: Access[], wanted: Access): boolean {
  return wanted.actions.every((action) =>
    granted.some((g) => g.type === wanted.type && (g.name === wanted.name || g.name === '*') && (g.actions.includes(action) || g.actions.includes('*'))),
  );
}

export function unauthorized(challenge: string, message = 'authentication required', detail?: unknown): ReturnType<typeof registryError> {
  const err = registryError('UNAUTHORIZED', message, detail);
  err.headers['WWW-Authenticate'] = challenge;
  return err;
}
