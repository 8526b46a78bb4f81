/**
 * Reading an image's files without running anything: a path is looked up through the
 * unpacked layers, topmost first, honouring overlay whiteouts (0:0 character devices) and
 * opaque directories. Enough for the builder's questions (does the WORKDIR exist, is the COPY
 * destination a directory, what uid is `--chown=app`); whole-tree reads use a mounted view.
 */
import type { Stats } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { invalidParameter, isErrno } from '../util/errors.js';
import { parseGroup, parsePasswd } from '../runtime/user.js';

function isWhiteout(stat: Stats): boolean {
  return stat.isCharacterDevice() && stat.rdev === 0;
}

export class ImageFs {
  /** @param layers unpacked layer directories, topmost first (ImageStore.layerPaths order). */
  constructor(private readonly layers: readonly string[]) {}

  /**
   * lstat of `path` as the merged filesystem would show it (no symlink following). Opaque
   * directories are not consulted (reading the xattr costs a process per layer); a path
   * deleted and re-created below an opaque directory is still found in the upper layer first.
   */
  async stat(path: string): Promise<{ stat: Stats; abs: string } | undefined> {
    const rel = posix.normalize(`/${path}`).replace(/^\/+/, '').replace(/\/+$/, '');
    if (rel === '') return undefined;
    const parts = rel.split('/');
    for (const layer of this.layers) {
      const abs = join(layer, rel);
      try {
        const stat = await lstat(abs);
        return isWhiteout(stat) ? undefined : { stat, abs };
      } catch (err) {
        if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
      }
      // A whiteout or a non-directory over a parent hides everything below it.
      for (let i = parts.length - 1; i >= 1; i--) {
        const st = await lstat(join(layer, ...parts.slice(0, i))).catch(() => undefined);
        if (st) {
          if (isWhiteout(st) || !st.isDirectory()) return undefined;
          break;
        }
      }
    }
    return undefined;
  }

  async isDirectory(path: string): Promise<boolean> {
    return (await this.stat(path))?.stat.isDirectory() ?? false;
  }

  async readText(path: string): Promise<string | undefined> {
    const found = await this.stat(path);
    if (!found || !found.stat.isFile()) return undefined;
    return readFile(found.abs, 'utf8');
  }

  /** `--chown` values: numbers as they are, names through the image's /etc/passwd and /etc/group. */
  async resolveOwner(spec: string): Promise<{ uid: number; gid: number }> {
    const [userPart, groupPart] = spec.split(':') as [string, string | undefined];
    let uid: number;
    let gid: number | undefined;
    if (/^\d+$/.test(userPart)) {
      uid = Number(userPart);
    } else {
      const entry = parsePasswd((await this.readText('/etc/passwd')) ?? '').find((e) => e.name === userPart);
      if (!entry) throw invalidParameter(`unable to convert uid/gid chown string to host mapping: can't find uid for user ${userPart}: no such user: ${userPart}`);
      uid = entry.uid;
      if (groupPart === undefined) gid = entry.gid;
    }
    if (groupPart !== undefined && groupPart !== '') {
      if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
      else {
        const entry = parseGroup((await this.readText('/etc/group')) ?? '').find((e) => e.name === groupPart);
        if (!entry) throw invalidParameter(`unable to convert uid/gid chown string to host mapping: can't find gid for group ${groupPart}: no such group: ${groupPart}`);
        gid = entry.gid;
      }
    }
    return { uid, gid: gid ?? uid };
  }
}
