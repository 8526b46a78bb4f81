/**
 * Cross-process locks as O_EXCL files holding the owner's pid: the host-wide subnet lock, the
 * machine store's lock. A lock whose owner died is taken over, so a crash never wedges them.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { isErrno } from './errors.js';

/** True while `pid` exists (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/** Runs `fn` holding the lock file at `path`; `what` names the lock in the timeout error. */
export async function withPidFileLock<T>(path: string, what: string, fn: () => Promise<T>, timeoutMs: number): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; ) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      // A lock whose owner died is taken over; an empty one may still be being written.
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (owner > 0 && !processAlive(owner)) await unlink(path).catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} ${path}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
