/**
 * Unpacked, read-only image layers at ROOT/layers/<chain hex>/{diff/, meta.json}.
 *
 * A layer is unpacked ("staged") into ROOT/layers/.tmp-<random>/ and renamed into place
 * ("committed") only when it is complete, checked and its meta.json written, so a directory
 * named by a chain ID is always whole and verified.
 * Deciding when a layer is no longer needed belongs to the image store (it knows which
 * images share which chains).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';
import { invalidParameter, isErrno, notFound } from '../util/errors.js';
import { chainIdOf } from './chain.js';
import { contentSize } from './disk-usage.js';
import { applyLayerTar } from './tar-apply.js';

export interface LayerInfo {
  chainId: string;
  diffId: string;
  /** Chain ID of the layer below, absent for a bottom layer. */
  parent?: string;
  /** Bytes of file content in diff/ (docker's layer size). */
  size: number;
  created: string;
}

export interface StageLayerOptions {
  /** Receives every uncompressed tar byte in order (to keep the tar as a blob). */
  onData?: (chunk: Buffer) => Promise<void>;
}

export interface CommitLayerOptions {
  /** Refuse the layer unless its uncompressed tar hashed to this diffID. */
  expectedDiffId?: string;
  /**
   * Runs once the checks passed, before the layer becomes visible (the image store publishes
   * the layer's tar blob here, so a visible layer always has its tar).
   */
  onVerified?: (diffId: string) => Promise<void>;
}

export interface ApplyLayerOptions extends StageLayerOptions, CommitLayerOptions {}

export interface ApplyLayerResult {
  chainId: string;
  diffId: string;
  size: number;
}

/**
 * A layer unpacked into a private temp dir, not yet under any chain ID. Exactly one of
 * commit() or discard() must follow; a crash in between leaves only .tmp-* debris.
 */
export interface StagedLayerHandle {
  /** sha256 of the uncompressed tar as it streamed. */
  readonly diffId: string;
  /** Checks, then publishes the layer on top of `parentChainId`; discards it on any failure. */
  commit(parentChainId: string | undefined, options?: CommitLayerOptions): Promise<ApplyLayerResult>;
  /** Throws the unpacked copy away; a no-op once committed or discarded. */
  discard(): Promise<void>;
}

const CHAIN_ID_RE = /^sha256:([a-f0-9]{64})$/;
const TEMP_PREFIX = '.tmp-';
const TRASH_PREFIX = '.del-';

function chainHex(chainId: string): string {
  const match = CHAIN_ID_RE.exec(chainId);
  if (!match) throw invalidParameter(`invalid layer chain ID ${JSON.stringify(chainId)}`);
  return match[1]!;
}

export class LayerStore {
  readonly layersDir: string;
  private readonly layers = new Map<string, LayerInfo>();

  private constructor(root: string) {
    this.layersDir = join(root, 'layers');
  }

  /** Loads the index of unpacked layers under ROOT/layers and removes half-written ones. */
  static async open(root: string): Promise<LayerStore> {
    const store = new LayerStore(root);
    await mkdir(store.layersDir, { recursive: true });
    for (const name of await readdir(store.layersDir)) {
      const path = join(store.layersDir, name);
      if (name.startsWith(TEMP_PREFIX) || name.startsWith(TRASH_PREFIX)) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const info = await readJsonIfExists<LayerInfo>(join(path, 'meta.json'));
      // Without meta.json the rename never happened in the order we write; treat as debris.
      if (!info || info.chainId !== `sha256:${name}`) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      store.layers.set(info.chainId, info);
    }
    return store;
  }

  exists(chainId: string): boolean {
    return this.layers.has(chainId);
  }

  get(chainId: string): LayerInfo | undefined {
    return this.layers.get(chainId);
  }

  list(): LayerInfo[] {
    return [...this.layers.values()];
  }

  /** The unpacked directory of a layer (an overlay lowerdir). */
  diffPath(chainId: string): string {
    return join(this.layersDir, chainHex(chainId), 'diff');
  }

  /**
   * Unpacks a layer tar (plain or gzip) on top of `parentChainId` and returns its identity.
   * If the same chain is already unpacked, the new copy is discarded and the existing one kept.
   */
  async applyLayer(parentChainId: string | undefined, tar: AsyncIterable<Uint8Array | string>, options: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
    // Checked before unpacking too, so a wrong parent fails before the tar is read.
    this.checkParent(parentChainId);
    const staged = await this.stageLayer(tar, options.onData ? { onData: options.onData } : {});
    return staged.commit(parentChainId, options);
  }

  /**
   * Unpacks a layer tar (plain or gzip) into a private temp dir under ROOT/layers. Its content
   * does not depend on the layer below, so layers can be staged in any order (a pull stages
   * them while they download, several at once) and committed bottom up.
   */
  async stageLayer(tar: AsyncIterable<Uint8Array | string>, options: StageLayerOptions = {}): Promise<StagedLayerHandle> {
    const tempDir = join(this.layersDir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    const diffDir = join(tempDir, 'diff');
    try {
      await mkdir(diffDir, { recursive: true, mode: 0o755 });
      const { diffId } = await applyLayerTar(tar, diffDir, options.onData ? { onData: options.onData } : {});
      return this.stagedHandle(tempDir, diffId);
    } catch (err) {
      await rm(tempDir, { recursive: true, force: true });
      throw err;
    }
  }

  private checkParent(parentChainId: string | undefined): void {
    if (parentChainId !== undefined && !this.layers.has(parentChainId)) {
      throw notFound(`parent layer ${parentChainId} does not exist`);
    }
  }

  private stagedHandle(tempDir: string, diffId: string): StagedLayerHandle {
    let finished = false;
    const discard = async (): Promise<void> => {
      if (finished) return;
      finished = true;
      await rm(tempDir, { recursive: true, force: true });
    };
    return {
      diffId,
      discard,
      commit: async (parentChainId, options = {}) => {
        if (finished) throw new Error('staged layer already committed or discarded');
        finished = true;
        try {
          return await this.publish(tempDir, diffId, parentChainId, options);
        } catch (err) {
          await rm(tempDir, { recursive: true, force: true });
          throw err;
        }
      },
    };
  }

  /** A staged layer's commit: the checks, meta.json, then the rename that publishes it. */
  private async publish(tempDir: string, diffId: string, parentChainId: string | undefined, options: CommitLayerOptions): Promise<ApplyLayerResult> {
    if (options.expectedDiffId !== undefined && options.expectedDiffId !== diffId) {
      throw invalidParameter(`layer content does not match: expected diffID ${options.expectedDiffId}, got ${diffId}`);
    }
    this.checkParent(parentChainId);
    if (options.onVerified) await options.onVerified(diffId);
    const chainId = chainIdOf(parentChainId, diffId);
    const existing = this.layers.get(chainId);
    if (existing) {
      await rm(tempDir, { recursive: true, force: true });
      return { chainId, diffId, size: existing.size };
    }
    const diffDir = join(tempDir, 'diff');
    const info: LayerInfo = { chainId, diffId, size: await contentSize(diffDir), created: new Date().toISOString() };
    if (parentChainId !== undefined) info.parent = parentChainId;
    await atomicWriteJson(join(tempDir, 'meta.json'), info);
    const finalDir = join(this.layersDir, chainHex(chainId));
    try {
      await rename(tempDir, finalDir);
    } catch (err) {
      // Someone else unpacked the same chain meanwhile; theirs is as good as ours.
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
      await rm(tempDir, { recursive: true, force: true });
      const theirs = await readJsonIfExists<LayerInfo>(join(finalDir, 'meta.json'));
      if (theirs) this.layers.set(chainId, theirs);
      return { chainId, diffId, size: theirs?.size ?? info.size };
    }
    this.layers.set(chainId, info);
    return { chainId, diffId, size: info.size };
  }

  /** Deletes an unpacked layer; removing an absent layer is a no-op. */
  async remove(chainId: string): Promise<void> {
    const dir = join(this.layersDir, chainHex(chainId));
    const trash = join(this.layersDir, `${TRASH_PREFIX}${randomBytes(8).toString('hex')}`);
    this.layers.delete(chainId);
    try {
      // Rename first so the chain ID disappears at once, even if the delete is slow or cut short.
      await rename(dir, trash);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await rm(trash, { recursive: true, force: true });
  }
}
