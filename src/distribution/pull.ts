/**
 * Pull: resolve the manifest (choosing a platform from a list or index), fetch and verify the
 * config, download missing layers (a few at a time, each verified by digest while it streams
 * to a temp file), unpack them bottom up, then record the image and its tag and digest.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { chainIds } from '../snapshot/chain.js';
import { familiarName, familiarString, fullName, type ImageReference } from '../image/reference.js';
import { BerthError, invalidParameter, notFound, systemError } from '../util/errors.js';
import type { AuthConfig } from './auth.js';
import { endpointsFor, isEndpointFailure } from './endpoints.js';
import type { LayerDigests } from './layer-digests.js';
import { ProgressStream, shortDigest } from './progress.js';
import { RegistryClient, RegistryResponseError } from './registry-client.js';
import { Limiter, hostPlatform, type DistributionConfig, type DistributionImages, type Platform } from './types.js';

const LIST_TYPES = ['application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.oci.image.index.v1+json'];
const IMAGE_TYPES = ['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json'];
const CONFIG_TYPES = ['application/vnd.docker.container.image.v1+json', 'application/vnd.oci.image.config.v1+json'];

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface PullRequest {
  ref: ImageReference;
  allTags: boolean;
  platform?: Platform;
  auth: AuthConfig;
}

export interface PullDeps {
  images: DistributionImages;
  config: DistributionConfig;
  layerDigests: LayerDigests;
  tmpDir: string;
  onPulled: (ref: string) => void;
}

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function checkDescriptor(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | undefined;
  if (!d || typeof d.digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d.digest) || typeof d.size !== 'number' || d.size < 0) {
    throw invalidParameter(`invalid ${where} descriptor in manifest`);
  }
  return d as Descriptor;
}

interface Connection {
  client: RegistryClient;
  manifest: { bytes: Buffer; mediaType: string };
}

/** Opens a client on the first endpoint that answers (mirrors first for Docker Hub names). */
async function connect(deps: PullDeps, ref: ImageReference, auth: AuthConfig, reference: string): Promise<Connection>;
/**
 * With `manifestOptional`, an endpoint that answers but lacks the manifest still yields its
 * client (pull -a of a repository without "latest" lists tags through the endpoint that spoke).
 */
async function connect(deps: PullDeps, ref: ImageReference, auth: AuthConfig, reference: string, manifestOptional: true): Promise<Partial<Connection> & { client: RegistryClient }>;
async function connect(deps: PullDeps, ref: ImageReference, auth: AuthConfig, reference: string, manifestOptional = false): Promise<Partial<Connection> & { client: RegistryClient }> {
  const endpoints = endpointsFor(ref.domain, deps.config);
  let lastError: unknown;
  for (const endpoint of endpoints) {
    const client = new RegistryClient(endpoint, ref.path, auth, ['pull']);
    try {
      const manifest = await client.getManifest(reference);
      return { client, manifest };
    } catch (err) {
      lastError = err;
      if (manifestOptional && !endpoint.mirror && (err as { kind?: string }).kind === 'notFound') return { client };
      // A mirror that lacks the image, or an endpoint that does not speak to us: try the next.
      if (endpoint.mirror || isEndpointFailure(err)) continue;
      throw err;
    }
  }
  if (isEndpointFailure(lastError)) {
    throw systemError(`Get "${endpoints.at(-1)?.base}/v2/": ${(lastError as Error).message}`);
  }
  throw lastError;
}

/**
 * A registry's "not there" answers in moby's words (translatePullError): the reference as the
 * user wrote it (registry host included), then the registry's own "code: message".
 */
export function translatePullError(err: unknown, ref: ImageReference): unknown {
  if (!(err instanceof RegistryResponseError)) return err;
  const code = err.codes[0];
  if (code === 'MANIFEST_UNKNOWN' || (err.status === 404 && code === undefined)) {
    return new BerthError('notFound', `manifest for ${familiarString(ref)} not found: ${code ? err.detail : 'manifest unknown: manifest unknown'}`);
  }
  if (code === 'NAME_UNKNOWN') return new BerthError('notFound', `repository ${familiarName(ref)} not found: ${err.detail}`);
  if (code === 'DENIED') {
    return new BerthError('notFound', `pull access denied for ${familiarName(ref)}, repository does not exist or may require 'docker login': ${err.detail}`);
  }
  return err;
}

export async function pull(deps: PullDeps, req: PullRequest, progress: ProgressStream): Promise<void> {
  try {
    await pullAll(deps, req, progress);
  } catch (err) {
    throw translatePullError(err, req.ref);
  }
}

async function pullAll(deps: PullDeps, req: PullRequest, progress: ProgressStream): Promise<void> {
  const ref = req.ref;
  if (req.allTags) {
    // The repository may have no "latest": the endpoint that answered still lists the tags.
    const { client } = await connect(deps, ref, req.auth, 'latest', true);
    const tags = await client.tags();
    if (tags.length === 0) throw notFound(`no tags found for ${familiarName(ref)}`);
    for (const tag of tags) {
      const tagRef: ImageReference = { domain: ref.domain, path: ref.path, tag };
      await pullOne(deps, { ...req, ref: tagRef }, progress).catch((err: unknown) => {
        throw translatePullError(err, tagRef);
      });
    }
    progress.status(`Status: Downloaded newer image${tags.length > 1 ? 's' : ''} for ${familiarName(ref)}`);
    return;
  }
  const summary = await pullOne(deps, req, progress);
  progress.status(`Digest: ${summary.digest}`);
  progress.status(summary.fresh ? `Status: Downloaded newer image for ${familiarString(ref)}` : `Status: Image is up to date for ${familiarString(ref)}`);
}

async function pullOne(deps: PullDeps, req: PullRequest, progress: ProgressStream): Promise<{ digest: string; fresh: boolean }> {
  const ref = req.ref;
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const { client, manifest: first } = await connect(deps, ref, req.auth, reference);
  progress.status(`Pulling from ${ref.path}`, reference);
  const topDigest = sha256(first.bytes);
  if (ref.digest && topDigest !== ref.digest) throw invalidParameter(`manifest verification failed for digest ${ref.digest}: got ${topDigest}`);

  let manifest = first;
  let doc = parseJson(first.bytes, 'manifest');
  let mediaType = first.mediaType || (typeof doc.mediaType === 'string' ? doc.mediaType : '');
  if (LIST_TYPES.includes(mediaType) || (Array.isArray(doc.manifests) && !doc.layers)) {
    const wanted = req.platform ?? hostPlatform();
    const entries = (doc.manifests as unknown[]).map((m, i) => checkDescriptor(m, `manifests[${i}]`));
    const match = entries.find((m) => m.platform?.os === wanted.os && m.platform?.architecture === wanted.architecture && (!wanted.variant || m.platform?.variant === wanted.variant));
    if (!match) throw notFound(`no matching manifest for ${wanted.os}/${wanted.architecture}${wanted.variant ? `/${wanted.variant}` : ''} in the manifest list entries`);
    manifest = await client.getManifest(match.digest);
    if (sha256(manifest.bytes) !== match.digest) throw invalidParameter(`manifest verification failed for digest ${match.digest}`);
    doc = parseJson(manifest.bytes, 'manifest');
    mediaType = manifest.mediaType || (typeof doc.mediaType === 'string' ? doc.mediaType : '');
  }
  if (mediaType && !IMAGE_TYPES.includes(mediaType)) throw invalidParameter(`unsupported manifest media type ${mediaType}`);
  if (doc.schemaVersion !== 2) throw invalidParameter('unsupported manifest schema version (only schema 2 is supported)');
  const configDesc = checkDescriptor(doc.config, 'config');
  if (configDesc.mediaType && !CONFIG_TYPES.includes(configDesc.mediaType)) {
    throw invalidParameter(`${familiarString(ref)} is not a container image (config media type ${configDesc.mediaType})`);
  }
  const layers = (Array.isArray(doc.layers) ? doc.layers : []).map((l, i) => checkDescriptor(l, `layers[${i}]`));

  const configRes = await client.getBlob(configDesc.digest);
  const configBytes = await readAllLimited(configRes, 8 * 1024 * 1024);
  if (sha256(configBytes) !== configDesc.digest) throw invalidParameter(`config blob verification failed: digest mismatch for ${configDesc.digest}`);
  const config = parseJson(configBytes, 'image config') as { rootfs?: { diff_ids?: unknown } };
  const diffIds = Array.isArray(config.rootfs?.diff_ids) ? (config.rootfs.diff_ids as string[]) : [];
  if (diffIds.length !== layers.length) throw invalidParameter(`image config has ${diffIds.length} diff_ids but the manifest ${layers.length} layers`);

  const existed = deps.images.get(configDesc.digest) !== undefined;
  const chains = chainIds(diffIds);
  const source = `${ref.domain}/${ref.path}`;
  const limiter = new Limiter(Math.max(1, deps.config.maxConcurrentDownloads));
  await mkdir(deps.tmpDir, { recursive: true });
  const files: string[] = [];
  try {
    const downloads = new Map<string, Promise<string>>();
    const needed = layers.map((_l, i) => !deps.images.layers.exists(chains[i]!));
    for (const [i, layer] of layers.entries()) {
      const id = shortDigest(layer.digest);
      if (!needed[i]) progress.status('Already exists', id);
      else if (!downloads.has(layer.digest)) progress.status('Pulling fs layer', id);
    }
    for (const [i, layer] of layers.entries()) {
      if (!needed[i] || downloads.has(layer.digest)) continue;
      const id = shortDigest(layer.digest);
      if (limiter.full) progress.status('Waiting', id);
      const file = join(deps.tmpDir, `${randomBytes(8).toString('hex')}.blob`);
      files.push(file);
      const job = limiter.run(() => download(client, layer, file, id, progress));
      job.catch(() => undefined);
      downloads.set(layer.digest, job);
    }
    let parent: string | undefined;
    for (const [i, layer] of layers.entries()) {
      const id = shortDigest(layer.digest);
      if (needed[i] && !deps.images.layers.exists(chains[i]!)) {
        const file = await downloads.get(layer.digest)!;
        await extract(deps.images, parent, file, layer, diffIds[i]!, id, progress);
        progress.status('Pull complete', id);
      }
      await deps.layerDigests.add(diffIds[i]!, { digest: layer.digest, size: layer.size, source });
      parent = chains[i];
    }
  } finally {
    await Promise.all(files.map((f) => rm(f, { force: true })));
  }

  const image = await deps.images.createImageFromConfigBytes(configBytes);
  const repoName = fullName(ref);
  const before = ref.tag ? deps.images.tryResolve(`${repoName}:${ref.tag}`)?.id : undefined;
  if (ref.tag) await deps.images.tag(image.id, `${repoName}:${ref.tag}`);
  await deps.images.addDigestReference(`${repoName}@${topDigest}`, image.id);
  deps.onPulled(familiarString(ref));
  return { digest: topDigest, fresh: !existed || (ref.tag !== undefined && before !== image.id) };
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw invalidParameter(`invalid ${what}: ${(err as Error).message}`);
  }
}

async function readAllLimited(stream: AsyncIterable<Buffer>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) throw invalidParameter(`blob larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Streams a blob to `file`, hashing as it goes; the file is only used if the digest matches. */
async function download(client: RegistryClient, layer: Descriptor, file: string, id: string, progress: ProgressStream): Promise<string> {
  const res = await client.getBlob(layer.digest);
  const hash = createHash('sha256');
  let current = 0;
  const total = layer.size;
  await pipeline(
    res,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        hash.update(chunk);
        current += chunk.length;
        progress.bytes('Downloading', id, current, total);
        yield chunk;
      }
    },
    createWriteStream(file, { highWaterMark: 1 << 20 }),
  );
  progress.status('Verifying Checksum', id);
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== layer.digest) throw invalidParameter(`filesystem layer verification failed for digest ${layer.digest}: got ${actual}`);
  if (current !== layer.size) throw invalidParameter(`layer ${layer.digest}: size ${current} does not match the manifest's ${layer.size}`);
  progress.status('Download complete', id);
  return file;
}

async function extract(images: DistributionImages, parent: string | undefined, file: string, layer: Descriptor, diffId: string, id: string, progress: ProgressStream): Promise<void> {
  let current = 0;
  const total = layer.size;
  const counted = (async function* () {
    for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
      current += (chunk as Buffer).length;
      progress.bytes('Extracting', id, current, total);
      yield chunk as Buffer;
    }
  })();
  await images.applyLayer(parent, counted, { expectedDiffId: diffId });
}
