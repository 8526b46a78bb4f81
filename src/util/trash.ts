/**
 * Recursive deletes off the paths users wait on. A directory is first renamed to a hidden
 * sibling (".del-<random>"), which is atomic, so it is gone under its own name at once and a
 * new one may take that name; the tree itself is removed in the background. Node's recursive
 * rm walks the tree one thread-pool round trip per entry: for a container's directories that
 * was 2-10 ms of every `run --rm`. Debris from a crash mid-delete is swept when the owning
 * store opens, and shutdown waits for deletes still running (drainTrash).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isErrno } from './errors.js';

const TRASH_PREFIX = '.del-';
const pending = new Set<Promise<void>>();

/** Removes `dir` (a no-op when it is absent); resolves once it is out of sight, not deleted. */
export async function discardDir(dir: string): Promise<void> {
  const hidden = join(dirname(dir), `${TRASH_PREFIX}${basename(dir)}-${randomBytes(4).toString('hex')}`);
  try {
    await rename(dir, hidden);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  const deleting: Promise<void> = rm(hidden, { recursive: true, force: true })
    .catch(() => undefined)
    .finally(() => pending.delete(deleting));
  pending.add(deleting);
}

/** Deletes what a previous daemon left half-discarded in `parent`. */
export async function sweepTrash(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(TRASH_PREFIX)).map((n) => rm(join(parent, n), { recursive: true, force: true })));
}

/** Resolves when every background delete started so far has finished. */
export async function drainTrash(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}
