/**
 * Engine API routes that talk to registries: pull (POST /images/create?fromImage=), push,
 * login (POST /auth) and search. The work is in src/distribution; this file parses the
 * request, decodes X-Registry-Auth and streams docker's JSON progress.
 */
import type { ServerResponse } from 'node:http';
import type { Router, RequestContext } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { checkFilterKeys, queryFilters, readJsonObject, sendJson, queryInt } from '../io.js';
import { errorMessage, invalidParameter, notImplemented } from '../../util/errors.js';
import { parseNormalizedNamed, type ImageReference } from '../../image/reference.js';
import { decodeRegistryAuth, type AuthConfig } from '../../distribution/auth.js';
import type { Distribution } from '../../distribution/service.js';
import { ProgressStream } from '../../distribution/progress.js';
import { isDistributionImages, parsePlatform } from '../../distribution/types.js';

const services = new WeakMap<Daemon, Promise<Distribution>>();

/** The daemon's Distribution service, made on first use (it reads the layer records from disk). */
function serviceOf(daemon: Daemon): () => Promise<Distribution> {
  return () => {
    let service = services.get(daemon);
    if (service) return service;
    const images = daemon.images;
    if (!isDistributionImages(images)) throw notImplemented('this daemon\'s image store cannot pull or push');
    // Loaded on the first pull or push: a daemon that never talks to a registry doesn't carry it.
    service = import('../../distribution/service.js').then(({ Distribution: Service }) => Service.open(
      daemon.config.dataRoot,
      images,
      {
        insecureRegistries: daemon.config.insecureRegistries ?? [],
        registryMirrors: daemon.config.registryMirrors ?? [],
        maxConcurrentDownloads: daemon.config.maxConcurrentDownloads ?? 3,
        maxConcurrentUploads: daemon.config.maxConcurrentUploads ?? 3,
      },
      {
        pulled: (ref) => daemon.events.publish('image', 'pull', ref, { name: ref }),
        pushed: (ref) => daemon.events.publish('image', 'push', ref, { name: ref }),
      },
    ));
    services.set(daemon, service);
    service.catch(() => services.delete(daemon));
    return service;
  };
}

/**
 * Runs a progress-streaming operation: the 200 goes out with the first line; an error before
 * that is an ordinary error response, an error after it a final {"error"} line.
 */
async function streamProgress(res: ServerResponse, work: (progress: ProgressStream) => Promise<void>): Promise<void> {
  const progress = new ProgressStream(res, () => res.writeHead(200, { 'Content-Type': 'application/json' }));
  try {
    await work(progress);
  } catch (err) {
    if (!progress.started) throw err;
    progress.error(errorMessage(err));
  }
  res.end();
}

/** fromImage (which may carry a tag or digest) and the tag parameter (a tag or a digest). */
export function pullReference(fromImage: string, tag: string): { ref: ImageReference; allTags: boolean } {
  const ref = parseNormalizedNamed(fromImage);
  if (tag) {
    if (tag.includes(':')) {
      const withDigest = parseNormalizedNamed(`${fromImage.replace(/[:@].*$/, '')}@${tag}`);
      return { ref: { domain: ref.domain, path: ref.path, digest: withDigest.digest! }, allTags: false };
    }
    const withTag = parseNormalizedNamed(`${fromImage.replace(/@.*$/, '').replace(/:[^/]*$/, '')}:${tag}`);
    return { ref: { domain: withTag.domain, path: withTag.path, tag: withTag.tag! }, allTags: false };
  }
  // docker: a name without tag or digest, and no tag parameter, pulls every tag.
  return { ref, allTags: ref.tag === undefined && ref.digest === undefined };
}

function authOf(ctx: RequestContext): AuthConfig {
  return decodeRegistryAuth(ctx.req.headers['x-registry-auth']);
}

/** POST /images/create?fromImage=...; images.ts hands these requests here. */
export async function pullImage(daemon: Daemon, ctx: RequestContext): Promise<void> {
  const { ref, allTags } = pullReference(ctx.query.get('fromImage') ?? '', ctx.query.get('tag') ?? '');
  const platformText = ctx.query.get('platform');
  const auth = authOf(ctx);
  const distribution = await serviceOf(daemon)();
  ctx.req.resume();
  await streamProgress(ctx.res, (progress) =>
    distribution.pull({ ref, allTags, auth, ...(platformText ? { platform: parsePlatform(platformText) } : {}) }, progress),
  );
}

export function distributionRoutes(router: Router, daemon: Daemon): void {
  const service = serviceOf(daemon);

  router.on('POST', '/images/{name*}/push', async (ctx) => {
    const ref = parseNormalizedNamed(ctx.params.name!);
    if (ref.digest !== undefined) throw invalidParameter('cannot push a digest reference');
    const tag = ctx.query.get('tag') || ref.tag;
    const auth = authOf(ctx);
    const distribution = await service();
    ctx.req.resume();
    await streamProgress(ctx.res, (progress) => distribution.push({ ref: { domain: ref.domain, path: ref.path }, ...(tag ? { tag } : {}), auth }, progress));
  });

  router.on('POST', '/auth', async ({ req, res }) => {
    const body = await readJsonObject(req);
    const auth: AuthConfig = {};
    for (const key of ['username', 'password', 'serveraddress', 'identitytoken'] as const) {
      const value = body[key];
      if (value !== undefined && typeof value !== 'string') throw invalidParameter(`invalid ${key}: must be a string`);
      if (value) auth[key] = value;
    }
    sendJson(res, 200, await (await service()).login(auth));
  });

  router.on('GET', '/images/search', async (ctx) => {
    const term = ctx.query.get('term');
    if (!term) throw invalidParameter('term is required');
    const limit = queryInt(ctx.query, 'limit') ?? 25;
    if (limit < 1 || limit > 100) throw invalidParameter('limit must be between 1 and 100');
    const filters = queryFilters(ctx.query);
    checkFilterKeys(filters, ['is-automated', 'is-official', 'stars']);
    const flag = (key: string): boolean | undefined => {
      const values = filters.get(key);
      if (!values?.length) return undefined;
      const v = values[0]!.toLowerCase();
      if (!['true', 'false', '1', '0'].includes(v)) throw invalidParameter(`invalid filter '${key}=${values[0]}'`);
      return v === 'true' || v === '1';
    };
    const official = flag('is-official');
    const automated = flag('is-automated');
    let minStars = 0;
    for (const v of filters.get('stars') ?? []) {
      if (!/^-?\d+$/.test(v)) throw invalidParameter(`invalid filter 'stars=${v}'`);
      minStars = Math.max(minStars, Number(v));
    }
    const results = (await (await service()).search(term, limit, authOf(ctx))).filter(
      (r) => (official === undefined || r.is_official === official) && (automated === undefined || r.is_automated === automated) && r.star_count >= minStars,
    );
    sendJson(ctx.res, 200, results);
  });
}
