/**
 * Network namespaces kept alive by a bind mount on a file, so a container's network exists
 * before runc starts it (berth wires eth0 first, then runc joins the namespace by path) and
 * outlives the process if berthd needs to tear it down after an exit.
 */
import { existsSync } from 'node:fs';
import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execToolChecked } from './exec.js';
import { unmount } from './fs.js';
import { netlinkAddon } from './netlink.js';
import { errorMessage, isErrno, systemError } from '../util/errors.js';

/** Directories namespaces were pinned in: made once per daemon, not once per container. */
const madeDirs = new Set<string>();

async function ensureDir(dir: string): Promise<void> {
  if (madeDirs.has(dir) && existsSync(dir)) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  madeDirs.add(dir);
}

/** Creates a fresh network namespace and pins it at `path` (as util-linux `unshare --net=FILE`). */
export async function createNetns(path: string): Promise<void> {
  await ensureDir(dirname(path));
  const native = netlinkAddon();
  if (!native) {
    const handle = await open(path, 'a', 0o600);
    await handle.close();
    await execToolChecked('unshare', [`--net=${path}`, 'true']);
    return;
  }
  try {
    await native.createNetns(path);
  } catch (err) {
    throw systemError(`creating network namespace ${path}: ${errorMessage(err)}`);
  }
}

/** Unmounts and removes a pinned namespace; the kernel frees it (and its veths) once unused. */
export async function removeNetns(path: string): Promise<void> {
  await unmount(path).catch(() => undefined);
  try {
    // unlink, not rm: rm's lstat-then-unlink is two trips through the thread pool.
    await unlink(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
}

/** Runs a tool inside a namespace. */
export function execInNetns(path: string, file: string, args: string[], input?: string): Promise<string> {
  return execToolChecked('nsenter', [`--net=${path}`, file, ...args], input === undefined ? {} : { input });
}
