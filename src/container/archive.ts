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

/** Runs `work` with the container's merged rootfs mounted; unmounts it after if it mounted it. */
export async function withRootfs<T>(deps: RootfsDeps, record: ContainerRecord, work: (rootfs: string) => Promise<T>): Promise<T> {
  const layers = deps.containerLayers;
  const wasMounted = await layers.isMounted(record.id);
  const layer = await layers.mount(record.id, deps.layerPaths(record.image));
  try {
    return await work(layer.mergedDir);
  } finally {
    // A container that started meanwhile owns the mount now.
    if (!wasMounted && !isActive(record.state.status)) await layers.unmount(record.id).catch(() => undefined);
  }
}

/** A container path on the host, through the container's mounts (tmpfs excluded). */
export function resolveInContainer(rootfs: string, record: ContainerRecord, path: string, followLast = true): Promise<ResolvedPath> {
  return resolveContainerPath(rootfs, record.mountPoints ?? [], path, followLast);
}
