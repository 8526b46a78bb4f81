import { lstat, readlink, readFile } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { isErrno, invalidParameter } from '../util/errors.js';

const MAX_SYMLINKS = 255;

/**
 * Maps a path inside a container's rootfs to a host path, resolving symlinks as if `root`
 * were "/": absolute link targets restart at the root and ".." never climbs above it. An image
 * can therefore not point /etc/passwd at a host file. (A rootfs that changes while this runs
 * could still race it; images are immutable once unpacked, so that is acceptable here.)
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  let pending = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = (await lstat(candidate)).isSymbolicLink();
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw invalidParameter(`too many levels of symbolic links resolving ${path} in the container`);
    const target = await readlink(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/').filter(Boolean), ...pending];
  }
  return join(root, ...resolved);
}

/** Reads a text file from the rootfs, undefined when it doesn't exist there. */
export async function readFileInRoot(root: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(root, path), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR') || isErrno(err, 'EISDIR')) return undefined;
    throw err;
  }
}
