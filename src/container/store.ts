import { readdir, rm, mkdir } from 'node:fs/promises';
import { discardDir, sweepTrash } from '../sys/trash.js';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';
import { conflict, invalidParameter, notFound } from '../util/errors.js';
import type { ContainerRecord } from './model.js';

const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export function validateContainerName(name: string): string {
  if (!VALID_NAME.test(name)) {
    throw invalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  return name.replace(/^\//, '');
}

/**
 * Containers on disk, one directory each (DATA/containers/<id>/config.v2.json), mirrored in
 * memory so lookups are synchronous. The name index is what makes names unique.
 */
export class ContainerStore {
  private readonly byId = new Map<string, ContainerRecord>();
  private readonly byName = new Map<string, string>();

  private constructor(readonly root: string) {}

  static async open(root: string): Promise<ContainerStore> {
    const store = new ContainerStore(root);
    await mkdir(root, { recursive: true });
    await sweepTrash(root);
    for (const entry of await readdir(root)) {
      if (!/^[0-9a-f]{64}$/.test(entry)) continue;
      const record = await readJsonIfExists<ContainerRecord>(join(root, entry, 'config.v2.json'));
      // A directory without a committed config is a create that crashed half-way: drop it.
      if (!record) {
        await rm(join(root, entry), { recursive: true, force: true });
        continue;
      }
      store.byId.set(record.id, record);
      store.byName.set(record.name, record.id);
    }
    return store;
  }

  dir(id: string): string {
    return join(this.root, id);
  }

  all(): ContainerRecord[] {
    return [...this.byId.values()];
  }

  nameTaken(name: string): boolean {
    return this.byName.has(name);
  }

  /** Full ID, name (with or without '/'), or unique ID prefix, in docker's order of precedence. */
  tryGet(idOrName: string): ContainerRecord | undefined {
    const exact = this.byId.get(idOrName);
    if (exact) return exact;
    const byName = this.byName.get(idOrName.replace(/^\//, ''));
    if (byName) return this.byId.get(byName);
    if (!/^[0-9a-f]+$/.test(idOrName)) return undefined;
    const matches = [...this.byId.keys()].filter((id) => id.startsWith(idOrName));
    if (matches.length > 1) throw invalidParameter(`multiple IDs found with provided prefix: ${idOrName}`);
    return matches.length === 1 ? this.byId.get(matches[0]!) : undefined;
  }

  get(idOrName: string): ContainerRecord {
    const record = idOrName === '' ? undefined : this.tryGet(idOrName);
    if (!record) throw notFound(`No such container: ${idOrName}`);
    return record;
  }

  reserveName(name: string, id: string): void {
    const holder = this.byName.get(name);
    if (holder && holder !== id) {
      throw conflict(`Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.byName.set(name, id);
  }

  releaseName(name: string): void {
    this.byName.delete(name);
  }

  async save(record: ContainerRecord): Promise<void> {
    await atomicWriteJson(join(this.dir(record.id), 'config.v2.json'), record);
    this.byId.set(record.id, record);
    this.byName.set(record.name, record.id);
  }

  /**
   * Saves a run-state change (started, exited). After a power cut every container has stopped
   * whatever the file says, and start-up recovery reconciles a "running" record with the
   * runtime (records the exit), so losing the rename costs little: the file is fsynced (never
   * torn) but its directory isn't, one fsync instead of two on every start and exit. The rename
   * still reaches the disk with the filesystem's next journal commit (ext4: within 5 s).
   */
  async saveState(record: ContainerRecord): Promise<void> {
    await atomicWriteJson(join(this.dir(record.id), 'config.v2.json'), record, 'contents');
    this.byId.set(record.id, record);
    this.byName.set(record.name, record.id);
  }

  async delete(id: string): Promise<void> {
    const record = this.byId.get(id);
    if (!record) return;
    this.byId.delete(id);
    if (this.byName.get(record.name) === id) this.byName.delete(record.name);
    await discardDir(this.dir(id));
  }
}
