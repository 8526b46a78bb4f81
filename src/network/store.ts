/** Networks on disk: one JSON file per network under <data-root>/network, written atomically. */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';
import { notFound } from '../util/errors.js';
import type { NetworkRecord } from './types.js';

export class NetworkStore {
  private readonly byId = new Map<string, NetworkRecord>();

  private constructor(private readonly root: string) {}

  static async open(root: string): Promise<NetworkStore> {
    await mkdir(root, { recursive: true, mode: 0o700 });
    const store = new NetworkStore(root);
    for (const entry of await readdir(root)) {
      if (!entry.endsWith('.json') || entry.startsWith('.')) continue;
      const record = await readJsonIfExists<NetworkRecord>(join(root, entry));
      if (record) store.byId.set(record.id, record);
    }
    return store;
  }

  all(): NetworkRecord[] {
    return [...this.byId.values()].sort((a, b) => a.created.localeCompare(b.created));
  }

  /** docker's lookup order: full id, exact name, then a unique id prefix. */
  tryGet(ref: string): NetworkRecord | undefined {
    const exact = this.byId.get(ref);
    if (exact) return exact;
    const named = this.all().find((n) => n.name === ref);
    if (named) return named;
    const prefixed = this.all().filter((n) => n.id.startsWith(ref));
    return prefixed.length === 1 ? prefixed[0] : undefined;
  }

  get(ref: string): NetworkRecord {
    const record = this.tryGet(ref);
    if (!record) throw notFound(`network ${ref} not found`);
    return record;
  }

  async save(record: NetworkRecord): Promise<void> {
    await atomicWriteJson(join(this.root, `${record.id}.json`), record);
    this.byId.set(record.id, record);
  }

  async delete(id: string): Promise<void> {
    this.byId.delete(id);
    await rm(join(this.root, `${id}.json`), { force: true });
  }
}
