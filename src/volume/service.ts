/**
 * Volumes as a container hook: at create the container's mount requests are parsed, named and
 * anonymous volumes made, bind sources checked; at start each mount is prepared (a new empty
 * volume is filled with the image's files at its path) and handed to the runtime spec; at
 * removal with -v, the container's anonymous volumes go.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { invalidParameter, isErrno, errorMessage } from '../util/errors.js';
import type { ContainerHook, HookContribution } from '../container/manager.js';
import type { ContainerRecord } from '../container/model.js';
import { resolveInRoot } from '../container/mounts.js';
import { copyDirContents } from '../sys/copy.js';
import type { SpecMount } from '../runtime/types.js';
import { anonymousVolume, parseBind, parseMountObject, parseTmpfs, parseVolumesFrom, specOptions, type MountPoint } from './mount-spec.js';
import type { VolumeMeta, VolumeStore } from './store.js';

export interface VolumeServiceDeps {
  store: VolumeStore;
  /** Every container record (for "in use" and volumes-from). */
  containers: () => ContainerRecord[];
  findContainer: (idOrName: string) => ContainerRecord;
  debug?: (message: string) => void;
}

async function isEmptyDir(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return true;
    throw err;
  }
}

export class VolumeService implements ContainerHook {
  constructor(private readonly deps: VolumeServiceDeps) {}

  get store(): VolumeStore {
    return this.deps.store;
  }

  /** IDs of the containers (any state) that mount the volume. */
  usedBy(name: string): string[] {
    return this.deps.containers()
      .filter((c) => (c.mountPoints ?? []).some((m) => m.Type === 'volume' && m.Name === name))
      .map((c) => c.id);
  }

  /** The mount requests of a create body, in docker's order, duplicates refused. */
  private parseRequests(record: ContainerRecord): MountPoint[] {
    const host = record.hostConfig;
    const points: MountPoint[] = [];
    const taken = new Set<string>();
    const add = (point: MountPoint, duplicateIsError: boolean): void => {
      if (taken.has(point.Destination)) {
        if (duplicateIsError) throw invalidParameter(`Duplicate mount point: ${point.Destination}`);
        return;
      }
      taken.add(point.Destination);
      points.push(point);
    };
    const explicit: MountPoint[] = [];
    for (const bind of asStrings(host.Binds)) explicit.push(parseBind(bind));
    for (const raw of Array.isArray(host.Mounts) ? (host.Mounts as unknown[]) : []) explicit.push(parseMountObject(raw));
    const tmpfs = host.Tmpfs && typeof host.Tmpfs === 'object' ? (host.Tmpfs as Record<string, unknown>) : {};
    for (const [dest, opts] of Object.entries(tmpfs)) explicit.push(parseTmpfs(dest, typeof opts === 'string' ? opts : ''));
    for (const point of explicit) add(point, true);
    // --volumes-from: the other container's mounts, where nothing explicit claims the path.
    for (const spec of asStrings(host.VolumesFrom)) {
      const { container, mode } = parseVolumesFrom(spec);
      const source = this.deps.findContainer(container);
      for (const m of source.mountPoints ?? []) {
        if (m.Type === 'tmpfs') continue;
        add({ ...m, RW: mode ? mode === 'rw' : m.RW, Origin: 'volumes-from', Anonymous: false, CopyData: false }, false);
      }
    }
    for (const dest of Object.keys(record.config.Volumes ?? {})) add(anonymousVolume(dest), false);
    return points;
  }

  async create(record: ContainerRecord): Promise<void> {
    const points = this.parseRequests(record);
    for (const point of points) {
      if (point.Type === 'bind') {
        try {
          await stat(point.Source);
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
          // -v makes a missing host directory; --mount refuses, as docker does.
          if (point.Origin === 'mounts') throw invalidParameter(`invalid mount config for type "bind": bind source path does not exist: ${point.Source}`);
          await mkdir(point.Source, { recursive: true, mode: 0o755 });
        }
      }
    }
    const made: VolumeMeta[] = [];
    try {
      for (const point of points) {
        if (point.Type !== 'volume' || point.Origin === 'volumes-from') {
          if (point.Type === 'volume') point.Source = this.store.dataPath(point.Name!);
          continue;
        }
        const existed = point.Name ? this.store.get(point.Name) : undefined;
        const meta =
          existed ??
          (await this.store.create(point.Name || undefined, {
            anonymous: !point.Name,
            labels: point.VolumeOptions?.labels ?? null,
            options: point.VolumeOptions?.driverOptions ?? null,
          }));
        if (!existed) made.push(meta);
        point.Name = meta.Name;
        point.Source = this.store.dataPath(meta.Name);
        delete point.VolumeOptions;
      }
    } catch (err) {
      for (const meta of made) await this.store.remove(meta.Name, []).catch(() => undefined);
      throw err;
    }
    record.mountPoints = points;
  }

  async prepare(record: ContainerRecord, rootfsReady: Promise<string>): Promise<HookContribution> {
    const points = [...(record.mountPoints ?? [])];
    const mounts: SpecMount[] = [];
    for (const point of points) {
      if (point.Type === 'volume') {
        point.Source = await this.store.ready(point.Name!);
        if (point.CopyData && (await isEmptyDir(point.Source))) {
          const inImage = await resolveInRoot(await rootfsReady, point.Destination);
          const info = await stat(inImage.hostPath).catch(() => undefined);
          if (info?.isDirectory()) {
            await copyDirContents(inImage.hostPath, point.Source);
          }
        }
      }
      mounts.push({ destination: point.Destination, type: point.Type === 'tmpfs' ? 'tmpfs' : 'bind', source: point.Type === 'tmpfs' ? 'tmpfs' : point.Source, options: specOptions(point) });
    }
    // Parents before children, so /a/b is mounted on top of /a and not hidden by it.
    mounts.sort((a, b) => depth(a.destination) - depth(b.destination));
    return { mounts };
  }

  async removed(record: ContainerRecord, options: { removeVolumes: boolean }): Promise<void> {
    if (!options.removeVolumes) return;
    for (const point of record.mountPoints ?? []) {
      if (point.Type !== 'volume' || !point.Anonymous || !point.Name) continue;
      const others = this.usedBy(point.Name).filter((id) => id !== record.id);
      if (others.length > 0) continue;
      await this.store.remove(point.Name, []).catch((err) => this.deps.debug?.(`remove volume ${point.Name}: ${errorMessage(err)}`));
    }
  }

  /** DELETE /volumes/{name}: refused while a container uses it, even with force (as docker). */
  async remove(name: string, force: boolean): Promise<void> {
    if (force && !this.store.get(name)) return;
    await this.store.remove(name, this.usedBy(name));
  }

  /** Removes unused volumes that `selected` accepts; returns names and bytes freed. */
  async prune(selected: (meta: VolumeMeta) => boolean): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const meta of this.store.list()) {
      if (!selected(meta) || this.usedBy(meta.Name).length > 0) continue;
      const size = await this.store.size(meta.Name).catch(() => 0);
      try {
        await this.store.remove(meta.Name, this.usedBy(meta.Name));
      } catch {
        continue;
      }
      deleted.push(meta.Name);
      reclaimed += size;
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
  }
}

function depth(path: string): number {
  return path.split('/').filter(Boolean).length;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
