/**
 * File access to a container's filesystem from the host, running or not: the merged overlay
 * is mounted for the duration when the container isn't running, and paths are resolved
 * through the container's volumes and binds without ever leaving them.
 */
import type { ContainerLayers } from '../snapshot/container-layers.js';
import { isActive, type ContainerRecord } from './model.js';
import { resolveContainerPath, type ResolvedPath } from './mounts.js';

export interface RootfsDeps {
  containerLayers: ContainerLayers;
  layerPaths: (imageId: string) => string[];
}

interface RootfsUse {
  users: number;
  /** Whether the rootfs was mounted before the first of the current users came (then it stays). */
  wasMounted: boolean;
  /** Mount and unmount steps for this container, one at a time. */
  steps: Promise<unknown>;
  /** Writers (archive extraction), one at a time: see withRootfs's `exclusive`. */
  writes: Promise<unknown>;
}

/**
 * Concurrent users of a stopped container's rootfs (a HEAD then a PUT from `docker cp`, whose
 * PUT can arrive before the HEAD's clean-up ran) share one mount; the last one out unmounts.
 */
const uses = new Map<string, RootfsUse>();

function step<T>(use: RootfsUse, work: () => Promise<T>): Promise<T> {
  const run = use.steps.then(work);
  use.steps = run.catch(() => undefined);
  return run;
}

/**
 * Runs `work` with the container's merged rootfs mounted; unmounts it after if it mounted it.
 * `exclusive` work (extracting an archive) runs one at a time per container, as under dockerd's
 * container lock: two extractions of one file would otherwise clear each other's file midway.
 */
export async function withRootfs<T>(deps: RootfsDeps, record: ContainerRecord, work: (rootfs: string) => Promise<T>, options: { exclusive?: boolean } = {}): Promise<T> {
  const layers = deps.containerLayers;
  let use = uses.get(record.id);
  const first = !use;
  if (!use) {
    use = { users: 0, wasMounted: false, steps: Promise.resolve(), writes: Promise.resolve() };
    uses.set(record.id, use);
  }
  const current = use;
  current.users++;
  try {
    if (first) {
      await step(current, async () => {
        current.wasMounted = await layers.isMounted(record.id);
      });
    }
    const layer = await step(current, () => layers.mount(record.id, deps.layerPaths(record.image)));
    if (!options.exclusive) return await work(layer.mergedDir);
    const write = current.writes.then(() => work(layer.mergedDir));
    current.writes = write.catch(() => undefined);
    return await write;
  } finally {
    current.users--;
    // A container that started meanwhile owns the mount now; a user that came meanwhile keeps it.
    if (current.users === 0 && !current.wasMounted && !isActive(record.state.status)) {
      await step(current, async () => {
        if (current.users === 0) await layers.unmount(record.id);
      }).catch(() => undefined);
    }
    if (current.users === 0 && uses.get(record.id) === current) uses.delete(record.id);
  }
}

/** A container path on the host, through the container's mounts (tmpfs excluded). */
export function resolveInContainer(rootfs: string, record: ContainerRecord, path: string, followLast = true): Promise<ResolvedPath> {
  return resolveContainerPath(rootfs, record.mountPoints ?? [], path, followLast);
}
