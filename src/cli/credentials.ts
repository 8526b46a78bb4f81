/**
 * Registry credentials in docker's config file (DOCKER_CONFIG or ~/.docker/config.json),
 * in docker's own format so `docker login` and `berth login` share them:
 *   { "auths": { "127.0.0.1:5000": { "auth": base64("user:password") } } }
 * A login that produced a refresh token stores { "auth": base64("user:"), "identitytoken" }.
 * Other keys in the file are kept as they are.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { atomicWriteFile } from '../util/atomic.js';
import { isErrno } from '../util/errors.js';

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export interface StoredAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress: string;
}

interface AuthEntry {
  auth?: string;
  identitytoken?: string;
}

export function configPath(): string {
  return join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

async function readConfig(): Promise<Record<string, unknown>> {
  try {
    const doc: unknown = JSON.parse(await readFile(configPath(), 'utf8'));
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return {};
    throw new Error(`reading ${configPath()}: ${(err as Error).message}`);
  }
}

function auths(doc: Record<string, unknown>): Record<string, AuthEntry> {
  const a = doc.auths;
  return typeof a === 'object' && a !== null && !Array.isArray(a) ? (a as Record<string, AuthEntry>) : {};
}

/** "https://host:5000/v2/" or "host:5000" -> the key docker files it under. */
export function credentialKey(server: string): string {
  const trimmed = server.trim();
  if (!trimmed || /^(https?:\/\/)?(index\.)?docker\.io(\/.*)?$/.test(trimmed) || trimmed === DOCKER_HUB_KEY || /^(https?:\/\/)?registry-1\.docker\.io/.test(trimmed)) {
    return DOCKER_HUB_KEY;
  }
  return trimmed.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

export async function getCredentials(server: string): Promise<StoredAuth | undefined> {
  const key = credentialKey(server);
  const all = auths(await readConfig());
  // docker also accepts entries written with a scheme ("https://host:5000").
  const entry = all[key] ?? all[`https://${key}`] ?? all[`http://${key}`];
  if (!entry) return undefined;
  const out: StoredAuth = { serveraddress: key };
  if (entry.auth) {
    const pair = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = pair.indexOf(':');
    if (colon >= 0) {
      out.username = pair.slice(0, colon);
      if (pair.slice(colon + 1)) out.password = pair.slice(colon + 1);
    }
  }
  if (entry.identitytoken) out.identitytoken = entry.identitytoken;
  return out;
}

export async function saveCredentials(auth: StoredAuth): Promise<void> {
  const doc = await readConfig();
  const all = { ...auths(doc) };
  const key = credentialKey(auth.serveraddress);
  const entry: AuthEntry = auth.identitytoken
    ? { auth: Buffer.from(`${auth.username ?? ''}:`).toString('base64'), identitytoken: auth.identitytoken }
    : { auth: Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64') };
  all[key] = entry;
  doc.auths = all;
  await atomicWriteFile(configPath(), `${JSON.stringify(doc, null, '\t')}\n`, 0o600);
}

/** Returns false when there was nothing to remove. */
export async function removeCredentials(server: string): Promise<boolean> {
  const doc = await readConfig();
  const all = { ...auths(doc) };
  const key = credentialKey(server);
  const keys = [key, `https://${key}`, `http://${key}`].filter((k) => k in all);
  if (keys.length === 0) return false;
  for (const k of keys) delete all[k];
  doc.auths = all;
  await atomicWriteFile(configPath(), `${JSON.stringify(doc, null, '\t')}\n`, 0o600);
  return true;
}

/** The X-Registry-Auth header value for a registry (base64url JSON), or undefined when none is stored. */
export async function registryAuthHeader(server: string): Promise<string | undefined> {
  const auth = await getCredentials(server);
  if (!auth) return undefined;
  return Buffer.from(JSON.stringify(auth)).toString('base64url');
}
