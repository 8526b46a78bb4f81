/**
 * The builder as the daemon holds it: the cache index, a scratch directory for contexts, and
 * `builder prune`. Leftovers of a build cut short by a daemon crash are cleared at open.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerManager } from '../container/manager.js';
import type { ImageStore } from '../image/store.js';
import type { ImageRecord } from '../image/types.js';
import type { ContainerLayerService } from '../snapshot/types.js';
import { BuildCache } from './cache.js';
import { Builder, type BuildOptions } from './builder.js';
import type { Progress } from './progress.js';

export interface BuildServiceParts {
  /** DATA_ROOT/builder: cache.json, scratch/, views/. */
  root: string;
  images: ImageStore;
  containers: ContainerManager;
  views: ContainerLayerService;
  upperDirOf: (containerId: string) => string;
  dockerVersion: string;
}

export interface PruneReport {
  CachesDeleted: string[] | null;
  SpaceReclaimed: number;
}

export class BuildService {
  private constructor(
    private readonly parts: BuildServiceParts,
    private readonly cache: BuildCache,
    private readonly builder: Builder,
  ) {}

  static async open(parts: BuildServiceParts): Promise<BuildService> {
    const scratchRoot = join(parts.root, 'scratch');
    // No build survives a restart; whatever a killed one left unpacked is garbage now.
    await rm(scratchRoot, { recursive: true, force: true });
    for (const view of await readdir(join(parts.root, 'views', 'containers')).catch(() => [] as string[])) {
      await parts.views.remove(view).catch(() => undefined);
    }
    const cache = await BuildCache.open(parts.root);
    const builder = new Builder({
      images: parts.images,
      containers: parts.containers,
      views: parts.views,
      upperDirOf: parts.upperDirOf,
      cache,
      scratchRoot,
      dockerVersion: parts.dockerVersion,
    });
    return new BuildService(parts, cache, builder);
  }

  build(context: AsyncIterable<Uint8Array | string>, options: BuildOptions, progress: Progress): Promise<string> {
    return this.builder.build(context, options, progress);
  }

  /**
   * Forgets cache entries (all of them with `all`, else those whose image is gone) and deletes
   * intermediate images nothing needs any more: untagged, no children, no containers.
   * `selected` narrows both to the images a filter (until, label) accepts.
   */
  async prune(all: boolean, selected: (image: ImageRecord) => boolean = () => true): Promise<PruneReport> {
    const { images, containers } = this.parts;
    const deleted: string[] = [];
    // What left the layer store: an intermediate image's size counts the base layers it shares.
    const layerBytes = (): number => images.layers.list().reduce((sum, layer) => sum + layer.size, 0);
    const before = layerBytes();
    const cached = new Set<string>();
    await this.cache.prune((id) => {
      const image = images.get(id);
      if (!image) return false;
      if (!selected(image)) return true;
      cached.add(id);
      return !all;
    });
    // Removing a leaf can make its parent a leaf: repeat until nothing changes.
    for (let changed = true; changed; ) {
      changed = false;
      for (const id of cached) {
        const image = images.get(id);
        if (!image || image.repoTags.length > 0 || images.children(id).length > 0 || containers.imageUsage(id).inUse) continue;
        try {
          await images.remove(id, { force: false, noprune: true, isInUse: (imageId) => containers.imageUsage(imageId) });
          deleted.push(id);
          cached.delete(id);
          changed = true;
        } catch {
          // in use meanwhile: kept
        }
      }
    }
    // Entries that answered with an image removed just now would only miss from now on.
    if (deleted.length > 0) await this.cache.prune((id) => images.get(id) !== undefined);
    return { CachesDeleted: deleted.length > 0 ? deleted.map((id) => id.replace(/^sha256:/, '')) : null, SpaceReclaimed: Math.max(0, before - layerBytes()) };
  }
}
