/**
 * What the image store's layers cost and who shares them, for `system df`: images with their
 * shared size and container count, and the builder's cached intermediate images as build cache.
 *
 * A layer is counted once wherever it appears. Intermediate images the build cache answers with
 * (untagged, undigested) are reported as build cache rather than as images, so the two rows of
 * `system df` never count the same bytes twice: a cache layer that a real image also sits on is
 * "shared" and its bytes stay in LayersSize.
 */
import { join } from 'node:path';
import type { ImageRecord } from '../image/types.js';
import type { ImageStore } from '../image/store.js';
import { cachedImageIds } from '../build/cache.js';

export interface ImageUsage {
  image: ImageRecord;
  /** Bytes of this image's layers that another (non-cache) image also uses. */
  sharedSize: number;
  containers: number;
}

export interface BuildCacheUsage {
  image: ImageRecord;
  /** Bytes of the layer this step added, 0 for a step that added none (ENV, LABEL, ...). */
  size: number;
  /** The layer is also part of a real image, so removing the cache entry frees nothing. */
  shared: boolean;
  inUse: boolean;
  usageCount: number;
  /** The step below, when it is a cache entry too. */
  parentId?: string;
}

export interface LayerUsage {
  layersSize: number;
  images: ImageUsage[];
  buildCache: BuildCacheUsage[];
}

export interface LayerUsageInput {
  store: ImageStore;
  dataRoot: string;
  /** How many containers (any state) were created from an image ID. */
  containersOf: (imageId: string) => number;
}

export async function layerUsage({ store, dataRoot, containersOf }: LayerUsageInput): Promise<LayerUsage> {
  const counts = await cachedImageIds(join(dataRoot, 'builder'));
  const all = store.list();
  const isCache = (image: ImageRecord): boolean => counts.has(image.id) && image.repoTags.length === 0 && image.repoDigests.length === 0;
  const images = all.filter((image) => !isCache(image));
  const cache = all.filter(isCache);
  const sizeOf = (chain: string): number => store.layers.get(chain)?.size ?? 0;

  const users = new Map<string, number>();
  for (const image of images) for (const chain of new Set(image.chainIds)) users.set(chain, (users.get(chain) ?? 0) + 1);
  let layersSize = 0;
  for (const chain of users.keys()) layersSize += sizeOf(chain);

  const imageRows = images.map((image) => ({
    image,
    sharedSize: [...new Set(image.chainIds)].reduce((sum, chain) => sum + ((users.get(chain) ?? 0) > 1 ? sizeOf(chain) : 0), 0),
    containers: containersOf(image.id),
  }));

  // Oldest first, so the step that first added a layer is the one that owns its bytes.
  cache.sort((a, b) => a.chainIds.length - b.chainIds.length || Date.parse(a.config.created ?? '') - Date.parse(b.config.created ?? ''));
  const owned = new Set<string>();
  const cacheIds = new Set(cache.map((image) => image.id));
  const cacheRows = cache.map((image): BuildCacheUsage => {
    const top = image.chainIds[image.chainIds.length - 1];
    const parent = image.parent ? store.get(image.parent) : undefined;
    const addsLayer = top !== undefined && parent?.chainIds[parent.chainIds.length - 1] !== top;
    const first = addsLayer && !owned.has(top);
    if (first) owned.add(top);
    const row: BuildCacheUsage = {
      image,
      size: first ? sizeOf(top) : 0,
      shared: first && users.has(top),
      inUse: containersOf(image.id) > 0,
      usageCount: counts.get(image.id) ?? 0,
    };
    if (image.parent && cacheIds.has(image.parent)) row.parentId = image.parent;
    return row;
  });
  return { layersSize, images: imageRows, buildCache: cacheRows };
}
