/**
 * The machine store's lock: creates reserve a name and an address, and make the shared CA, one
 * at a time across processes. An O_EXCL file holding the owner's pid; a dead owner's lock is
 * taken over.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { withPidFileLock } from '../../util/pid-lock.js';

export async function withStoreLock<T>(root: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  return withPidFileLock(join(root, '.lock'), 'the machine store lock', fn, timeoutMs);
}
