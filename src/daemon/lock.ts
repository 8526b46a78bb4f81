/**
 * One berthd per data-root, and no stealing of a live daemon's socket. The lock is a pid file
 * in the data-root: taken with O_EXCL, and treated as stale when its pid is gone.
 */
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { unlink } from 'node:fs/promises';
import { conflict, isErrno } from '../util/errors.js';
import { processAlive } from '../util/pid-lock.js';

export function acquirePidLock(path: string, what: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw conflict(`${what} is locked by a running berthd (pid ${pid}, ${path}); stop it first, or choose another --data-root`);
      }
      unlinkSync(path);
    }
  }
  throw conflict(`could not take the lock ${path}`);
}

/** A leftover socket file from a killed daemon is removed; a live one is an error. */
export async function claimSocketPath(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const inUse = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (inUse) throw conflict(`the socket unix://${path} is in use by another process (is another berthd or dockerd listening there?)`);
  await unlink(path);
}
