/** Networks on disk: one JSON file per network under <data-root>/network, written atomically. */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists, type Durability } from '../util/atomic.js';
import { notFound } from '../util/errors.js';
import type { NetworkRecord } from './types.js';
import { compareText } from '../util/compare.js';

export class NetworkStore {
  private readonly byId = new Map<string, NetworkRecord>();
  /** Overlay networks: the cluster store's, mirrored here and never written to disk. */
  private readonly global = new Map<string, NetworkRecord>();

  /** Each network's file writes, one after the other (see save). */
  private readonly writes = new Map<string, Promise<void>>();

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
    return [...this.byId.values(), ...this.global.values()].sort((a, b) => compareText(a.created, b.created));
  }

  /** Replaces the mirrored overlay networks with the cluster store's current set. */
  setGlobal(records: NetworkRecord[]): void {
    this.global.clear();
    for (const r of records) this.global.set(r.id, r);
  }

  /** docker's lookup order: full id, exact name, then a unique id prefix. */
  tryGet(ref: string): NetworkRecord | undefined {
    const exact = this.byId.get(ref) ?? this.global.get(ref);
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

  /**
   * Writes the network's file. Writes of one network go one after the other, each of the record
   * as it is when its turn comes: two allocations saved at once could otherwise rename their
   * files in the wrong order and leave the older content on disk.
   */
  async save(record: NetworkRecord, durability: Durability = 'full'): Promise<void> {
    if (record.driver === 'overlay') {
      this.global.set(record.id, record);
      return;
    }
    const previous = this.writes.get(record.id) ?? Promise.resolve();
    const write = previous.catch(() => undefined).then(() => atomicWriteJson(join(this.root, `${record.id}.json`), record, durability));
    this.writes.set(record.id, write);
    const forget = (): void => {
      if (this.writes.get(record.id) === write) this.writes.delete(record.id);
    };
    write.then(forget, forget);
    await write;
    this.byId.set(record.id, record);
  }

  /** Resolves once every write begun so far is over (shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writes.values()]);
  }

  async delete(id: string): Promise<void> {
    if (this.global.delete(id)) return;
    this.byId.delete(id);
    await rm(join(this.root, `${id}.json`), { force: true });
  }
}
