/**
 * A client for one repository on one registry endpoint: it learns the auth scheme from
 * GET /v2/ once, fetches a bearer token for the repository scope it needs (or sends basic
 * auth), and speaks the OCI Distribution API: manifests, blobs, uploads, mounts, catalog.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { BerthError, systemError } from '../util/errors.js';
import { basicHeader, parseChallenge, type AuthConfig, type Challenge } from './auth.js';
import { httpRequest, readBody } from './http.js';

export interface Endpoint {
  /** "https://registry.example:5000" (no trailing slash). */
  base: string;
  insecure: boolean;
  mirror: boolean;
}

export const MANIFEST_ACCEPT = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** The error a registry answered with, as docker words it: "code: message". */
export class RegistryResponseError extends BerthError {
  constructor(
    readonly status: number,
    readonly codes: string[],
    message: string,
    /** The registry's own words ("manifest unknown: manifest unknown"), without the request. */
    readonly detail = message,
  ) {
    super(status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'notFound' : status === 400 ? 'invalidParameter' : 'system', message);
  }
}

async function responseError(res: IncomingMessage, what: string): Promise<RegistryResponseError> {
  const text = (await readBody(res, 1 << 20).catch(() => Buffer.alloc(0))).toString('utf8');
  const status = res.statusCode ?? 0;
  let codes: string[] = [];
  let detail = '';
  try {
    const doc = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    codes = (doc.errors ?? []).map((e) => e.code ?? '');
    detail = (doc.errors ?? []).map((e) => `${(e.code ?? 'unknown').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`).join('; ');
  } catch {
    detail = text.trim().slice(0, 200);
  }
  if (!detail) detail = `${status} ${res.statusMessage ?? ''}`.trim();
  return new RegistryResponseError(status, codes, `${what}: ${detail}`, detail);
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** A body maker, so a request refused for an expired token can be sent again. */
  body?: () => Buffer | Readable;
  /** Statuses returned to the caller instead of thrown. */
  ok?: number[];
  timeoutMs?: number;
}

export class RegistryClient {
  private authHeader?: string;
  private challenge?: Challenge;
  private prepared = false;

  constructor(
    readonly endpoint: Endpoint,
    readonly repo: string,
    private readonly auth: AuthConfig,
    /** "pull" or "pull,push"; extra scopes (mount sources) are added to token requests. */
    private readonly actions: string[],
    private readonly extraScopes: string[] = [],
  ) {}

  url(path: string): string {
    return `${this.endpoint.base}/v2/${path}`;
  }

  /** GET /v2/: learns whether and how to authenticate; fetches a token up front. */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    const res = await httpRequest({ method: 'GET', url: `${this.endpoint.base}/v2/`, insecure: this.endpoint.insecure, timeoutMs: 15_000 });
    await readBody(res).catch(() => undefined);
    if (res.statusCode === 401) {
      this.challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
      await this.authenticate();
    } else if ((res.statusCode ?? 0) >= 400 && res.statusCode !== 404) {
      throw new RegistryResponseError(res.statusCode ?? 0, [], `GET ${this.endpoint.base}/v2/: ${res.statusCode} ${res.statusMessage ?? ''}`);
    }
    this.prepared = true;
  }

  private scope(): string[] {
    return [...(this.actions.length ? [`repository:${this.repo}:${this.actions.join(',')}`] : []), ...this.extraScopes];
  }

  private async authenticate(): Promise<void> {
    const challenge = this.challenge;
    if (!challenge) throw new RegistryResponseError(401, ['UNAUTHORIZED'], `${this.endpoint.base}: unauthorized: authentication required`);
    if (challenge.scheme === 'basic') {
      const header = basicHeader(this.auth);
      if (!header) throw new RegistryResponseError(401, ['UNAUTHORIZED'], 'unauthorized: authentication required');
      this.authHeader = header;
      return;
    }
    this.authHeader = `Bearer ${(await fetchToken(challenge, this.auth, this.scope(), this.endpoint.insecure)).token}`;
  }

  async request(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    await this.prepare();
    const url = path.startsWith('http') ? path : path.startsWith('/') ? `${this.endpoint.base}${path}` : this.url(path);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...opts.headers };
      if (this.authHeader) headers.Authorization = this.authHeader;
      const res = await httpRequest({ method, url, headers, body: opts.body?.(), insecure: this.endpoint.insecure, timeoutMs: opts.timeoutMs });
      const status = res.statusCode ?? 0;
      if (status === 401 && attempt === 0) {
        // A token that expired meanwhile, or a scope the first token lacked: get a new one.
        await readBody(res).catch(() => undefined);
        this.challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined) ?? this.challenge;
        await this.authenticate();
        continue;
      }
      if ((status >= 200 && status < 300) || opts.ok?.includes(status)) return res;
      throw await responseError(res, `${method} ${url}`);
    }
  }

  /** The manifest's bytes, media type and the digest the registry names. */
  async getManifest(reference: string): Promise<{ bytes: Buffer; mediaType: string; digest?: string }> {
    // A 404 stays a RegistryResponseError: the caller words it with the reference the user gave.
    const res = await this.request('GET', `${this.repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
    const bytes = await readBody(res, 8 * 1024 * 1024);
    return { bytes, mediaType: String(res.headers['content-type'] ?? '').split(';')[0]!.trim(), digest: res.headers['docker-content-digest'] as string | undefined };
  }

  /** The blob's size if the repository has it, else undefined. */
  async headBlob(digest: string): Promise<number | undefined> {
    const res = await this.request('HEAD', `${this.repo}/blobs/${digest}`, { ok: [404] });
    res.resume();
    if (res.statusCode === 404) return undefined;
    return Number(res.headers['content-length'] ?? 0);
  }

  getBlob(digest: string): Promise<IncomingMessage> {
    return this.request('GET', `${this.repo}/blobs/${digest}`, { timeoutMs: 120_000 });
  }

  /** Tries a cross-repository mount; true if the registry linked the blob (201). */
  async mount(digest: string, from: string): Promise<boolean> {
    const res = await this.request('POST', `${this.repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, {
      headers: { 'Content-Length': '0' },
      ok: [202],
    });
    await readBody(res).catch(() => undefined);
    if (res.statusCode === 201) return true;
    // 202: the registry opened an upload session instead; close it so nothing lingers.
    const location = res.headers.location;
    if (location) await this.request('DELETE', this.resolveLocation(location), { ok: [404, 405] }).then((r) => r.resume(), () => undefined);
    return false;
  }

  private resolveLocation(location: string): string {
    return new URL(location, `${this.endpoint.base}/`).toString();
  }

  /** Uploads a blob in one session: POST, one streamed PATCH, PUT with the digest. */
  async uploadBlob(digest: string, size: number, body: () => Readable): Promise<void> {
    const start = await this.request('POST', `${this.repo}/blobs/uploads/`, { headers: { 'Content-Length': '0' } });
    await readBody(start);
    const location = start.headers.location;
    if (!location) throw systemError(`registry ${this.endpoint.base} gave no upload location`);
    const patch = await this.request('PATCH', this.resolveLocation(location), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body,
      timeoutMs: 600_000,
    });
    await readBody(patch);
    const next = new URL(this.resolveLocation(patch.headers.location ?? location));
    next.searchParams.set('digest', digest);
    const put = await this.request('PUT', next.toString(), { headers: { 'Content-Length': '0' } });
    await readBody(put);
  }

  /** A small blob (a config) in one request: POST ?digest= with the body. */
  async uploadSmallBlob(digest: string, bytes: Buffer): Promise<void> {
    const res = await this.request('POST', `${this.repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: () => bytes,
      ok: [202],
    });
    await readBody(res);
    if (res.statusCode === 202) {
      // Registries that ignore ?digest= on POST open a session: finish it with a PUT.
      const next = new URL(this.resolveLocation(res.headers.location ?? ''));
      next.searchParams.set('digest', digest);
      const put = await this.request('PUT', next.toString(), { headers: { 'Content-Type': 'application/octet-stream' }, body: () => bytes });
      await readBody(put);
    }
  }

  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const res = await this.request('PUT', `${this.repo}/manifests/${reference}`, { headers: { 'Content-Type': mediaType }, body: () => bytes });
    await readBody(res);
    return res.headers['docker-content-digest'] as string | undefined;
  }

  async tags(): Promise<string[]> {
    const out: string[] = [];
    let next: string | undefined = `${this.repo}/tags/list`;
    while (next) {
      const res = await this.request('GET', next);
      const doc = JSON.parse((await readBody(res)).toString('utf8')) as { tags?: string[] | null };
      out.push(...(doc.tags ?? []));
      next = nextLink(res);
    }
    return out;
  }
}

/** The target of a `Link: <...>; rel="next"` header, if any. */
export function nextLink(res: IncomingMessage): string | undefined {
  const link = res.headers.link;
  const m = typeof link === 'string' ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : undefined;
  return m?.[1];
}

/**
 * Fetches a bearer token from the challenge's realm: with a refresh token (IdentityToken) by
 * the OAuth2 POST, otherwise by GET with basic credentials (or anonymously).
 */
export async function fetchToken(challenge: Challenge, auth: AuthConfig, scopes: string[], insecure: boolean, offline = false): Promise<{ token: string; refreshToken?: string }> {
  const realm = challenge.params.realm;
  if (!realm) throw systemError('registry sent a Bearer challenge without a realm');
  const service = challenge.params.service ?? '';
  const all = [...new Set([...(challenge.params.scope ? challenge.params.scope.split(' ') : []), ...scopes])];
  let res: IncomingMessage;
  if (auth.identitytoken) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identitytoken, service, client_id: 'berth', scope: all.join(' ') });
    res = await httpRequest({ method: 'POST', url: realm, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString(), insecure });
  } else {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of all) url.searchParams.append('scope', s);
    if (offline) url.searchParams.set('offline_token', 'true');
    const headers: Record<string, string> = {};
    const basic = basicHeader(auth);
    if (basic) headers.Authorization = basic;
    if (offline && auth.username) url.searchParams.set('account', auth.username);
    res = await httpRequest({ method: 'GET', url: url.toString(), headers, insecure });
  }
  const body = await readBody(res, 1 << 20);
  if (res.statusCode === 401 || res.statusCode === 403) {
    throw new RegistryResponseError(res.statusCode, ['UNAUTHORIZED'], 'unauthorized: incorrect username or password');
  }
  if ((res.statusCode ?? 0) >= 300) throw new RegistryResponseError(res.statusCode ?? 0, [], `token request to ${realm}: ${res.statusCode} ${body.toString('utf8').slice(0, 200)}`);
  const doc = JSON.parse(body.toString('utf8')) as { token?: string; access_token?: string; refresh_token?: string };
  const token = doc.token ?? doc.access_token;
  if (!token) throw systemError(`token endpoint ${realm} answered without a token`);
  return doc.refresh_token ? { token, refreshToken: doc.refresh_token } : { token };
}
