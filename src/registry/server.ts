/**
 * The OCI Distribution API over HTTP(S): routing of /v2/..., authorization per route, and the
 * handlers. Storage, upload sessions and auth live in their own modules; this file decides
 * which of them a request needs and turns failures into the spec's error bodies.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { RegistryError, registryError } from './errors.js';
import { checkDigest, checkName, checkReference } from './names.js';
import { RegistryStorage, type Descriptor } from './storage.js';
import { UploadManager } from './uploads.js';
import { MAX_MANIFEST_BYTES, OCI_INDEX, parseManifest } from './manifest.js';
import { covers, formatScope, Htpasswd, issueToken, parseBasic, parseScopes, unauthorized, verifyToken, type Access, type TokenAuthConfig } from './auth.js';

export interface RegistryOptions {
  root: string;
  readOnly?: boolean;
  deleteEnabled?: boolean;
  htpasswd?: Htpasswd;
  token?: TokenAuthConfig;
  uploadTtlMs?: number;
  log?: (line: string) => void;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}

const API_HEADER = { 'Docker-Distribution-API-Version': 'registry/2.0' };

function send(res: ServerResponse, status: number, headers: Record<string, string | number> = {}, body?: string | Buffer): void {
  const h: Record<string, string | number> = { ...API_HEADER, ...headers };
  if (body !== undefined && h['Content-Length'] === undefined) h['Content-Length'] = Buffer.byteLength(body);
  if (body === undefined && h['Content-Length'] === undefined) h['Content-Length'] = 0;
  res.writeHead(status, h);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
}

async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    req.resume();
    throw registryError('SIZE_INVALID', `manifest larger than ${limit} bytes`, { limit }, 413);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw registryError('SIZE_INVALID', `manifest larger than ${limit} bytes`, { limit }, 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** n and last from the query; PAGINATION_NUMBER_INVALID for anything but a non-negative integer. */
function paginate(items: string[], url: URL, base: string): { page: string[]; link?: string } {
  const nRaw = url.searchParams.get('n');
  const last = url.searchParams.get('last') ?? '';
  let n: number | undefined;
  if (nRaw !== null && nRaw !== '') {
    n = Number(nRaw);
    if (!Number.isSafeInteger(n) || n < 0) throw registryError('PAGINATION_NUMBER_INVALID', 'invalid number of results requested', { n: nRaw });
  }
  const after = last ? items.filter((i) => i > last) : items;
  if (n === undefined || after.length <= n) return { page: n === undefined ? after : after.slice(0, n) };
  const page = after.slice(0, n);
  if (page.length === 0) return { page };
  return { page, link: `<${base}?last=${encodeURIComponent(page[page.length - 1]!)}&n=${n}>; rel="next"` };
}

/** "bytes=a-b" / "bytes=a-" against a blob of `size` bytes; undefined for no/ignorable header. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw registryError('RANGE_INVALID', `invalid range ${header}`, undefined, 416);
  let start: number;
  let end: number;
  if (m[1] === '') {
    // Suffix range: the last N bytes.
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) {
    const err = registryError('RANGE_INVALID', `range ${header} not satisfiable for ${size} bytes`, undefined, 416);
    err.headers['Content-Range'] = `bytes */${size}`;
    throw err;
  }
  return { start, end };
}

/** "Content-Range: a-b" of a PATCH (also accepts the "bytes a-b/*" spelling). */
function parseContentRange(header: string | undefined): number | undefined {
  if (!header) return undefined;
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!m) throw registryError('BLOB_UPLOAD_INVALID', `invalid Content-Range ${header}`, undefined, 416);
  if (Number(m[2]) < Number(m[1])) throw registryError('BLOB_UPLOAD_INVALID', `invalid Content-Range ${header}`, undefined, 416);
  return Number(m[1]);
}

function uploadHeaders(name: string, id: string, size: number): Record<string, string> {
  return {
    Location: `/v2/${name}/blobs/uploads/${id}`,
    Range: `0-${Math.max(0, size - 1)}`,
    'Docker-Upload-UUID': id,
  };
}

/**
 * Writes bytes [start, end) of a file to the response with large reads straight into the
 * socket (no stream pipeline in between): downloads are the registry's hottest path.
 */
async function sendFileRange(res: ServerResponse, path: string, start: number, end: number): Promise<void> {
  const handle = await open(path, 'r');
  try {
    let position = start;
    while (position < end) {
      const length = Math.min(BLOCK, end - position);
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      if (bytesRead === 0) throw new Error(`blob ${path} ended early`);
      position += bytesRead;
      const more = res.write(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
      if (!more && position < end) {
        await new Promise<void>((resolve, reject) => {
          const onDrain = (): void => {
            res.off('close', onClose);
            resolve();
          };
          const onClose = (): void => {
            res.off('drain', onDrain);
            reject(new Error('client went away'));
          };
          res.once('drain', onDrain);
          res.once('close', onClose);
        });
      }
    }
    res.end();
  } finally {
    await handle.close();
  }
}

const BLOCK = 4 << 20;

/** An http(s) server with no request listener yet, tuned for long blob transfers. */
export function createHttpServer(tls?: { cert: Buffer; key: Buffer }): http.Server {
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }) : http.createServer();
  // Big blobs stream for as long as they take; idle keep-alive sockets go after a while.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 30_000;
  return server;
}

export class RegistryServer {
  readonly storage: RegistryStorage;
  readonly uploads: UploadManager;
  private readonly log: (line: string) => void;

  constructor(private readonly options: RegistryOptions) {
    this.storage = new RegistryStorage(options.root);
    this.uploads = new UploadManager(this.storage, options.uploadTtlMs ?? 24 * 3600_000);
    this.log = options.log ?? (() => undefined);
  }

  async init(): Promise<void> {
    await this.storage.init();
    await this.uploads.start();
  }

  close(): void {
    this.uploads.stop();
  }

  /** A node http(s) server running this registry. */
  createServer(tls?: { cert: Buffer; key: Buffer }): http.Server {
    const server = createHttpServer(tls);
    server.on('request', this.listener);
    return server;
  }

  /** The request listener, for a server made elsewhere. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => void this.handle(req, res);

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://registry');
    const started = Date.now();
    try {
      await this.route({ req, res, url });
    } catch (err) {
      this.fail(res, err);
    } finally {
      this.log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`);
    }
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof RegistryError) {
      send(res, err.status, { 'Content-Type': 'application/json', ...err.headers }, err.body());
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    // A client that hung up mid-body is not the registry's fault; everything else is logged.
    this.log(`error: ${message}`);
    sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: 'unknown error', detail: message }] });
  }

  // Authorization

  private async authorize(ctx: Ctx, wanted: Access[]): Promise<void> {
    const { htpasswd, token } = this.options;
    const header = ctx.req.headers.authorization;
    if (token) {
      const challenge = (access: Access[]): string =>
        `Bearer realm="${token.realm}",service="${token.service}"${access.length ? `,scope="${access.map(formatScope).join(' ')}"` : ''}`;
      const bearer = header && /^bearer /i.test(header) ? header.slice(7).trim() : undefined;
      const claims = bearer ? verifyToken(token, bearer) : undefined;
      if (!claims || claims.refresh) throw unauthorized(challenge(wanted));
      const missing = wanted.filter((w) => !covers(claims.access, w));
      if (missing.length) throw unauthorized(challenge(wanted), 'authentication required', missing.map((m) => ({ Type: m.type, Name: m.name, Action: m.actions.join(',') })));
      return;
    }
    if (htpasswd) {
      const creds = parseBasic(header);
      if (!creds || !(await htpasswd.check(creds.user, creds.password))) throw unauthorized('Basic realm="Berth Registry"');
    }
  }

  /** Whether the caller may `pull` from `from` (for a cross-repository mount); never throws. */
  private async mayPull(ctx: Ctx, from: string): Promise<boolean> {
    try {
      await this.authorize(ctx, [{ type: 'repository', name: from, actions: ['pull'] }]);
      return true;
    } catch {
      return false;
    }
  }

  private writable(): void {
    if (this.options.readOnly) throw registryError('UNSUPPORTED', 'the registry is in read-only mode');
  }

  // Routing

  private async route(ctx: Ctx): Promise<void> {
    const { req, url } = ctx;
    const method = req.method ?? 'GET';
    // The raw path: percent-escapes are never decoded, so "%2e%2e" stays an invalid name.
    const path = (req.url ?? '/').split('?')[0]!;
    if (this.options.token && path === new URL(this.options.token.realm).pathname) return this.tokenEndpoint(ctx);
    if (path === '/v2' || path === '/v2/') {
      if (method !== 'GET' && method !== 'HEAD') throw registryError('UNSUPPORTED', 'method not allowed');
      await this.authorize(ctx, []);
      return sendJson(ctx.res, 200, {});
    }
    if (path === '/v2/_catalog') {
      await this.authorize(ctx, [{ type: 'registry', name: 'catalog', actions: ['*'] }]);
      const { page, link } = paginate(await this.storage.repositories(), url, '/v2/_catalog');
      return sendJson(ctx.res, 200, { repositories: page }, link ? { Link: link } : {});
    }
    let m: RegExpExecArray | null;
    if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path))) return this.tagsList(ctx, checkName(m[1]!));
    if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) return this.manifest(ctx, method, checkName(m[1]!), m[2]!);
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path))) return this.startUpload(ctx, method, checkName(m[1]!));
    if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) return this.upload(ctx, method, checkName(m[1]!), m[2]!);
    if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path))) return this.blob(ctx, method, checkName(m[1]!), m[2]!);
    if ((m = /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path))) return this.referrers(ctx, method, checkName(m[1]!), m[2]!);
    if (path.startsWith('/v2/')) {
      // A path under /v2/ that names something but not validly: tell the client which part.
      throw registryError('NAME_INVALID', 'invalid repository name or route', { path });
    }
    sendJson(ctx.res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found', detail: null }] });
  }

  private async tagsList(ctx: Ctx, name: string): Promise<void> {
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull'] }]);
    if (!(await this.storage.repositoryExists(name))) throw registryError('NAME_UNKNOWN', 'repository name not known to registry', { name });
    const { page, link } = paginate(await this.storage.tags(name), ctx.url, `/v2/${name}/tags/list`);
    sendJson(ctx.res, 200, { name, tags: page }, link ? { Link: link } : {});
  }

  // Manifests

  private async resolveManifest(name: string, ref: string): Promise<string> {
    const { tag, digest } = checkReference(ref);
    if (digest) {
      if ((await this.storage.manifestMediaType(name, digest)) === undefined) throw registryError('MANIFEST_UNKNOWN', 'manifest unknown', { name, digest });
      return digest;
    }
    const target = await this.storage.tagDigest(name, tag!);
    if (!target || (await this.storage.manifestMediaType(name, target)) === undefined) {
      throw registryError('MANIFEST_UNKNOWN', 'manifest unknown', { name, tag });
    }
    return target;
  }

  private async manifest(ctx: Ctx, method: string, name: string, ref: string): Promise<void> {
    if (method === 'GET' || method === 'HEAD') {
      await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull'] }]);
      const digest = await this.resolveManifest(name, ref);
      const mediaType = (await this.storage.manifestMediaType(name, digest))!;
      const bytes = await this.storage.readBlobBytes(digest);
      return send(ctx.res, 200, { 'Content-Type': mediaType, 'Docker-Content-Digest': digest, Etag: `"${digest}"` }, bytes);
    }
    if (method === 'PUT') return this.putManifest(ctx, name, ref);
    if (method === 'DELETE') return this.deleteManifest(ctx, name, ref);
    throw registryError('UNSUPPORTED', 'method not allowed');
  }

  private async putManifest(ctx: Ctx, name: string, ref: string): Promise<void> {
    this.writable();
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull', 'push'] }]);
    const target = checkReference(ref);
    const bytes = await readLimited(ctx.req, MAX_MANIFEST_BYTES);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (target.digest && target.digest !== digest) {
      throw registryError('DIGEST_INVALID', 'manifest digest does not match its content', { expected: target.digest, actual: digest });
    }
    const parsed = parseManifest(bytes, ctx.req.headers['content-type']);
    for (const blob of parsed.blobs) {
      if (!(await this.storage.hasBlobLink(name, blob)) || (await this.storage.blobSize(blob)) === undefined) {
        throw registryError('MANIFEST_BLOB_UNKNOWN', 'blob unknown to registry', { digest: blob });
      }
    }
    for (const child of parsed.manifests) {
      if ((await this.storage.manifestMediaType(name, child)) === undefined) {
        throw registryError('MANIFEST_BLOB_UNKNOWN', 'manifest unknown to registry', { digest: child });
      }
    }
    // Content first, then the link, then the tag: a crash in between leaves only unreferenced data.
    await this.storage.putBlobBytes(digest, bytes);
    await this.storage.linkManifest(name, digest, parsed.mediaType);
    if (parsed.subject) {
      const entry: Descriptor = { mediaType: parsed.mediaType, digest, size: bytes.length };
      if (parsed.artifactType) entry.artifactType = parsed.artifactType;
      if (parsed.annotations) entry.annotations = parsed.annotations;
      await this.storage.addReferrer(name, parsed.subject.digest, entry);
    }
    if (target.tag) await this.storage.setTag(name, target.tag, digest);
    const headers: Record<string, string> = { Location: `/v2/${name}/manifests/${digest}`, 'Docker-Content-Digest': digest };
    if (parsed.subject) headers['OCI-Subject'] = parsed.subject.digest;
    send(ctx.res, 201, headers);
  }

  private async deleteManifest(ctx: Ctx, name: string, ref: string): Promise<void> {
    this.writable();
    if (!this.options.deleteEnabled) throw registryError('UNSUPPORTED', 'deletes are disabled on this registry');
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['delete'] }]);
    const { tag, digest } = checkReference(ref);
    if (tag) {
      if (!(await this.storage.deleteTag(name, tag))) throw registryError('MANIFEST_UNKNOWN', 'manifest unknown', { tag });
      return send(ctx.res, 202);
    }
    if ((await this.storage.manifestMediaType(name, digest!)) === undefined) throw registryError('MANIFEST_UNKNOWN', 'manifest unknown', { digest });
    // Tags pointing at the manifest go with it; so does its entry in a subject's referrers.
    for (const t of await this.storage.tags(name)) {
      if ((await this.storage.tagDigest(name, t)) === digest) await this.storage.deleteTag(name, t);
    }
    try {
      const parsed = parseManifest(await this.storage.readBlobBytes(digest!), undefined);
      if (parsed.subject) await this.storage.removeReferrer(name, parsed.subject.digest, digest!);
    } catch {
      // Unreadable content: there is no referrer entry to clean up.
    }
    await this.storage.unlinkManifest(name, digest!);
    send(ctx.res, 202);
  }

  private async referrers(ctx: Ctx, method: string, name: string, ref: string): Promise<void> {
    if (method !== 'GET' && method !== 'HEAD') throw registryError('UNSUPPORTED', 'method not allowed');
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull'] }]);
    const digest = checkDigest(ref);
    let list = await this.storage.referrers(name, digest);
    const artifactType = ctx.url.searchParams.get('artifactType');
    const headers: Record<string, string> = {};
    if (artifactType) {
      list = list.filter((d) => d.artifactType === artifactType);
      headers['OCI-Filters-Applied'] = 'artifactType';
    }
    sendJson(ctx.res, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: list }, { ...headers, 'Content-Type': OCI_INDEX });
  }

  // Blobs

  private async blob(ctx: Ctx, method: string, name: string, ref: string): Promise<void> {
    if (method === 'DELETE') {
      this.writable();
      if (!this.options.deleteEnabled) throw registryError('UNSUPPORTED', 'deletes are disabled on this registry');
      await this.authorize(ctx, [{ type: 'repository', name, actions: ['delete'] }]);
      const digest = checkDigest(ref);
      if (!(await this.storage.unlinkBlob(name, digest))) throw registryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
      return send(ctx.res, 202, { 'Docker-Content-Digest': digest });
    }
    if (method !== 'GET' && method !== 'HEAD') throw registryError('UNSUPPORTED', 'method not allowed');
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull'] }]);
    const digest = checkDigest(ref);
    const size = (await this.storage.hasBlobLink(name, digest)) ? await this.storage.blobSize(digest) : undefined;
    if (size === undefined) throw registryError('BLOB_UNKNOWN', 'blob unknown to registry', { digest });
    const range = size > 0 ? parseRange(ctx.req.headers.range, size) : undefined;
    const headers: Record<string, string | number> = {
      ...API_HEADER,
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest,
      'Accept-Ranges': 'bytes',
      Etag: `"${digest}"`,
      'Cache-Control': 'max-age=31536000',
    };
    if (method === 'HEAD') {
      ctx.res.writeHead(200, { ...headers, 'Content-Length': size });
      ctx.res.end();
      return;
    }
    if (range) {
      ctx.res.writeHead(206, { ...headers, 'Content-Length': range.end - range.start + 1, 'Content-Range': `bytes ${range.start}-${range.end}/${size}` });
    } else {
      ctx.res.writeHead(200, { ...headers, 'Content-Length': size });
    }
    await sendFileRange(ctx.res, this.storage.blobPath(digest), range?.start ?? 0, range ? range.end + 1 : size);
  }

  private async startUpload(ctx: Ctx, method: string, name: string): Promise<void> {
    if (method !== 'POST') throw registryError('UNSUPPORTED', 'method not allowed');
    this.writable();
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull', 'push'] }]);
    const { searchParams } = ctx.url;
    const mount = searchParams.get('mount');
    const from = searchParams.get('from');
    if (mount) {
      const digest = checkDigest(mount);
      if (from) checkName(from);
      // Mount only from a repository the caller may read that really holds the blob; else fall
      // through to an ordinary upload session, as the spec says.
      if (from && (await this.mayPull(ctx, from)) && (await this.storage.hasBlobLink(from, digest)) && (await this.storage.blobSize(digest)) !== undefined) {
        await this.storage.linkBlob(name, digest);
        return send(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
      }
    }
    const digestParam = searchParams.get('digest');
    if (digestParam) {
      const digest = checkDigest(digestParam);
      await this.uploads.monolithic(name, digest, ctx.req);
      await this.storage.linkBlob(name, digest);
      return send(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    }
    ctx.req.resume();
    const id = await this.uploads.create(name);
    send(ctx.res, 202, uploadHeaders(name, id, 0));
  }

  private async upload(ctx: Ctx, method: string, name: string, id: string): Promise<void> {
    if (method === 'GET' || method === 'HEAD') {
      await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull'] }]);
      const size = await this.uploads.status(name, id);
      return send(ctx.res, 204, uploadHeaders(name, id, size));
    }
    this.writable();
    await this.authorize(ctx, [{ type: 'repository', name, actions: ['pull', 'push'] }]);
    if (method === 'PATCH') {
      const start = parseContentRange(ctx.req.headers['content-range'] as string | undefined);
      const size = await this.uploads.append(name, id, ctx.req, start);
      return send(ctx.res, 202, uploadHeaders(name, id, size));
    }
    if (method === 'PUT') {
      const digestParam = ctx.url.searchParams.get('digest');
      if (!digestParam) {
        ctx.req.resume();
        throw registryError('DIGEST_INVALID', 'digest parameter is required to close an upload');
      }
      const digest = checkDigest(digestParam);
      await this.uploads.complete(name, id, digest, ctx.req);
      await this.storage.linkBlob(name, digest);
      return send(ctx.res, 201, { Location: `/v2/${name}/blobs/${digest}`, 'Docker-Content-Digest': digest });
    }
    if (method === 'DELETE') {
      await this.uploads.cancel(name, id);
      return send(ctx.res, 204);
    }
    throw registryError('UNSUPPORTED', 'method not allowed');
  }

  // The built-in token endpoint

  private async tokenEndpoint(ctx: Ctx): Promise<void> {
    const token = this.options.token!;
    const { req } = ctx;
    let params = ctx.url.searchParams;
    if (req.method === 'POST') {
      params = new URLSearchParams((await readLimited(req, 64 * 1024)).toString('utf8'));
    }
    const service = params.get('service');
    if (service && service !== token.service) return sendJson(ctx.res, 400, { errors: [{ code: 'DENIED', message: `unknown service ${service}` }] });
    let subject = '';
    let offline = false;
    if (req.method === 'POST') {
      // OAuth2 form (docker login): password grant, or a refresh token (the IdentityToken).
      const grant = params.get('grant_type');
      offline = params.get('access_type') === 'offline';
      if (grant === 'refresh_token') {
        const claims = verifyToken(token, params.get('refresh_token') ?? '');
        if (!claims?.refresh) return sendJson(ctx.res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid refresh token' }] });
        subject = claims.sub;
      } else if (grant === 'password') {
        subject = await this.checkUser(params.get('username') ?? '', params.get('password') ?? '');
      } else {
        return sendJson(ctx.res, 400, { errors: [{ code: 'UNSUPPORTED', message: `unsupported grant_type ${grant}` }] });
      }
    } else {
      const creds = parseBasic(req.headers.authorization);
      if (creds) subject = await this.checkUser(creds.user, creds.password);
      offline = params.get('offline_token') === 'true';
    }
    // Anonymous callers get a token without access (docker asks before it knows it needs credentials);
    // without an htpasswd file everyone is trusted.
    const granted = subject || !this.options.htpasswd ? parseScopes(params.getAll('scope')) : [];
    const accessToken = issueToken(token, subject, granted);
    const now = new Date().toISOString();
    const body: Record<string, unknown> = { token: accessToken, access_token: accessToken, expires_in: token.ttl, issued_at: now };
    if (offline && subject) body.refresh_token = issueToken(token, subject, [], { refresh: true, ttl: 30 * 24 * 3600 });
    sendJson(ctx.res, 200, body);
  }

  /** The user's name if the password is right; throws UNAUTHORIZED otherwise. */
  private async checkUser(user: string, password: string): Promise<string> {
    const htpasswd = this.options.htpasswd;
    if (!htpasswd) return user || 'anonymous';
    if (await htpasswd.check(user, password)) return user;
    throw registryError('UNAUTHORIZED', 'invalid username or password');
  }
}

