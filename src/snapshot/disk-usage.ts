import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../util/errors.js';

/**
 * Bytes of file content under `dir`, counting each inode once and ignoring directory
 * sizes: the same measure docker uses for layer and container sizes.
 */
export async function contentSize(dir: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (path: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    for (const name of names) {
      const child = join(path, name);
      let info;
      try {
        info = await lstat(child, { bigint: true });
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      if (info.isDirectory()) {
        await walk(child);
        continue;
      }
      if (info.size === 0n) continue;
      const key = `${info.dev}:${info.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += Number(info.size);
    }
  };
  await walk(dir);
  return total;
}
