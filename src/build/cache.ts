/**
 * The build cache index: step key -> image ID, kept at DATA_ROOT/builder/cache.json and
 * rewritten atomically at the end of every build that added steps (failed builds included). A step's key is the sha256 of its parent image
 * ID, the instruction text with build args resolved, and (COPY/ADD) the checksum of what it
 * copies; the image it produced is the cached answer as long as it still exists.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';

interface CacheFile {
  version: 1;
  entries: Record<string, string>;
}

export function stepKey(parentImageId: string, instruction: string, contentChecksum = ''): string {
  return createHash('sha256').update(`${parentImageId}\n${instruction}\n${contentChecksum}`).digest('hex');
}

/**
 * The image IDs the cache index answers with, and how many steps lead to each, read from disk
 * without loading the builder (system df wants them from a daemon that may never have built).
 */
export async function cachedImageIds(root: string): Promise<Map<string, number>> {
  const file = await readJsonIfExists<CacheFile>(join(root, 'cache.json'));
  const counts = new Map<string, number>();
  if (file?.version !== 1) return counts;
  for (const id of Object.values(file.entries)) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

export class BuildCache {
  private entries = new Map<string, string>();
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(private readonly path: string) {}

  static async open(root: string): Promise<BuildCache> {
    const cache = new BuildCache(join(root, 'cache.json'));
    const file = await readJsonIfExists<CacheFile>(cache.path);
    if (file?.version === 1) cache.entries = new Map(Object.entries(file.entries));
    return cache;
  }

  get(key: string): string | undefined {
    return this.entries.get(key);
  }

  /** Records a step in memory; flush() persists (once per build, not once per step). */
  set(key: string, imageId: string): void {
    if (this.entries.get(key) === imageId) return;
    this.entries.set(key, imageId);
    this.dirty = true;
  }

  async flush(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    await this.save();
  }

  /** Drops entries whose image is gone (or all); returns how many went. */
  async prune(keep: (imageId: string) => boolean): Promise<number> {
    let removed = 0;
    for (const [key, id] of this.entries) {
      if (!keep(id)) {
        this.entries.delete(key);
        removed++;
      }
    }
    await this.save();
    return removed;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Writes are chained so two builds finishing together never lose each other's entries. */
  private save(): Promise<void> {
    const run = this.writing.then(() => atomicWriteJson(this.path, { version: 1, entries: Object.fromEntries(this.entries) } satisfies CacheFile));
    this.writing = run.catch(() => undefined);
    return run;
  }
}
