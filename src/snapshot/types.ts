/**
 * Container filesystems: an overlay of the image's unpacked layers (read-only lowerdirs)
 * and a per-container upperdir.
 */
export interface ContainerLayer {
  /** Directory the merged overlay is (or will be) mounted on; the runtime spec's root.path. */
  mergedDir: string;
  upperDir: string;
  workDir: string;
}

export interface ContainerLayerService {
  /** Creates upper/work/merged dirs for a container (idempotent). */
  create(containerId: string): Promise<ContainerLayer>;
  /**
   * Mounts the overlay with the given lowerdirs (topmost first); no-op if already mounted.
   * `ephemeral`: the layer is removed when the container exits (--rm), so nothing written to
   * it needs to survive a crash.
   */
  mount(containerId: string, lowerDirs: string[], options?: { ephemeral?: boolean }): Promise<ContainerLayer>;
  unmount(containerId: string): Promise<void>;
  /** Unmounts if needed and deletes everything the container's layer owns. */
  remove(containerId: string): Promise<void>;
  /** Bytes used by the container's upper dir (ps --size / SizeRw). */
  sizeRw(containerId: string): Promise<number>;
}
