/**
 * GET /system/df in docker's shape: LayersSize, Images (with SharedSize and Containers),
 * Containers (with SizeRw/SizeRootFs), Volumes (with UsageData) and BuildCache. The `type`
 * query (API 1.42) limits the answer to some kinds; the others come back null.
 */
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { sendJson } from '../io.js';
import { invalidParameter } from '../../util/errors.js';
import { listItem as containerItem } from '../../container/views.js';
import { layerUsage } from '../../daemon/disk-usage.js';
import { dataServices } from './data.js';
import { listItem as imageItem } from './images.js';

const KINDS = ['container', 'image', 'volume', 'build-cache'] as const;
type Kind = (typeof KINDS)[number];

const bareId = (id: string): string => id.replace(/^sha256:/, '');

function requestedKinds(query: URLSearchParams): Set<Kind> {
  const asked = query.getAll('type');
  if (asked.length === 0) return new Set(KINDS);
  for (const kind of asked) {
    if (!(KINDS as readonly string[]).includes(kind)) throw invalidParameter(`invalid type: ${kind}`);
  }
  return new Set(asked as Kind[]);
}

export function diskUsageRoutes(router: Router, daemon: Daemon): void {
  router.on('GET', '/system/df', async ({ res, query }) => {
    const kinds = requestedKinds(query);
    const { imageStore, volumes } = dataServices(daemon);
    const records = daemon.containers.store.all();
    const containersOf = (imageId: string): number => records.filter((r) => r.image === imageId).length;

    const wantLayers = kinds.has('image') || kinds.has('build-cache');
    const usage = wantLayers ? await layerUsage({ store: imageStore, dataRoot: daemon.config.dataRoot, containersOf }) : undefined;

    const images = kinds.has('image') && usage
      ? usage.images.map((u) => ({ ...imageItem(u.image), SharedSize: u.sharedSize, Containers: u.containers }))
      : null;

    const containers = kinds.has('container')
      ? await Promise.all(records.map(async (r) => containerItem(r, await daemon.containerSize(r))))
      : null;

    const volumeRows = kinds.has('volume')
      ? await Promise.all(volumes.store.list().map(async (meta) => ({
          ...volumes.store.view(meta),
          UsageData: { Size: await volumes.store.size(meta.Name).catch(() => -1), RefCount: volumes.usedBy(meta.Name).length },
        })))
      : null;

    const buildCache = kinds.has('build-cache') && usage
      ? usage.buildCache.map((c) => ({
          ID: bareId(c.image.id),
          Parent: c.parentId ? bareId(c.parentId) : '',
          Parents: c.parentId ? [bareId(c.parentId)] : null,
          Type: 'regular',
          Description: c.image.config.history?.at(-1)?.created_by ?? '',
          InUse: c.inUse,
          Shared: c.shared,
          Size: c.size,
          CreatedAt: c.image.config.created ?? '',
          LastUsedAt: c.image.config.created ?? null,
          UsageCount: c.usageCount,
        }))
      : null;

    sendJson(res, 200, {
      LayersSize: kinds.has('image') && usage ? usage.layersSize : 0,
      Images: images,
      Containers: containers,
      Volumes: volumeRows,
      BuildCache: buildCache,
      // Older clients (API < 1.42) read the builder's total from here.
      BuilderSize: usage ? usage.buildCache.reduce((sum, c) => sum + (c.shared ? 0 : c.size), 0) : 0,
    });
  });
}
