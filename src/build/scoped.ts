/**
 * Paths inside a root directory (a build context, an image's filesystem) resolved the way a
 * chroot would: symlinks are followed relative to the root, and `..` or an absolute link can
 * never lead outside it. Everything the builder reads from a context or image goes through here.
 */
import { lstat, readlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { invalidParameter, isErrno } from '../util/errors.js';

const MAX_LINKS = 40;

export interface ScopedEntry {
  /** The path inside the root after resolution, "" for the root itself. */
  rel: string;
  abs: string;
  stat: Stats;
}

/**
 * Resolves `path` (absolute or relative to the root) inside `root`. With followFinal the last
 * component is followed too when it is a symlink. Returns undefined when it does not exist.
 */
export async function resolveScoped(root: string, path: string, followFinal = true): Promise<ScopedEntry | undefined> {
  let pending = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const rel = [...done, part].join('/');
    let stat: Stats;
    try {
      stat = await lstat(join(root, rel));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
    if (stat.isSymbolicLink() && (pending.length > 0 || followFinal)) {
      if (++links > MAX_LINKS) throw invalidParameter(`too many levels of symbolic links resolving ${path}`);
      const target = await readlink(join(root, rel));
      const targetParts = target.split('/').filter(Boolean);
      if (target.startsWith('/')) done.length = 0;
      pending = [...targetParts, ...pending];
      continue;
    }
    if (pending.length > 0 && !stat.isDirectory()) return undefined;
    done.push(part);
  }
  const rel = done.join('/');
  const abs = rel === '' ? root : join(root, rel);
  return { rel, abs, stat: await lstat(abs) };
}

/** True when a context-relative source path climbs out of the context. */
export function escapesRoot(path: string): boolean {
  const normalized = posix.normalize(path);
  return normalized === '..' || normalized.startsWith('../');
}
