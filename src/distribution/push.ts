/**
 * Push: for each layer, skip it when the registry already has a compressed form we know of
 * (HEAD), mount it from a sibling repository on the same registry, or gzip the layer's tar
 * and upload it; then the config blob (its exact bytes) and a schema2 manifest. Compressed
 * digests are remembered per diffID, so a second push finds the blobs and yields the same
 * manifest digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlib } from 'node:zlib';
import { familiarName, fullName, parseNormalizedNamed, type ImageReference } from '../image/reference.js';
import { notFound, systemError } from '../util/errors.js';
import type { AuthConfig } from './auth.js';
import { endpointsFor, isEndpointFailure } from './endpoints.js';
import type { CompressedLayer, LayerDigests } from './layer-digests.js';
import { ProgressStream, shortDigest } from './progress.js';
import { RegistryClient } from './registry-client.js';
import { Limiter, type DistributionConfig, type DistributionImages } from './types.js';

const MANIFEST_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
const CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json';
const LAYER_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/**
 * Fixed forever: the same tar must always compress to the same bytes so a re-push of a layer
 * we have no record of still finds the blob. Level 1 keeps a push CPU-light.
 */
const GZIP_LEVEL = zlib.Z_BEST_SPEED;

export interface PushRequest {
  ref: ImageReference;
  /** Absent: every local tag of the repository. */
  tag?: string;
  auth: AuthConfig;
}

export interface PushDeps {
  images: DistributionImages;
  config: DistributionConfig;
  layerDigests: LayerDigests;
  tmpDir: string;
  onPushed: (ref: string) => void;
}

export async function push(deps: PushDeps, req: PushRequest, progress: ProgressStream): Promise<void> {
  const repoName = fullName(req.ref);
  const tags = req.tag
    ? [req.tag]
    : [...new Set(deps.images.list().flatMap((i) => i.repoTags).map((t) => resolveTag(t, repoName)).filter((t): t is string => t !== undefined))].sort();
  if (tags.length === 0 || (req.tag && !deps.images.tryResolve(`${repoName}:${req.tag}`))) {
    throw notFound(`An image does not exist locally with the tag: ${familiarName(req.ref)}`);
  }
  progress.status(`The push refers to repository [${repoName}]`);
  const images = tags.map((tag) => ({ tag, image: deps.images.resolve(`${repoName}:${tag}`) }));
  // Repositories on the same registry that may hold our layers: ask the token for pull there too.
  const siblings = new Set<string>();
  for (const { image } of images) {
    for (const diffId of image.config.rootfs.diff_ids) {
      for (const c of deps.layerDigests.get(diffId)) {
        const repo = siblingRepo(c, req.ref);
        if (repo) siblings.add(repo);
      }
    }
  }
  const client = await connect(deps, req, [...siblings].map((r) => `repository:${r}:pull`));
  for (const { tag, image } of images) await pushOne(deps, client, req.ref, tag, image.id, progress);
}

/** "127.0.0.1:5000/x:1" -> "1" when the tag belongs to the repository `repoName`. */
function resolveTag(familiarTag: string, repoName: string): string | undefined {
  const ref = parseNormalizedNamed(familiarTag);
  return fullName(ref) === repoName ? ref.tag : undefined;
}

function siblingRepo(layer: CompressedLayer, ref: ImageReference): string | undefined {
  const prefix = `${ref.domain}/`;
  if (!layer.source.startsWith(prefix)) return undefined;
  const repo = layer.source.slice(prefix.length);
  return repo === ref.path ? undefined : repo;
}

async function connect(deps: PushDeps, req: PushRequest, extraScopes: string[]): Promise<RegistryClient> {
  // Mirrors are for pulls only.
  const endpoints = endpointsFor(req.ref.domain, deps.config).filter((e) => !e.mirror);
  let lastError: unknown;
  for (const endpoint of endpoints) {
    const client = new RegistryClient(endpoint, req.ref.path, req.auth, ['pull', 'push'], extraScopes);
    try {
      await client.prepare();
      return client;
    } catch (err) {
      lastError = err;
      if (isEndpointFailure(err)) continue;
      throw err;
    }
  }
  throw systemError(`Get "${endpoints.at(-1)?.base}/v2/": ${(lastError as Error).message}`);
}

async function pushOne(deps: PushDeps, client: RegistryClient, ref: ImageReference, tag: string, imageId: string, progress: ProgressStream): Promise<void> {
  const configBytes = await deps.images.configBytes(imageId);
  const image = deps.images.get(imageId)!;
  const diffIds = image.config.rootfs.diff_ids;
  const limiter = new Limiter(Math.max(1, deps.config.maxConcurrentUploads));
  // docker lists layers top first.
  const order = diffIds.map((d, i) => ({ diffId: d, index: i })).reverse();
  for (const { diffId } of order) progress.status('Preparing', shortDigest(diffId));
  const results: Promise<{ digest: string; size: number }>[] = [];
  for (const { diffId, index } of order) {
    if (limiter.full) progress.status('Waiting', shortDigest(diffId));
    const job = limiter.run(() => pushLayer(deps, client, ref, diffId, progress));
    job.catch(() => undefined);
    results[index] = job;
  }
  const layers = await Promise.all(results);

  const configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
  if ((await client.headBlob(configDigest)) === undefined) await client.uploadSmallBlob(configDigest, configBytes);

  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_TYPE,
    config: { mediaType: CONFIG_TYPE, size: configBytes.length, digest: configDigest },
    layers: layers.map((l) => ({ mediaType: LAYER_TYPE, size: l.size, digest: l.digest })),
  };
  // docker indents pushed manifests with three spaces; same bytes, same digest as docker's.
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  await client.putManifest(tag, MANIFEST_TYPE, bytes);
  await deps.images.addDigestReference(`${fullName(ref)}@${digest}`, imageId);
  progress.send({ status: `${tag}: digest: ${digest} size: ${bytes.length}` });
  progress.send({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: bytes.length } });
  deps.onPushed(`${familiarName(ref)}:${tag}`);
}

async function pushLayer(deps: PushDeps, client: RegistryClient, ref: ImageReference, diffId: string, progress: ProgressStream): Promise<{ digest: string; size: number }> {
  const id = shortDigest(diffId);
  const source = `${ref.domain}/${ref.path}`;
  const known = deps.layerDigests.get(diffId).filter((c) => c.source.startsWith(`${ref.domain}/`));
  for (const c of known) {
    if ((await client.headBlob(c.digest)) !== undefined) {
      progress.status('Layer already exists', id);
      await deps.layerDigests.add(diffId, { digest: c.digest, size: c.size, source });
      return { digest: c.digest, size: c.size };
    }
  }
  for (const c of known) {
    const from = siblingRepo(c, ref);
    if (from && (await client.mount(c.digest, from))) {
      progress.status(`Mounted from ${from}`, id);
      await deps.layerDigests.add(diffId, { digest: c.digest, size: c.size, source });
      return { digest: c.digest, size: c.size };
    }
  }
  await mkdir(deps.tmpDir, { recursive: true });
  const file = join(deps.tmpDir, `${randomBytes(8).toString('hex')}.gz`);
  try {
    const { digest, size } = await compress(deps.images.layerTarPath(diffId), file);
    if ((await client.headBlob(digest)) !== undefined) {
      progress.status('Layer already exists', id);
    } else {
      let current = 0;
      await client.uploadBlob(digest, size, () =>
        Readable.from(
          (async function* () {
            for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
              current += (chunk as Buffer).length;
              progress.bytes('Pushing', id, current, size);
              yield chunk as Buffer;
            }
          })(),
        ),
      );
      progress.status('Pushed', id);
    }
    await deps.layerDigests.add(diffId, { digest, size, source });
    return { digest, size };
  } finally {
    await rm(file, { force: true });
  }
}

/** gzips a layer tar into `file`, returning the compressed digest and size. */
async function compress(tarPath: string, file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    createReadStream(tarPath, { highWaterMark: 1 << 20 }),
    createGzip({ level: GZIP_LEVEL }),
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    },
    createWriteStream(file, { highWaterMark: 1 << 20 }),
  );
  return { digest: `sha256:${hash.digest('hex')}`, size };
}
