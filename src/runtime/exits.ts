import { watch, type FSWatcher } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { readFile, stat, access } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExitStatus } from './types.js';
import { isErrno } from '../util/errors.js';

/**
 * Container ids the driver accepts. conmon writes exit files via a temp name "ID.XXXXXX" then
 * renames it, so ids without dots let the watcher tell finished files from temp ones.
 */
export const CONTAINER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Reads conmon's exit record for a container: EXITDIR/ID holds the status, PERSIST/oom marks an OOM kill. */
export async function readExitStatus(exitDir: string, persistDir: string, id: string): Promise<ExitStatus | undefined> {
  const candidates = [join(exitDir, id), join(persistDir, 'exit')];
  for (const path of candidates) {
    let text: string;
    let finishedAt: Date;
    try {
      const info = await stat(path);
      text = await readFile(path, 'utf8');
      finishedAt = info.mtime;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    const exitCode = Number.parseInt(text.trim(), 10);
    if (!Number.isInteger(exitCode)) continue;
    const oomKilled = await access(join(persistDir, 'oom')).then(
      () => true,
      () => false,
    );
    return { exitCode, oomKilled, finishedAt };
  }
  return undefined;
}

/**
 * One inotify watch on the exit directory, fanned out to subscribers. Each exit file is reported
 * once per (id, inode, mtime): fs.watch may say "rename" and "change" for one write, and a
 * restarted container writes a new file under the same id.
 */
export class ExitWatcher {
  private watcher: FSWatcher | undefined;
  private readonly callbacks = new Set<(id: string) => void>();
  private readonly seen = new Map<string, string>();

  constructor(private readonly exitDir: string) {}

  subscribe(callback: (id: string) => void): () => void {
    this.callbacks.add(callback);
    this.ensureWatching();
    return () => {
      this.callbacks.delete(callback);
      if (this.callbacks.size === 0) this.close();
    };
  }

  /** Forgets what was reported for a container whose files were removed. */
  forget(id: string): void {
    this.seen.delete(id);
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private ensureWatching(): void {
    if (this.watcher) return;
    mkdirSync(this.exitDir, { recursive: true });
    this.watcher = watch(this.exitDir, { persistent: false }, (_event, filename) => {
      if (typeof filename === 'string' && CONTAINER_ID_PATTERN.test(filename)) void this.check(filename);
    });
    this.watcher.on('error', () => this.close());
  }

  private async check(id: string): Promise<void> {
    let key: string;
    try {
      const info = await stat(join(this.exitDir, id));
      if (!info.isFile() || info.size === 0) return;
      key = `${info.ino}:${info.mtimeMs}`;
    } catch {
      return; // removed again (delete) before we looked
    }
    if (this.seen.get(id) === key) return;
    this.seen.set(id, key);
    for (const callback of [...this.callbacks]) {
      try {
        callback(id);
      } catch {
        // A subscriber's failure must not stop the others from hearing about the exit.
      }
    }
  }
}
