/**
 * Pull: resolve the manifest (choosing a platform from a list or index), fetch and verify the
 * config, download missing layers (a few at a time) unpacking each privately while it streams
 * and is hashed, commit them bottom up once verified, then record the image, its tag and digest.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { StagedLayerHandle } from '../snapshot/layer-store.js';
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
  await pullLayers(deps, client, layers, diffIds, chains, `${ref.domain}/${ref.path}`, progress);

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

/**
 * Gets the layers the store lacks. Each needed blob streams from the registry through a
 * sha256 of the compressed bytes straight into a private unpack (several at once: a layer's
 * content does not depend on its parent); then, bottom up, each is committed only after its
 * digest and size matched the manifest. Whatever is not committed is discarded, also when
 * another layer fails.
 */
async function pullLayers(deps: PullDeps, client: RegistryClient, layers: Descriptor[], diffIds: string[], chains: string[], source: string, progress: ProgressStream): Promise<void> {
  const needed = layers.map((_l, i) => !deps.images.layers.exists(chains[i]!));
  // A digest can appear more than once (empty layers do): it is fetched for its first needed
  // position only; the later ones unpack the tar that the first one's commit stored.
  const fetchedAt = new Map<string, number>();
  for (const [i, layer] of layers.entries()) {
    if (needed[i] && !fetchedAt.has(layer.digest)) fetchedAt.set(layer.digest, i);
  }
  for (const [i, layer] of layers.entries()) {
    const id = shortDigest(layer.digest);
    if (!needed[i]) progress.status('Already exists', id);
    else if (fetchedAt.get(layer.digest) === i) progress.status('Pulling fs layer', id);
  }

  const limiter = new Limiter(Math.max(1, deps.config.maxConcurrentDownloads));
  const transfers = new Transfers();
  const staging = new Map<string, Promise<StagedLayerHandle>>();
  try {
    for (const [digest, i] of fetchedAt) {
      const id = shortDigest(digest);
      if (limiter.full) progress.status('Waiting', id);
      const job = limiter.run(() => fetchAndStage(deps.images, client, layers[i]!, id, progress, transfers));
      job.catch(() => undefined);
      staging.set(digest, job);
    }
    let parent: string | undefined;
    for (const [i, layer] of layers.entries()) {
      const id = shortDigest(layer.digest);
      if (needed[i]) {
        const first = fetchedAt.get(layer.digest)!;
        if (first === i) {
          const staged = await staging.get(layer.digest)!;
          if (deps.images.layers.exists(chains[i]!)) {
            await staged.discard(); // another pull committed the same chain meanwhile
          } else {
            progress.bytes('Extracting', id, layer.size, layer.size);
            await staged.commit(parent, { expectedDiffId: diffIds[i]! });
          }
        } else if (!deps.images.layers.exists(chains[i]!)) {
          progress.bytes('Extracting', id, layer.size, layer.size);
          const tar = createReadStream(deps.images.layerTarPath(diffIds[first]!), { highWaterMark: 1 << 20 });
          await deps.images.applyLayer(parent, tar, { expectedDiffId: diffIds[i]! });
        }
        progress.status('Pull complete', id);
      }
      await deps.layerDigests.add(diffIds[i]!, { digest: layer.digest, size: layer.size, source });
      parent = chains[i];
    }
  } catch (err) {
    transfers.cancel();
    throw err;
  } finally {
    // Wait for every transfer to end, so no unpack outlives the pull, and drop what was not committed.
    const settled = await Promise.allSettled(staging.values());
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.discard() : undefined)));
  }
}

/** The responses of a pull's layer transfers, so a failure elsewhere can stop them all. */
class Transfers {
  private cancelled = false;
  private readonly live = new Set<IncomingMessage>();

  check(): void {
    if (this.cancelled) throw new Error('pull cancelled');
  }

  track(res: IncomingMessage): void {
    if (this.cancelled) res.destroy();
    this.live.add(res);
    res.once('close', () => this.live.delete(res));
  }

  cancel(): void {
    this.cancelled = true;
    for (const res of this.live) res.destroy();
  }
}

/** Bytes handed to the unpack at a time: its per-chunk costs (hash, blob write, tar parser, file writes) want large chunks. */
const FEED_BYTES = 1 << 20;

/**
 * Streams one layer blob into a staged unpack while hashing the compressed bytes. The staged
 * layer is returned only once the digest and size matched the descriptor; otherwise it is
 * discarded. When the unpack fails first (a corrupt blob is usually not valid gzip either),
 * the download still runs to its end so the digest says which went wrong.
 */
async function fetchAndStage(images: DistributionImages, client: RegistryClient, layer: Descriptor, id: string, progress: ProgressStream, transfers: Transfers): Promise<StagedLayerHandle> {
  transfers.check();
  const res = await client.getBlob(layer.digest);
  transfers.track(res);
  const feed = new PassThrough({ highWaterMark: FEED_BYTES });
  // Errors reach the unpack through its iteration; once that ended nobody else listens.
  feed.on('error', () => undefined);
  const staging = images.stageLayer(feed);
  // An unpack that ended (gave up, or needed no more bytes) stops reading: stop feeding it and
  // wake a write waiting for drain. The rest of the body is still hashed.
  const stopFeeding = (): void => {
    feed.destroy();
  };
  staging.then(stopFeeding, stopFeeding);
  const discardStaged = () => staging.then((staged) => staged.discard(), () => undefined);

  const hash = createHash('sha256');
  let received = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async (): Promise<void> => {
    if (pendingBytes === 0) return;
    const chunk = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    if (feed.destroyed) return;
    if (!feed.write(chunk) && !feed.destroyed) await drainedOrClosed(feed);
  };
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      hash.update(chunk);
      received += chunk.length;
      progress.bytes('Downloading', id, received, layer.size);
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes >= FEED_BYTES) await flush();
      // Longer than the manifest says: it cannot verify, and need not fill the disk first.
      if (received > layer.size) break;
    }
    await flush();
  } catch (err) {
    feed.destroy(err instanceof Error ? err : new Error(String(err)));
    await discardStaged();
    throw err;
  } finally {
    res.destroy();
  }
  progress.status('Verifying Checksum', id);
  const actual = `sha256:${hash.digest('hex')}`;
  const mismatch =
    actual !== layer.digest
      ? invalidParameter(`filesystem layer verification failed for digest ${layer.digest}: got ${actual}`)
      : received !== layer.size
        ? invalidParameter(`layer ${layer.digest}: size ${received} does not match the manifest's ${layer.size}`)
        : undefined;
  if (mismatch) {
    feed.destroy(mismatch);
    await discardStaged();
    throw mismatch;
  }
  feed.end();
  progress.status('Download complete', id);
  // The verified bytes may still not be a valid layer: then the unpack's own error.
  return staging;
}

function drainedOrClosed(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
