/**
 * `berth registry serve` settings: flags, or a JSON config file with the same names
 * ({"addr": "127.0.0.1:5000", "root": "/var/lib/berth-registry", "htpasswd": "...", ...}).
 * A flag given on the command line wins over the file.
 */
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { atomicWriteFile } from '../util/atomic.js';
import { isErrno } from '../util/errors.js';
import { Htpasswd, loadHtpasswd, type TokenAuthConfig } from './auth.js';
import type { RegistryOptions } from './server.js';

export interface RegistryConfig {
  addr: string;
  root: string;
  tlsCert?: string;
  tlsKey?: string;
  htpasswd?: string;
  tokenRealm?: string;
  tokenIssuer?: string;
  tokenService?: string;
  readOnly: boolean;
  deleteEnabled: boolean;
  /** Seconds an idle upload session is kept. */
  uploadTtl: number;
}

export const DEFAULT_REGISTRY_CONFIG: RegistryConfig = {
  addr: '127.0.0.1:5000',
  root: '/var/lib/berth-registry',
  readOnly: false,
  deleteEnabled: false,
  uploadTtl: 24 * 3600,
};

const FILE_KEYS: Record<string, keyof RegistryConfig> = {
  addr: 'addr',
  root: 'root',
  'tls-cert': 'tlsCert',
  'tls-key': 'tlsKey',
  htpasswd: 'htpasswd',
  'token-realm': 'tokenRealm',
  'token-issuer': 'tokenIssuer',
  'token-service': 'tokenService',
  'read-only': 'readOnly',
  'delete-enabled': 'deleteEnabled',
  'upload-ttl': 'uploadTtl',
};

export async function readConfigFile(path: string): Promise<Partial<RegistryConfig>> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`registry config ${path}: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error(`registry config ${path}: not a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const field = FILE_KEYS[key];
    if (!field) throw new Error(`registry config ${path}: unknown key ${JSON.stringify(key)}`);
    const want = typeof DEFAULT_REGISTRY_CONFIG[field] === 'boolean' ? 'boolean' : field === 'uploadTtl' ? 'number' : 'string';
    if (typeof value !== want) throw new Error(`registry config ${path}: ${key} must be a ${want}`);
    out[field] = value;
  }
  return out as Partial<RegistryConfig>;
}

export function splitAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid --addr ${JSON.stringify(addr)}: want HOST:PORT`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port: Number(m[3]) };
}

/** The HMAC key for tokens: kept in the root so tokens survive a restart. */
async function tokenKey(root: string): Promise<Buffer> {
  const path = join(root, 'token.key');
  try {
    return Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
    const key = randomBytes(32);
    await atomicWriteFile(path, key.toString('hex'), 0o600);
    return key;
  }
}

/** Turns settings into server options: loads htpasswd and the token key. */
export async function serverOptions(config: RegistryConfig, boundPort: number, log?: (line: string) => void): Promise<RegistryOptions> {
  const options: RegistryOptions = {
    root: config.root,
    readOnly: config.readOnly,
    deleteEnabled: config.deleteEnabled,
    uploadTtlMs: config.uploadTtl * 1000,
  };
  if (log) options.log = log;
  if (config.htpasswd) options.htpasswd = new Htpasswd(await loadHtpasswd(config.htpasswd));
  if (config.tokenRealm || config.tokenIssuer) {
    const { host } = splitAddr(config.addr);
    const scheme = config.tlsCert ? 'https' : 'http';
    const service = config.tokenService ?? `${host}:${boundPort}`;
    const token: TokenAuthConfig = {
      realm: config.tokenRealm ?? `${scheme}://${host}:${boundPort}/token`,
      service,
      issuer: config.tokenIssuer ?? 'berth-registry',
      key: await tokenKey(config.root),
      ttl: 300,
    };
    options.token = token;
  }
  return options;
}
