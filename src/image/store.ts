/**
 * The image store: image configs and layer tars as blobs in the content store, unpacked
 * layers in the layer store, and two small metadata files:
 *
 *   ROOT/repositories.json     { "references": { "docker.io/library/busybox:latest": "sha256:<id>" } }
 *   ROOT/imagedb/<hex>.json    { "id", "parent", "lastTagTime"? }  (its presence makes the image exist)
 *
 * Everything is loaded into memory at open() so list/resolve answer synchronously.
 * Mutations run one at a time; each persists with an atomic write before it returns.
 */
import { createReadStream } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';
import { BerthError, conflict, invalidParameter, isBerthError, notFound } from '../util/errors.js';
import { chainIds as foldChainIds } from '../snapshot/chain.js';
import { LayerStore, type ApplyLayerResult, type StagedLayerHandle } from '../snapshot/layer-store.js';
import { fileCompression } from '../snapshot/decompress.js';
import { applyChanges } from './changes.js';
import { decodeImageConfig, emptyContainerConfig, encodeImageConfig, goTimeString } from './config-json.js';
import { ContentStore, digestHex, sha256Digest } from './content.js';
import {
  familiarName,
  familiarString,
  fullName,
  fullString,
  isFullImageId,
  looksLikeImageId,
  parseNormalizedNamed,
  shortId,
  validateTag,
  withDefaultTag,
  type ImageReference,
} from './reference.js';
import type { ImageConfig, ImageDeleteItem, ImageRecord, ImageService, ImportOptions, RemoveImageOptions } from './types.js';

/** What `docker_version` says in configs this daemon writes. */
export const DEFAULT_DOCKER_VERSION = '20.10.24';

export interface ImageStoreOptions {
  /** Unpacked layers; defaults to a LayerStore at ROOT (so ROOT/layers). */
  layerStore?: LayerStore;
  dockerVersion?: string;
}

export interface CreateImageOptions {
  /** ID of the image this one derives from (commit/build), recorded as Parent. */
  parent?: string;
}

interface ImageMeta {
  id: string;
  parent: string;
  lastTagTime?: string;
}

interface StoredImage extends ImageMeta {
  config: ImageConfig;
  chainIds: string[];
}

interface RepositoriesFile {
  references: Record<string, string>;
}

/** Conflict flags, as moby's image delete names them. */
const CONFLICT_DEPENDENT_CHILD = 1;
const CONFLICT_RUNNING_CONTAINER = 2;
const CONFLICT_ACTIVE_REFERENCE = 4;
const CONFLICT_STOPPED_CONTAINER = 8;
const CONFLICT_HARD = CONFLICT_DEPENDENT_CHILD | CONFLICT_RUNNING_CONTAINER;
const CONFLICT_SOFT = CONFLICT_ACTIVE_REFERENCE | CONFLICT_STOPPED_CONTAINER;

class ImageDeleteConflict extends BerthError {
  constructor(
    readonly imageId: string,
    readonly hard: boolean,
    readonly used: boolean,
    detail: string,
  ) {
    super('conflict', `conflict: unable to delete ${shortId(imageId)} (${hard ? 'cannot be forced' : 'must be forced'}) - ${detail}`);
  }
}

function goArch(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    default:
      return process.arch;
  }
}

/** docker's isImageIDPrefix: was the image named by (a prefix of) its ID? */
function isImageIdPrefix(imageId: string, input: string): boolean {
  return imageId.startsWith(input) || imageId.slice(imageId.indexOf(':') + 1).startsWith(input);
}

/** docker keys `name:tag@digest` by name@digest: the digest alone identifies the content. */
function referenceKey(ref: ImageReference): string {
  if (ref.digest === undefined) return fullString(ref);
  return fullString({ domain: ref.domain, path: ref.path, digest: ref.digest });
}

function byFamiliarString(a: ImageReference, b: ImageReference): number {
  const fa = familiarString(a);
  const fb = familiarString(b);
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

/** True when the references are at most one tag plus digests, all in one repository. */
function isSingleReference(refs: ImageReference[]): boolean {
  if (refs.length <= 1) return refs.length === 1;
  let single: ImageReference | undefined;
  const names = new Set<string>();
  for (const ref of refs) {
    if (ref.digest !== undefined) {
      names.add(fullName(ref));
    } else if (single === undefined) {
      names.add(fullName(ref));
      single = ref;
    } else {
      return false;
    }
  }
  const chosen = single ?? refs[0]!;
  return names.size === 1 && names.has(fullName(chosen));
}

export class ImageStore implements ImageService {
  private readonly images = new Map<string, StoredImage>();
  /** Full reference string -> image ID. */
  private readonly references = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly root: string,
    readonly content: ContentStore,
    readonly layers: LayerStore,
    private readonly dockerVersion: string,
  ) {}

  /** Opens (creating if needed) the store at `root` and loads its index. */
  static async open(root: string, options: ImageStoreOptions = {}): Promise<ImageStore> {
    const content = await ContentStore.open(root);
    const layers = options.layerStore ?? (await LayerStore.open(root));
    const store = new ImageStore(root, content, layers, options.dockerVersion ?? DEFAULT_DOCKER_VERSION);
    await store.load();
    return store;
  }

  private get imagedbDir(): string {
    return join(this.root, 'imagedb');
  }

  private get repositoriesPath(): string {
    return join(this.root, 'repositories.json');
  }

  private metaPath(id: string): string {
    return join(this.imagedbDir, `${digestHex(id)}.json`);
  }

  private async load(): Promise<void> {
    let names: string[] = [];
    try {
      names = await readdir(this.imagedbDir);
    } catch {
      names = [];
    }
    for (const name of names) {
      if (!/^[a-f0-9]{64}\.json$/.test(name)) continue;
      const meta = await readJsonIfExists<ImageMeta>(join(this.imagedbDir, name));
      if (!meta || meta.id !== `sha256:${name.slice(0, 64)}`) continue;
      let config: ImageConfig;
      try {
        config = decodeImageConfig(await this.content.readBytes(meta.id));
      } catch {
        // A config blob that is gone or unreadable leaves nothing to run; drop the record.
        await rm(join(this.imagedbDir, name), { force: true });
        continue;
      }
      this.images.set(meta.id, { ...meta, config, chainIds: foldChainIds(config.rootfs.diff_ids) });
    }
    const repositories = await readJsonIfExists<RepositoriesFile>(this.repositoriesPath);
    for (const [ref, id] of Object.entries(repositories?.references ?? {})) {
      if (this.images.has(id)) this.references.set(ref, id);
    }
  }

  /** Runs mutations one after another so read-modify-write of the index never interleaves. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async saveReferences(): Promise<void> {
    const references: Record<string, string> = {};
    for (const key of [...this.references.keys()].sort()) references[key] = this.references.get(key)!;
    await atomicWriteJson(this.repositoriesPath, { references } satisfies RepositoriesFile);
  }

  private async saveMeta(image: StoredImage): Promise<void> {
    const meta: ImageMeta = { id: image.id, parent: image.parent };
    if (image.lastTagTime !== undefined) meta.lastTagTime = image.lastTagTime;
    await atomicWriteJson(this.metaPath(image.id), meta);
  }

  private referencesTo(id: string): ImageReference[] {
    const refs: ImageReference[] = [];
    for (const [ref, target] of this.references) if (target === id) refs.push(parseNormalizedNamed(ref));
    return refs.sort(byFamiliarString);
  }

  private record(image: StoredImage): ImageRecord {
    const refs = this.referencesTo(image.id);
    const record: ImageRecord = {
      id: image.id,
      config: image.config,
      repoTags: refs.filter((r) => r.tag !== undefined && r.digest === undefined).map(familiarString),
      repoDigests: refs.filter((r) => r.digest !== undefined).map((r) => `${familiarName(r)}@${r.digest}`),
      size: image.chainIds.reduce((sum, chain) => sum + (this.layers.get(chain)?.size ?? 0), 0),
      parent: image.parent,
      chainIds: [...image.chainIds],
    };
    if (image.lastTagTime !== undefined) record.lastTagTime = image.lastTagTime;
    return record;
  }

  /** All images, newest first (docker's order for GET /images/json). */
  list(): ImageRecord[] {
    return [...this.images.values()]
      .map((image) => this.record(image))
      .sort((a, b) => Date.parse(b.config.created ?? '') - Date.parse(a.config.created ?? '') || (a.id < b.id ? -1 : 1));
  }

  /** Looks an image up by exact ID ("sha256:<hex>"). */
  get(id: string): ImageRecord | undefined {
    const image = this.images.get(id);
    return image && this.record(image);
  }

  private findId(input: string): string {
    if (isFullImageId(input)) {
      const id = input.startsWith('sha256:') ? input : `sha256:${input}`;
      if (this.images.has(id)) return id;
      throw notFound(`No such image: ${input}`);
    }
    const named = withDefaultTag(parseNormalizedNamed(input));
    const byName = this.references.get(referenceKey(named));
    if (byName !== undefined && this.images.has(byName)) return byName;
    if (looksLikeImageId(input)) {
      const prefix = input.startsWith('sha256:') ? input.slice(7) : input;
      const matches = [...this.images.keys()].filter((id) => id.slice(7).startsWith(prefix));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) {
        throw invalidParameter(`ambiguous image ID prefix ${JSON.stringify(input)}: it matches ${matches.length} images; use more characters`);
      }
    }
    throw notFound(`No such image: ${familiarString(named)}`);
  }

  resolve(refOrId: string): ImageRecord {
    return this.record(this.images.get(this.findId(refOrId))!);
  }

  tryResolve(refOrId: string): ImageRecord | undefined {
    try {
      return this.resolve(refOrId);
    } catch (err) {
      if (isBerthError(err, 'notFound')) return undefined;
      throw err;
    }
  }

  /** Points `newRef` (":latest" if it has no tag) at the image `refOrId` names. */
  async tag(refOrId: string, newRef: string): Promise<void> {
    const target = this.tagTarget(newRef);
    return this.exclusive(async () => {
      const id = this.findId(refOrId);
      await this.addReference(target, id);
    });
  }

  private tagTarget(newRef: string): ImageReference {
    const parsed = parseNormalizedNamed(newRef);
    if (parsed.digest !== undefined) throw invalidParameter('refusing to create a tag with a digest reference');
    if (familiarName(parsed) === 'sha256') throw invalidParameter('refusing to create an ambiguous tag using digest algorithm as name');
    return withDefaultTag(parsed);
  }

  private async addReference(ref: ImageReference, id: string): Promise<void> {
    const image = this.images.get(id)!;
    this.references.set(fullString(ref), id);
    await this.saveReferences();
    image.lastTagTime = goTimeString(new Date());
    await this.saveMeta(image);
  }

  /**
   * Records a `name@sha256:...` reference (what a pull by digest or a push produces).
   * Idempotent; moves the reference if it pointed elsewhere.
   */
  async addDigestReference(canonicalRef: string, id: string): Promise<void> {
    const parsed = parseNormalizedNamed(canonicalRef);
    if (parsed.digest === undefined) throw invalidParameter(`${canonicalRef} is not a digest reference`);
    return this.exclusive(async () => {
      if (!this.images.has(id)) throw notFound(`No such image: ${id}`);
      this.references.set(referenceKey(parsed), id);
      await this.saveReferences();
    });
  }

  layerPaths(imageId: string): string[] {
    const image = this.images.get(this.findId(imageId))!;
    return image.chainIds.map((chain) => this.layers.diffPath(chain)).reverse();
  }

  /** Unpacked size of each of the image's own layers, bottom first (history's Size column). */
  layerSizes(refOrId: string): number[] {
    const image = this.images.get(this.findId(refOrId))!;
    return image.chainIds.map((chain) => this.layers.get(chain)?.size ?? 0);
  }

  /** Images whose recorded parent is `id`. */
  children(id: string): string[] {
    return [...this.images.values()].filter((image) => image.parent === id).map((image) => image.id);
  }

  /** The exact config bytes (for save/push/inspect of raw config). */
  configBytes(id: string): Promise<Buffer> {
    return this.content.readBytes(this.findId(id));
  }

  /** Where the uncompressed tar of a layer is kept, by diffID (for save/push). */
  layerTarPath(diffId: string): string {
    return this.content.path(diffId);
  }

  /**
   * Unpacks a layer (plain or gzip tar) on top of `parentChainId` and keeps its
   * uncompressed tar as a blob named by the diffID.
   */
  async applyLayer(parentChainId: string | undefined, tar: AsyncIterable<Uint8Array | string>, options: { expectedDiffId?: string } = {}): Promise<ApplyLayerResult> {
    // Before the tar is read: a wrong parent should not cost an unpack.
    if (parentChainId !== undefined && !this.layers.exists(parentChainId)) throw notFound(`parent layer ${parentChainId} does not exist`);
    const staged = await this.stageLayer(tar);
    return staged.commit(parentChainId, options);
  }

  /**
   * Unpacks a layer (plain or gzip tar) into a private temp dir while its uncompressed tar goes
   * to an open blob ingest; neither is visible until commit(), which publishes the tar blob
   * and then the layer (so a visible layer always has its tar for save and push). Layers can
   * be staged in any order and concurrently, then committed bottom up.
   */
  async stageLayer(tar: AsyncIterable<Uint8Array | string>): Promise<StagedLayerHandle> {
    // The unpack hashes these very chunks for the diffID, and commit() names the blob by it.
    const blob = await this.content.writer({ hashedByCaller: true });
    let layer: StagedLayerHandle;
    try {
      layer = await this.layers.stageLayer(tar, { onData: (chunk) => blob.write(chunk) });
    } catch (err) {
      await blob.abort();
      throw err;
    }
    return {
      diffId: layer.diffId,
      commit: async (parentChainId, options = {}) => {
        try {
          return await layer.commit(parentChainId, {
            ...options,
            onVerified: async (diffId) => {
              await blob.commit(diffId);
              await options.onVerified?.(diffId);
            },
          });
        } finally {
          // Nothing to do if the blob was committed; the ingest file goes if the checks failed.
          await blob.abort();
        }
      },
      discard: async () => {
        await Promise.all([layer.discard(), blob.abort()]);
      },
    };
  }

  /**
   * applyLayer for a layer tar already on disk in a private temp dir (docker load): an
   * uncompressed tar is unpacked without being copied again, and once its bytes hashed to the
   * layer's diffID the file itself becomes the stored blob (a hard link, fsynced) before the
   * layer is published. A compressed one goes through applyLayer, which stores the
   * uncompressed bytes.
   */
  async applyLayerFile(parentChainId: string | undefined, path: string, options: { expectedDiffId: string }): Promise<ApplyLayerResult> {
    if ((await fileCompression(path)) !== 'none') return this.applyLayer(parentChainId, createReadStream(path, { highWaterMark: 1 << 20 }), options);
    return this.layers.applyLayer(parentChainId, createReadStream(path, { highWaterMark: 1 << 20 }), {
      ...options,
      // The layer store calls this only once the bytes (this file's) hashed to the diffID.
      onVerified: async (diffId) => {
        await this.content.adoptVerified(path, diffId);
      },
    });
  }

  /** Stores a config (serialised as dockerd would) as a new image; its layers must exist. */
  async createImage(config: ImageConfig, options: CreateImageOptions = {}): Promise<ImageRecord> {
    return this.createImageFromConfigBytes(encodeImageConfig(config), options);
  }

  /**
   * Stores config bytes exactly as given (a pulled image's ID is the digest of the
   * registry's bytes) as an image. Returns the existing image if it is already there.
   */
  async createImageFromConfigBytes(raw: Buffer, options: CreateImageOptions = {}): Promise<ImageRecord> {
    let config: ImageConfig;
    try {
      config = decodeImageConfig(raw);
    } catch (err) {
      throw invalidParameter(`invalid image config: ${(err as Error).message}`);
    }
    const chains = foldChainIds(config.rootfs.diff_ids);
    return this.exclusive(async () => {
      for (const [index, chain] of chains.entries()) {
        if (!this.layers.exists(chain)) {
          throw notFound(`layer ${config.rootfs.diff_ids[index]} (chain ${chain}) of the image config is not unpacked`);
        }
      }
      const parent = options.parent ?? '';
      if (parent !== '' && !this.images.has(parent)) throw notFound(`No such image: ${parent}`);
      const id = sha256Digest(raw);
      const existing = this.images.get(id);
      if (existing) return this.record(existing);
      await this.content.writeBytes(raw, id);
      const image: StoredImage = { id, parent, config, chainIds: chains };
      await this.saveMeta(image);
      this.images.set(id, image);
      return this.record(image);
    });
  }

  async importRootfs(tar: Readable, options: ImportOptions): Promise<ImageRecord> {
    let target: ImageReference | undefined;
    if (options.repo !== undefined && options.repo !== '') {
      const parsed = parseNormalizedNamed(options.repo);
      if (parsed.digest !== undefined) throw invalidParameter('cannot import digest reference');
      if (options.tag !== undefined && options.tag !== '') parsed.tag = validateTag(options.tag);
      target = this.tagTarget(fullString(parsed));
    }
    // Changes are checked before the (possibly large) upload is read.
    const runConfig = applyChanges(emptyContainerConfig(), options.changes ?? []);
    const layer = await this.applyLayer(undefined, tar);
    const created = goTimeString(new Date());
    const message = options.message !== undefined && options.message !== '' ? options.message : 'Imported from -';
    const config: ImageConfig = {
      architecture: goArch(),
      comment: message,
      config: runConfig,
      container_config: emptyContainerConfig(),
      created,
      docker_version: this.dockerVersion,
      history: [{ created, comment: message }],
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    };
    const image = await this.createImage(config);
    if (target) {
      const ref = target;
      await this.exclusive(() => this.addReference(ref, image.id));
    }
    return this.resolve(image.id);
  }

  async remove(refOrId: string, options: RemoveImageOptions): Promise<ImageDeleteItem[]> {
    return this.exclusive(() => this.removeLocked(refOrId, options));
  }

  private async removeLocked(refOrId: string, options: RemoveImageOptions): Promise<ImageDeleteItem[]> {
    const id = this.findId(refOrId);
    const records: ImageDeleteItem[] = [];
    let repoRefs = this.referencesTo(id);
    let removedRepositoryRef = false;

    if (!isImageIdPrefix(id, refOrId)) {
      // A name was given: untag it first.
      if (!options.force && isSingleReference(repoRefs)) {
        const use = options.isInUse(id);
        if (use.inUse) {
          throw conflict(
            `conflict: unable to remove repository reference ${JSON.stringify(refOrId)} (must force) - container ${shortId(use.containerId ?? '')} is using its referenced image ${shortId(id)}`,
          );
        }
      }
      const given = withDefaultTag(parseNormalizedNamed(refOrId));
      const named = given.digest === undefined ? given : { domain: given.domain, path: given.path, digest: given.digest };
      this.references.delete(referenceKey(named));
      records.push({ Untagged: familiarString(named) });
      repoRefs = this.referencesTo(id);
      if (named.digest === undefined) {
        // With the last tag of a repository gone, its digest references go too.
        const sameRepoTagLeft = repoRefs.some((r) => r.digest === undefined && fullName(r) === fullName(named));
        if (!sameRepoTagLeft) {
          const remaining: ImageReference[] = [];
          for (const ref of repoRefs) {
            if (ref.digest !== undefined && fullName(ref) === fullName(named)) {
              this.references.delete(fullString(ref));
              records.push({ Untagged: familiarString(ref) });
            } else {
              remaining.push(ref);
            }
          }
          repoRefs = remaining;
        }
      }
      await this.saveReferences();
      if (repoRefs.length > 0) return records;
      removedRepositoryRef = true;
    } else if (isSingleReference(repoRefs)) {
      // By ID, with one tag (plus digests) in one repository: those go with the image.
      const mask = CONFLICT_HARD | (options.force ? 0 : CONFLICT_SOFT & ~CONFLICT_ACTIVE_REFERENCE);
      const found = this.checkDeleteConflict(id, mask, options);
      if (found) throw found;
      for (const ref of repoRefs) {
        this.references.delete(fullString(ref));
        records.push({ Untagged: familiarString(ref) });
      }
      await this.saveReferences();
    }
    await this.deleteHelper(id, records, options, options.force, !options.noprune, removedRepositoryRef);
    return records;
  }

  private isDangling(id: string): boolean {
    return this.referencesTo(id).length === 0 && this.children(id).length === 0;
  }

  private checkDeleteConflict(id: string, mask: number, options: RemoveImageOptions): ImageDeleteConflict | undefined {
    if (mask & CONFLICT_DEPENDENT_CHILD && this.children(id).length > 0) {
      return new ImageDeleteConflict(id, true, false, 'image has dependent child images');
    }
    const use = mask & (CONFLICT_RUNNING_CONTAINER | CONFLICT_STOPPED_CONTAINER) ? options.isInUse(id) : undefined;
    if (mask & CONFLICT_RUNNING_CONTAINER && use?.inUse && use.running) {
      return new ImageDeleteConflict(id, true, true, `image is being used by running container ${shortId(use.containerId ?? '')}`);
    }
    if (mask & CONFLICT_ACTIVE_REFERENCE && this.referencesTo(id).length > 0) {
      return new ImageDeleteConflict(id, false, false, 'image is referenced in multiple repositories');
    }
    if (mask & CONFLICT_STOPPED_CONTAINER && use?.inUse && !use.running) {
      return new ImageDeleteConflict(id, false, true, `image is being used by stopped container ${shortId(use.containerId ?? '')}`);
    }
    return undefined;
  }

  /** moby's imageDeleteHelper: delete one image, then (prune) its now-unneeded parents. */
  private async deleteHelper(id: string, records: ImageDeleteItem[], options: RemoveImageOptions, force: boolean, prune: boolean, quiet: boolean): Promise<void> {
    const found = this.checkDeleteConflict(id, CONFLICT_HARD | (force ? 0 : CONFLICT_SOFT), options);
    if (found) {
      // After untagging, a conflict just means the image stays; only a dangling unused one is reported.
      if (quiet && (!this.isDangling(id) || found.used)) return;
      throw found;
    }
    const image = this.images.get(id)!;
    const leftRefs = this.referencesTo(id);
    for (const ref of leftRefs) {
      this.references.delete(fullString(ref));
      records.push({ Untagged: familiarString(ref) });
    }
    if (leftRefs.length > 0) await this.saveReferences();
    const keepLayers = options.isInUse(id).inUse;
    const removedLayers = await this.deleteImage(image, keepLayers);
    records.push({ Deleted: id });
    for (const chain of removedLayers) records.push({ Deleted: chain });
    if (!prune || image.parent === '' || !this.images.has(image.parent)) return;
    await this.deleteHelper(image.parent, records, options, false, true, true);
  }

  /**
   * Forgets the image, then deletes what nothing else needs: its config blob and, from the
   * top down, layers no remaining image is built on (and their tar blobs).
   */
  private async deleteImage(image: StoredImage, keepLayers: boolean): Promise<string[]> {
    await rm(this.metaPath(image.id), { force: true });
    this.images.delete(image.id);
    await this.content.delete(image.id);
    if (keepLayers) return [];
    const removed: string[] = [];
    const remaining = [...this.images.values()];
    for (let i = image.chainIds.length - 1; i >= 0; i--) {
      const chain = image.chainIds[i]!;
      // Chains nest: if another image uses this one, it uses everything below it too.
      if (remaining.some((other) => other.chainIds.includes(chain))) break;
      if (this.layers.exists(chain)) {
        await this.layers.remove(chain);
        removed.push(chain);
      }
      const diffId = image.config.rootfs.diff_ids[i]!;
      if (!remaining.some((other) => other.config.rootfs.diff_ids.includes(diffId))) await this.content.delete(diffId);
    }
    return removed;
  }
}
