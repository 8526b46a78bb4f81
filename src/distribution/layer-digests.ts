/**
 * What berthd remembers about layers it has pulled or pushed: for each diffID (uncompressed),
 * the compressed blobs that carry it and where they were seen. Push uses it to skip blobs a
 * registry already has, to mount them from a sibling repository, and to reuse the same
 * compressed digest, so pushing an image twice gives the same manifest.
 *
 *   DATA-ROOT/distribution/layer-digests.json  { "<diffID>": [{ "digest", "size", "source": "host/repo" }] }
 */
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';

export interface CompressedLayer {
  digest: string;
  size: number;
  /** "registry-domain/repository" the blob was pulled from or pushed to. */
  source: string;
}

export class LayerDigests {
  private entries = new Map<string, CompressedLayer[]>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly path: string) {}

  static async open(dataRoot: string): Promise<LayerDigests> {
    const store = new LayerDigests(join(dataRoot, 'distribution', 'layer-digests.json'));
    const doc = await readJsonIfExists<Record<string, CompressedLayer[]>>(store.path).catch(() => undefined);
    for (const [diffId, list] of Object.entries(doc ?? {})) if (Array.isArray(list)) store.entries.set(diffId, list);
    return store;
  }

  get(diffId: string): CompressedLayer[] {
    return this.entries.get(diffId) ?? [];
  }

  /** Records a (diffID, compressed blob, source); the newest source comes first. */
  add(diffId: string, layer: CompressedLayer): Promise<void> {
    const list = this.get(diffId).filter((l) => !(l.digest === layer.digest && l.source === layer.source));
    this.entries.set(diffId, [layer, ...list].slice(0, 16));
    const snapshot = Object.fromEntries(this.entries);
    const run = this.queue.then(() => atomicWriteJson(this.path, snapshot));
    this.queue = run.catch(() => undefined);
    return run;
  }
}
