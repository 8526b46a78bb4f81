/**
 * Recursive deletes off the paths users wait on. A directory is first renamed to a hidden
 * sibling (".del-<random>"), which is atomic, so it is gone under its own name at once and a
 * new one may take that name; the tree itself is removed in the background, on one pool thread
 * (removeTree): node's recursive rm walks the tree one thread-pool round trip per entry, for a
 * container's directories 2-10 ms of every `run --rm`, and its JavaScript ran on the event loop. Debris from a crash mid-delete is swept when the owning
 * store opens, and shutdown waits for deletes still running (drainTrash).
 */
import { randomBytes } from 'node:crypto';
import { readdir, rename } from 'node:fs/promises';
import { removeTree } from './fs.js';
import { basename, dirname, join } from 'node:path';
import { isErrno } from '../util/errors.js';

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
  const deleting: Promise<void> = removeTree(hidden)
    .catch(() => undefined)
    .finally(() => pending.delete(deleting));
  pending.add(deleting);
}

/** Deletes what a previous daemon left half-discarded in `parent`. */
export async function sweepTrash(parent: string): Promise<void> {
  const names = await readdir(parent).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(TRASH_PREFIX)).map((n) => removeTree(join(parent, n)).catch(() => undefined)));
}

/** Resolves when every background delete started so far has finished. */
export async function drainTrash(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}
