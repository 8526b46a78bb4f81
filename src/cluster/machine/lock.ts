/**
 * The machine store's lock: creates reserve a name and an address, and make the shared CA, one
 * at a time across processes. An O_EXCL file holding the owner's pid; a dead owner's lock is
 * taken over.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../../util/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

export async function withStoreLock<T>(root: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const path = join(root, '.lock');
  for (const deadline = Date.now() + timeoutMs; ; ) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (owner > 0 && !alive(owner)) await unlink(path).catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`timed out waiting for the machine store lock ${path}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
