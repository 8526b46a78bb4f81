/**
 * Unpacks one image layer tar into an empty directory, converting OCI whiteouts to the form
 * overlayfs understands, and computes the layer's diffID (sha256 of the uncompressed tar).
 *
 * The tar is untrusted input. Every entry is confined to the target directory: absolute
 * names and ".." are refused, no path component inside the target is ever followed as a
 * symlink (an entry below a symlink is refused), hardlinks may only point at entries already
 * unpacked inside the target, and existing entries are unlinked, never written through.
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, open, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { invalidParameter, isBerthError, isErrno } from '../util/errors.js';
import { makeNode, setXattr } from '../sys/fs.js';
import { decompressed } from './decompress.js';

const WHITEOUT_PREFIX = '.wh.';
const WHITEOUT_META_PREFIX = '.wh..wh.';
const WHITEOUT_OPAQUE = '.wh..wh..opq';
const PAX_XATTR_PREFIX = 'SCHILY.xattr.';
/** Overlay's own attributes must come from us, never from image content. */
const RESERVED_XATTR_PREFIX = 'trusted.overlay.';

export interface ApplyTarOptions {
  /** Receives every uncompressed byte, in order (e.g. to keep the layer tar as a blob). */
  onData?: (chunk: Buffer) => Promise<void>;
  /**
   * A plain archive rather than a layer (docker cp): `.wh.` names are ordinary files, not
   * deletions. Defaults to false (layer semantics).
   */
  plainArchive?: boolean;
  /**
   * docker's noOverwriteDirNonDir: refuse to replace a directory with a non-directory or the
   * reverse. `shownAs` is the target's path as the user knows it, for the error message.
   */
  noOverwriteDirNonDir?: { shownAs: string };
}

export interface ApplyTarResult {
  /** "sha256:<hex>" of the uncompressed tar stream. */
  diffId: string;
  /** Number of tar entries applied (whiteouts included). */
  entries: number;
}

type Header = tar.Header;

function badEntry(name: string, problem: string): Error {
  return invalidParameter(`invalid layer tar entry ${JSON.stringify(name)}: ${problem}`);
}

/** Cleans an entry name to a relative path inside the target ("" is the target itself). */
export function cleanEntryPath(name: string): string {
  if (name.startsWith('/')) throw badEntry(name, 'absolute paths are not allowed');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw badEntry(name, '".." would leave the layer directory');
  if (parts.some((p) => p.includes('\0'))) throw badEntry(name, 'NUL in path');
  return parts.join('/');
}

function dirOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

class LayerUnpacker {
  /** Relative paths known to be real directories we created or checked (never symlinks). */
  private readonly realDirs = new Set<string>(['']);
  private readonly dirTimes: Array<{ path: string; mtime: Date }> = [];

  constructor(
    private readonly root: string,
    private readonly options: ApplyTarOptions = {},
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /**
   * Makes sure every ancestor of `rel` is a real directory, creating missing ones (0755).
   * A symlink or non-directory among them is refused rather than followed.
   */
  private async ensureParents(entryName: string, rel: string, create: boolean): Promise<void> {
    const parts = rel.split('/');
    parts.pop();
    let prefix = '';
    for (const part of parts) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.realDirs.has(prefix)) continue;
      const path = this.abs(prefix);
      let info;
      try {
        info = await lstat(path);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        if (!create) throw badEntry(entryName, `${prefix} does not exist in the layer`);
        await mkdir(path, { mode: 0o755 });
        await chmod(path, 0o755);
        this.realDirs.add(prefix);
        continue;
      }
      if (info.isSymbolicLink()) throw badEntry(entryName, `its parent ${prefix} is a symlink; refusing to follow it`);
      if (!info.isDirectory()) throw badEntry(entryName, `its parent ${prefix} is not a directory`);
      this.realDirs.add(prefix);
    }
  }

  /** Unlinks whatever is at `rel` (recursively for directories) so nothing is written through it. */
  private async clearPath(rel: string): Promise<void> {
    try {
      // Most names are new: one unlink answers, with no walk.
      await unlink(this.abs(rel));
      return;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      if (!isErrno(err, 'EISDIR') && !isErrno(err, 'EPERM')) throw err;
    }
    await rm(this.abs(rel), { recursive: true, force: true });
    for (const known of this.realDirs) {
      if (known === rel || known.startsWith(`${rel}/`)) this.realDirs.delete(known);
    }
  }

  private async existing(rel: string) {
    try {
      return await lstat(this.abs(rel));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async apply(header: Header, body: Readable): Promise<void> {
    const rel = cleanEntryPath(header.name);
    const base = baseOf(rel);
    if (rel !== '' && base.startsWith(WHITEOUT_PREFIX) && !this.options.plainArchive) {
      await this.applyWhiteout(header, rel, base);
      return;
    }
    if (rel === '') {
      if (header.type !== 'directory') throw badEntry(header.name, 'the layer root must be a directory');
      // docker cp leaves the extraction point's owner and mode alone (a "./" entry must not turn /tmp 0755).
      if (this.options.plainArchive) return;
      await this.setMetadata(header, rel);
      return;
    }
    await this.ensureParents(header.name, rel, true);
    // After the parents are known to be real directories, so the check never looks through a link.
    if (this.options.noOverwriteDirNonDir) await this.refuseDirNonDirSwap(header, rel, this.options.noOverwriteDirNonDir.shownAs);
    switch (header.type) {
      case 'directory':
        await this.applyDirectory(header, rel);
        return;
      case 'file':
      case 'contiguous-file':
        await this.applyFile(header, rel, body);
        return;
      case 'symlink':
        await this.clearPath(rel);
        await symlink(header.linkname, this.abs(rel));
        await this.setMetadata(header, rel);
        return;
      case 'link':
        await this.applyHardlink(header, rel);
        return;
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await this.clearPath(rel);
        await makeNode(this.abs(rel), header.type === 'fifo' ? 'fifo' : header.type === 'block-device' ? 'block' : 'char', header.mode, header.devmajor, header.devminor);
        await this.setMetadata(header, rel);
        return;
      default:
        throw badEntry(header.name, `unsupported tar entry type ${String(header.type)}`);
    }
  }

  /** Docker's wording: the entry's path and the extraction point, both as the container sees them. */
  private async refuseDirNonDirSwap(header: Header, rel: string, shownAs: string): Promise<void> {
    const info = await this.existing(rel);
    if (!info) return;
    const entryIsDir = header.type === 'directory';
    const shown = `${shownAs.replace(/\/+$/, '')}/${rel}`;
    if (info.isDirectory() && !entryIsDir) throw invalidParameter(`cannot overwrite directory ${JSON.stringify(shown)} with non-directory ${JSON.stringify(shownAs)}`);
    if (!info.isDirectory() && entryIsDir) throw invalidParameter(`cannot overwrite non-directory ${JSON.stringify(shown)} with directory ${JSON.stringify(shownAs)}`);
  }

  private async applyWhiteout(header: Header, rel: string, base: string): Promise<void> {
    await this.ensureParents(header.name, rel, true);
    const dir = dirOf(rel);
    if (base === WHITEOUT_OPAQUE) {
      // Overlay hides everything the lower layers have in a directory marked opaque.
      await setXattr(this.abs(dir), 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    if (base.startsWith(WHITEOUT_META_PREFIX)) return; // aufs bookkeeping (.wh..wh.plnk etc.), meaningless here
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw badEntry(header.name, 'whiteout names no file');
    const target = dir === '' ? hidden : `${dir}/${hidden}`;
    await this.clearPath(target);
    // Overlay's whiteout: a 0:0 character device in place of the deleted name.
    await makeNode(this.abs(target), 'char', 0, 0, 0);
    await lchown(this.abs(target), header.uid, header.gid);
  }

  private async applyDirectory(header: Header, rel: string): Promise<void> {
    const info = await this.existing(rel);
    if (!info || !info.isDirectory()) {
      if (info) await this.clearPath(rel);
      await mkdir(this.abs(rel), { mode: 0o700 });
    }
    this.realDirs.add(rel);
    await this.setMetadata(header, rel);
  }

  private async applyFile(header: Header, rel: string, body: Readable): Promise<void> {
    await this.clearPath(rel);
    // O_EXCL|O_NOFOLLOW: the name was just cleared, so anything there now is not ours.
    const handle = await open(this.abs(rel), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of body) {
        const data = chunk as Buffer;
        let offset = 0;
        while (offset < data.length) {
          const { bytesWritten } = await handle.write(data, offset, data.length - offset);
          offset += bytesWritten;
        }
      }
    } finally {
      await handle.close();
    }
    await this.setMetadata(header, rel);
  }

  private async applyHardlink(header: Header, rel: string): Promise<void> {
    if (!header.linkname) throw badEntry(header.name, 'hardlink without a target');
    const target = cleanEntryPath(header.linkname);
    if (target === '') throw badEntry(header.name, 'hardlink to the layer root');
    if (target === rel) return;
    await this.ensureParents(header.name, target, false);
    const info = await this.existing(target);
    if (!info) throw badEntry(header.name, `hardlink target ${header.linkname} is not in the layer`);
    if (info.isDirectory()) throw badEntry(header.name, `hardlink target ${header.linkname} is a directory`);
    await this.clearPath(rel);
    // link(2) does not follow a symlink target, so a link to a symlink stays a symlink.
    await link(this.abs(target), this.abs(rel));
    if (!info.isSymbolicLink()) {
      await lchown(this.abs(rel), header.uid, header.gid);
      await chmod(this.abs(rel), header.mode);
    }
  }

  private async setMetadata(header: Header, rel: string): Promise<void> {
    const path = this.abs(rel);
    await lchown(path, header.uid, header.gid);
    const isLink = header.type === 'symlink';
    // chmod after chown: chown clears setuid/setgid bits.
    if (!isLink) await chmod(path, header.mode);
    await this.setXattrs(header, path);
    const mtime = header.mtime ?? new Date(0);
    if (header.type === 'directory') {
      this.dirTimes.push({ path, mtime });
    } else if (isLink) {
      await lutimes(path, mtime, mtime);
    } else {
      await utimes(path, mtime, mtime);
    }
  }

  private async setXattrs(header: Header, path: string): Promise<void> {
    const pax = header.pax as Record<string, string> | null | undefined;
    if (!pax) return;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith(PAX_XATTR_PREFIX)) continue;
      const name = key.slice(PAX_XATTR_PREFIX.length);
      if (name === '' || name.startsWith(RESERVED_XATTR_PREFIX)) continue;
      // tar-stream decodes PAX values as UTF-8; a binary value that did not survive that
      // would be written corrupted, so it is left out instead.
      if (value.includes('\uFFFD')) continue;
      await setXattr(path, name, Buffer.from(value, 'utf8'));
    }
  }

  /** Directory mtimes last: creating their children would have changed them again. */
  async finish(): Promise<void> {
    for (const { path, mtime } of this.dirTimes.reverse()) await utimes(path, mtime, mtime);
  }
}

function waitForDrain(stream: tar.Extract): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new Error('tar parser closed'));
    };
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}

function describeTarError(err: unknown): Error {
  if (isBerthError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of data/i.test(message)) return invalidParameter('layer tar is truncated: unexpected end of data');
  if (/Invalid tar header|Header exceeds|Invalid header/i.test(message)) return invalidParameter(`layer tar is corrupt: ${message}`);
  return err instanceof Error ? err : new Error(message);
}

/**
 * Unpacks `source` (a tar, plain or gzip) into `target`, which must exist and be empty.
 * On error the target is left partially written: the caller owns and removes it.
 */
export async function applyLayerTar(source: AsyncIterable<Uint8Array | string>, target: string, options: ApplyTarOptions = {}): Promise<ApplyTarResult> {
  const hash = createHash('sha256');
  const extract = tar.extract();
  const unpacker = new LayerUnpacker(target, options);
  let entries = 0;
  let failed = false;

  // The parser's own error (truncation, bad header) explains a failure better than the
  // "stream destroyed" an entry reader sees as a consequence of it.
  let parseError: unknown;
  extract.on('error', (err: unknown) => {
    parseError ??= err;
  });

  const produce = async (): Promise<void> => {
    try {
      for await (const chunk of decompressed(source)) {
        // Leaving the loop closes the source: no point reading the rest of a rejected layer.
        if (failed || extract.destroyed) return;
        hash.update(chunk);
        if (options.onData) await options.onData(chunk);
        if (!extract.write(chunk)) await waitForDrain(extract);
      }
      extract.end(null);
    } catch (err) {
      extract.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  };

  const consume = async (): Promise<void> => {
    for await (const entry of extract) {
      await unpacker.apply(entry.header, entry as unknown as Readable);
      // Whatever the entry did not read (non-file types) must still be consumed.
      for await (const _ of entry) void _;
      entries++;
    }
    await unpacker.finish();
  };

  const producing = produce();
  // Its failure also ends consume(); it is reported from there.
  producing.catch(() => undefined);
  try {
    await consume();
    await producing;
  } catch (err) {
    failed = true;
    extract.destroy(err instanceof Error ? err : undefined);
    await new Promise((resolve) => setImmediate(resolve));
    throw describeTarError(parseError ?? err);
  }
  return { diffId: `sha256:${hash.digest('hex')}`, entries };
}
