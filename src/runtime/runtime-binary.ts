/**
 * The runc binary berthd runs containers with: a sealed in-memory copy made once at start-up.
 *
 * Why: runc must not run a binary a container could overwrite through /proc/self/exe
 * (CVE-2019-5736), so each `runc init` bind-mounts or copies its own binary and executes itself
 * a second time, at every container start and every exec. Started from a sealed memfd (no write,
 * grow or shrink), runc knows it is safe and skips that (runc's is_self_cloned). runc documents
 * the same for an admin who binds a sealed memfd over the binary.
 *
 * runc is executed through EXEC_ROOT/runtime/runc, a symlink to /proc/BERTHD/fd/N, so its
 * processes keep the name "runc". The copy costs the binary's size in shared memory for the
 * daemon's life, and an upgraded runc takes effect at berthd's next start.
 */
import { mkdirSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { findAddon } from '../sys/addon.js';

interface SealedCopyAddon {
  sealedCopy?(path: string, name: string): number;
}

/** The path to run runc by: the sealed copy's link, or RUNC_PATH itself when a copy can't be made. */
export function sealedRuntimePath(runcPath: string, execRoot: string, debug: (message: string) => void = () => undefined): string {
  const addon = findAddon<SealedCopyAddon>('sysmount');
  if (!addon?.sealedCopy) return runcPath;
  try {
    const fd = addon.sealedCopy(runcPath, 'runc');
    const dir = join(execRoot, 'runtime');
    mkdirSync(dir, { recursive: true });
    const link = join(dir, 'runc');
    const temp = `${link}.${process.pid}`;
    try {
      unlinkSync(temp);
    } catch {
      // none left over
    }
    symlinkSync(`/proc/${process.pid}/fd/${fd}`, temp);
    renameSync(temp, link);
    return link;
  } catch (err) {
    debug(`runc runs from ${runcPath}: no sealed copy (${(err as Error).message})`);
    return runcPath;
  }
}
