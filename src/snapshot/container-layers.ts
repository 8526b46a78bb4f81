/**
 * Per-container writable layers: ROOT/containers/<id>/{upper,work,merged}, mounted as
 * overlay(lowerdir=image layers, upperdir=upper, workdir=work) on merged.
 */
import { mkdir, rm, rmdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidParameter, isErrno } from '../util/errors.js';
import { MOUNT_DATA_MAX, mountState, mountOverlay, overlayMountData, unmount, type OverlayMountOptions } from '../sys/fs.js';
import { contentSize } from './disk-usage.js';
import { discardDir, sweepTrash } from '../sys/trash.js';
import type { ContainerLayer, ContainerLayerService } from './types.js';

/** Cleared when the kernel refuses overlay's volatile option (it then isn't tried again). */
let volatileMounts = true;

const CONTAINER_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class ContainerLayers implements ContainerLayerService {
  readonly containersDir: string;

  /** Does no I/O: directories are made by create() (or up front by open()). */
  constructor(root: string) {
    this.containersDir = join(root, 'containers');
  }

  static async open(root: string): Promise<ContainerLayers> {
    const service = new ContainerLayers(root);
    await mkdir(service.containersDir, { recursive: true, mode: 0o710 });
    await sweepTrash(service.containersDir);
    return service;
  }

  private dir(containerId: string): string {
    if (!CONTAINER_ID_RE.test(containerId) || containerId === '.' || containerId === '..') {
      throw invalidParameter(`invalid container ID ${JSON.stringify(containerId)} for a container layer`);
    }
    return join(this.containersDir, containerId);
  }

  paths(containerId: string): ContainerLayer {
    const dir = this.dir(containerId);
    return { mergedDir: join(dir, 'merged'), upperDir: join(dir, 'upper'), workDir: join(dir, 'work') };
  }

  async create(containerId: string): Promise<ContainerLayer> {
    const layer = this.paths(containerId);
    await mkdir(layer.upperDir, { recursive: true, mode: 0o755 });
    await Promise.all([mkdir(layer.workDir, { recursive: true, mode: 0o700 }), mkdir(layer.mergedDir, { recursive: true, mode: 0o755 })]);
    return layer;
  }

  async isMounted(containerId: string): Promise<boolean> {
    return (await mountState(this.paths(containerId).mergedDir)) === 'mounted';
  }

  async mount(containerId: string, lowerDirs: string[], mountOptions: { ephemeral?: boolean } = {}): Promise<ContainerLayer> {
    const layer = this.paths(containerId);
    // The directories exist from create(); they are made again only if something removed them.
    const state = await mountState(layer.mergedDir);
    if (state === 'mounted') return layer;
    if (state === 'missing') await this.create(containerId);
    let lowers = lowerDirs;
    if (lowers.length === 0) {
      // Overlay needs a lowerdir; an image with no layers (FROM scratch) gets an empty one.
      const empty = join(this.dir(containerId), 'empty');
      await mkdir(empty, { recursive: true, mode: 0o755 });
      lowers = [empty];
    }
    const options: OverlayMountOptions = { lowerDirs: lowers, upperDir: layer.upperDir, workDir: layer.workDir, target: layer.mergedDir };
    if (overlayMountData(options).length > MOUNT_DATA_MAX) {
      // mount(2) data is limited to a page. Numbered symlinks to the layers, named relative
      // to the mount's working directory, keep even hundreds of lowerdirs under it.
      const linkDir = join(this.dir(containerId), 'lower');
      await rm(linkDir, { recursive: true, force: true });
      await mkdir(linkDir, { mode: 0o700 });
      for (const [index, lower] of lowers.entries()) await symlink(lower, join(linkDir, String(index)));
      options.cwd = linkDir;
      options.lowerDirs = lowers.map((_, index) => String(index));
    }
    if (!mountOptions.ephemeral || !volatileMounts) {
      await mountOverlay(options);
      return layer;
    }
    // An --rm container's layer is thrown away when it exits, so syncs to it buy nothing, and
    // unmounting a non-volatile overlay syncs the whole filesystem under the data root on the
    // path every `run --rm` waits on (podman mounts --rm containers volatile too).
    try {
      await mountOverlay({ ...options, volatile: true });
    } catch (err) {
      // A kernel before 5.10 refuses the option; an earlier volatile mount of this layer left
      // the marker that makes overlay refuse the next mount. Either way: once more, plainly.
      const marker = join(layer.workDir, 'work', 'incompat', 'volatile');
      const marked = await stat(marker).then(
        () => true,
        () => false,
      );
      if (marked) await rm(marker, { recursive: true, force: true });
      await mountOverlay(options).catch(() => Promise.reject(err));
      if (!marked) volatileMounts = false;
    }
    return layer;
  }

  async unmount(containerId: string): Promise<void> {
    const { mergedDir } = this.paths(containerId);
    if ((await mountState(mergedDir)) !== 'mounted') return;
    await unmount(mergedDir);
  }

  async remove(containerId: string): Promise<void> {
    await this.unmount(containerId);
    const dir = this.dir(containerId);
    // An empty merged dir proves the unmount took effect before anything recursive runs.
    try {
      await rmdir(join(dir, 'merged'));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    await discardDir(dir);
  }

  async sizeRw(containerId: string): Promise<number> {
    return contentSize(this.paths(containerId).upperDir);
  }
}
