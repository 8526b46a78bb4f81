/**
 * Resolving a path inside a container the way the kernel would from inside it, without ever
 * leaving the container: symlinks are followed relative to the container's root (an absolute
 * target restarts at the root, ".." stops at it), and paths under a volume or bind mount lead
 * into that mount's host directory.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { invalidParameter, isErrno } from '../util/errors.js';

const MAX_SYMLINKS = 255;

export interface ResolvedPath {
  /** Where the path is on the host. */
  hostPath: string;
  /** The canonical path inside the container (symlinks resolved). */
  containerPath: string;
}

/**
 * Follows `path` (absolute, inside the container) against `root`, resolving every symlink
 * inside the root. The last component is followed too unless `followLast` is false. Missing
 * components are fine (the result names where they would be).
 */
export async function resolveInRoot(root: string, path: string, followLast = true): Promise<ResolvedPath> {
  const pending = posix.normalize(`/${path}`).split('/').filter((p) => p !== '');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = [...done, part];
    if (pending.length === 0 && !followLast) {
      done.push(part);
      break;
    }
    let info;
    try {
      info = await lstat(join(root, ...candidate));
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      done.push(part, ...pending.filter((p) => p !== '.'));
      pending.length = 0;
      break;
    }
    if (!info.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw invalidParameter(`too many levels of symbolic links: ${path}`);
    const target = await readlink(join(root, ...candidate));
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/').filter((p) => p !== ''));
  }
  // Names after a missing component may still hold "..": normalise them inside the root.
  const containerPath = posix.normalize(`/${done.join('/')}`);
  return { hostPath: containerPath === '/' ? root : join(root, containerPath), containerPath };
}

export interface MountLike {
  Destination: string;
  Source: string;
  Type: string;
}

/**
 * Resolves a container path through the container's mounts: the canonical path is found in the
 * rootfs, and if it lies under a volume or bind mount, the rest is resolved inside that mount's
 * source (still never leaving it). tmpfs mounts have no host directory and are not reachable.
 */
export async function resolveContainerPath(rootfs: string, mounts: readonly MountLike[], path: string, followLast = true): Promise<ResolvedPath & { mount?: MountLike }> {
  const inRoot = await resolveInRoot(rootfs, path, followLast);
  const candidates = mounts
    .filter((m) => m.Type !== 'tmpfs' && (inRoot.containerPath === m.Destination || inRoot.containerPath.startsWith(`${m.Destination}/`)))
    .sort((a, b) => b.Destination.length - a.Destination.length);
  const mount = candidates[0];
  if (!mount) return inRoot;
  const rest = inRoot.containerPath.slice(mount.Destination.length) || '/';
  const inside = await resolveInRoot(mount.Source, rest, followLast);
  return { hostPath: inside.hostPath, containerPath: posix.join(mount.Destination, inside.containerPath), mount };
}
