import { open, rename, readFile, mkdir, unlink } from 'node:fs/promises';
import { openSync, writeSync, fsyncSync, closeSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { isErrno } from './errors.js';

/** A temp name in the same directory, so the final rename never crosses filesystems. */
function tempNameFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
}

/**
 * How much a write must survive, beyond readers and a daemon crash always seeing the old or the
 * new content whole (the temp+rename guarantees that, the page cache outlives a process):
 * - 'full' (default): after a power cut the new content is there: fsync of the file and of its
 *   directory (so the rename itself is on disk).
 * - 'contents': after a power cut the file holds the old or the new content, never a torn or
 *   empty one (the file is fsynced before the rename), but the rename may be lost. For state
 *   that start-up recovery reconciles with what is really there (a container's running/exited
 *   state after a power cut: every process is gone and recovery records the exit).
 * - 'none': no fsync at all. Only for files under the exec root, which is volatile by design
 *   (/run, a tmpfs: nothing there outlives a reboot, and fsync does nothing on it).
 */
export type Durability = 'full' | 'contents' | 'none';

/** Writes a file so that readers (and a crash) only ever see the old or the new content. */
export async function atomicWriteFile(path: string, data: string | Uint8Array, mode = 0o644, durability: Durability = 'full'): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  const handle = await open(tmp, 'w', mode);
  try {
    await handle.writeFile(data);
    if (durability !== 'none') await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  await rename(tmp, path);
  if (durability === 'full') await syncDir(dirname(path));
}

export async function atomicWriteJson(path: string, value: unknown, durability: Durability = 'full'): Promise<void> {
  await atomicWriteFile(path, JSON.stringify(value), 0o644, durability);
}

/** Synchronous twin, for the few places (shutdown, lock files) that can't await. */
export function atomicWriteFileSync(path: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempNameFor(path);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** fsync of a directory, so a rename into it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}

/** Reads JSON, returning undefined when the file does not exist. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}
