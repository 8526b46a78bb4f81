/**
 * The local volume driver: ROOT/volumes/<name>/_data holds the files, ROOT/volumes/<name>/meta.json
 * what `volume inspect` shows. A volume exists once its meta.json is written (atomically);
 * a directory without one is debris from a crash and is removed at open.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';
import { conflict, invalidParameter, notFound } from '../util/errors.js';
import { contentSize } from '../snapshot/disk-usage.js';
import { isMountPoint, unmount } from '../sys/fs.js';
import { mountDevice } from '../sys/mount.js';

export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const LOCAL_OPTION_KEYS = new Set(['type', 'device', 'o']);

export interface VolumeMeta {
  Name: string;
  Driver: 'local';
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
  CreatedAt: string;
  /** Made for one container (`-v /path`, an image VOLUME): `rm -v` removes it with the container. */
  anonymous: boolean;
}

export interface VolumeView {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local';
  UsageData?: { Size: number; RefCount: number };
}

export interface CreateVolumeOptions {
  driver?: string;
  labels?: Record<string, string> | null;
  options?: Record<string, string> | null;
  anonymous?: boolean;
}

/** RFC 3339 with the seconds docker's local driver shows. */
function createdAtNow(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export function validateVolumeName(name: string): void {
  if (!VOLUME_NAME_RE.test(name)) {
    throw invalidParameter(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
  }
}

export class VolumeStore {
  readonly dir: string;
  private readonly volumes = new Map<string, VolumeMeta>();
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(root: string) {
    this.dir = join(root, 'volumes');
  }

  static async open(root: string): Promise<VolumeStore> {
    const store = new VolumeStore(root);
    await mkdir(store.dir, { recursive: true, mode: 0o701 });
    for (const name of await readdir(store.dir)) {
      const meta = await readJsonIfExists<VolumeMeta>(join(store.dir, name, 'meta.json'));
      if (!meta || meta.Name !== name) {
        await rm(join(store.dir, name), { recursive: true, force: true });
        continue;
      }
      store.volumes.set(name, meta);
    }
    return store;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  dataPath(name: string): string {
    return join(this.dir, name, '_data');
  }

  get(name: string): VolumeMeta | undefined {
    return this.volumes.get(name);
  }

  require(name: string): VolumeMeta {
    const meta = this.volumes.get(name);
    if (!meta) throw notFound(`get ${name}: no such volume`);
    return meta;
  }

  list(): VolumeMeta[] {
    return [...this.volumes.values()].sort((a, b) => (a.Name < b.Name ? -1 : 1));
  }

  view(meta: VolumeMeta): VolumeView {
    return {
      CreatedAt: meta.CreatedAt,
      Driver: meta.Driver,
      Labels: meta.Labels,
      Mountpoint: this.dataPath(meta.Name),
      Name: meta.Name,
      Options: meta.Options,
      Scope: 'local',
    };
  }

  /** Creates a volume, or returns the existing one of that name (docker's create is idempotent). */
  create(name: string | undefined, options: CreateVolumeOptions = {}): Promise<VolumeMeta> {
    const driver = options.driver || 'local';
    if (driver !== 'local') throw notFound(`create ${name ?? ''}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    const volumeName = name || randomBytes(32).toString('hex');
    validateVolumeName(volumeName);
    for (const key of Object.keys(options.options ?? {})) {
      if (!LOCAL_OPTION_KEYS.has(key)) throw invalidParameter(`create ${volumeName}: invalid option key: "${key}"`);
    }
    const opts = options.options ?? {};
    if (Object.keys(opts).length > 0 && (!opts.type || !opts.device)) {
      throw invalidParameter(`create ${volumeName}: missing required option: "${opts.type ? 'device' : 'type'}"`);
    }
    return this.exclusive(async () => {
      const existing = this.volumes.get(volumeName);
      if (existing) return existing;
      const meta: VolumeMeta = {
        Name: volumeName,
        Driver: 'local',
        Labels: options.labels ?? null,
        Options: options.options && Object.keys(options.options).length > 0 ? options.options : null,
        CreatedAt: createdAtNow(),
        anonymous: options.anonymous === true,
      };
      await mkdir(this.dataPath(volumeName), { recursive: true, mode: 0o755 });
      await atomicWriteJson(join(this.dir, volumeName, 'meta.json'), meta);
      this.volumes.set(volumeName, meta);
      return meta;
    });
  }

  /**
   * Makes the volume's data dir ready to bind: a volume created with -o type/device/o gets
   * that filesystem mounted on _data the first time it is used.
   */
  async ready(name: string): Promise<string> {
    const meta = this.require(name);
    const path = this.dataPath(name);
    const opts = meta.Options;
    if (opts?.type && opts.device && !(await isMountPoint(path))) {
      await mountDevice(opts.type, opts.device, opts.o ?? '', path);
    }
    return path;
  }

  /** Deletes a volume; the caller has checked it is unused. */
  remove(name: string, inUseBy: string[]): Promise<void> {
    return this.exclusive(async () => {
      if (!this.volumes.has(name)) throw notFound(`get ${name}: no such volume`);
      if (inUseBy.length > 0) throw conflict(`remove ${name}: volume is in use - [${inUseBy.join(', ')}]`);
      const path = this.dataPath(name);
      if (await isMountPoint(path)) await unmount(path);
      this.volumes.delete(name);
      // Rename first: the name is gone at once even if the delete is slow or interrupted.
      const trash = join(this.dir, `.del-${randomBytes(6).toString('hex')}`);
      await rename(join(this.dir, name), trash);
      await rm(trash, { recursive: true, force: true });
    });
  }

  size(name: string): Promise<number> {
    return contentSize(this.dataPath(name));
  }
}
