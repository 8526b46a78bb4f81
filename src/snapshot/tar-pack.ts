/**
 * Writes directory trees as tar streams: the walk (parents before children, names sorted so
 * the same tree always gives the same bytes), tar headers from lstat (owner, mode, mtime in
 * whole seconds as docker writes them, symlink targets, device numbers), hardlinks as link
 * entries to the first name seen, and file bodies streamed from disk.
 *
 * Used for layer diffs, `export`, and the archive API (cp). Nothing here follows a symlink.
 */
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { isErrno } from '../util/errors.js';

export interface TreeEntry {
  /** Path relative to the walked root, "" for the root itself. */
  rel: string;
  abs: string;
  stat: Stats;
}

export type TarHeader = Partial<tar.Header> & Pick<tar.Header, 'name'>;

export interface PackItem {
  header: TarHeader;
  /** A regular file whose first header.size bytes are the entry's body. */
  source?: string;
  /** A small body held in memory (manifests, configs). */
  data?: Buffer;
}

/**
 * Every entry under `root` (root first when includeRoot), depth first with each directory's
 * names in byte order. Entries that vanish during the walk are skipped.
 */
export async function walkTree(root: string, options: { includeRoot?: boolean } = {}): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const rootStat = await lstat(root);
  if (options.includeRoot) out.push({ rel: '', abs: root, stat: rootStat });
  if (!rootStat.isDirectory()) return out;
  const walk = async (dirAbs: string, dirRel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(dirAbs);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
      throw err;
    }
    names.sort(compareBytes);
    for (const name of names) {
      const abs = join(dirAbs, name);
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      let stat: Stats;
      try {
        stat = await lstat(abs);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) continue;
        throw err;
      }
      out.push({ rel, abs, stat });
      if (stat.isDirectory()) await walk(abs, rel);
    }
  };
  await walk(root, '');
  return out;
}

/** Go sorts names by bytes; JS compares UTF-16 units. The two agree except across surrogates. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function devMajor(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

function devMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & ~0xff);
}

/**
 * Remembers the first tar name of every multiply-linked inode so later names become hardlink
 * entries, as docker's tar writer does.
 */
export class HardlinkTracker {
  private readonly first = new Map<string, string>();

  /** The earlier name of this inode, or undefined (and remembers `name`) if it's the first. */
  seen(stat: Stats, name: string): string | undefined {
    if (stat.isDirectory() || stat.nlink < 2) return undefined;
    const key = `${stat.dev}:${stat.ino}`;
    const earlier = this.first.get(key);
    if (earlier === undefined) this.first.set(key, name);
    return earlier;
  }
}

/**
 * The tar item for one entry named `name` in the archive (no trailing slash needed).
 * Returns undefined for types tar cannot hold (sockets).
 */
export async function itemFor(entry: TreeEntry, name: string, links?: HardlinkTracker): Promise<PackItem | undefined> {
  const { stat } = entry;
  const header: TarHeader = {
    name,
    mode: stat.mode & 0o7777,
    uid: stat.uid,
    gid: stat.gid,
    mtime: new Date(Math.floor(stat.mtimeMs / 1000) * 1000),
    size: 0,
  };
  const earlier = links?.seen(stat, name);
  if (earlier !== undefined) return { header: { ...header, type: 'link', linkname: earlier } };
  if (stat.isFile()) return { header: { ...header, type: 'file', size: stat.size }, source: entry.abs };
  if (stat.isDirectory()) return { header: { ...header, type: 'directory' } };
  if (stat.isSymbolicLink()) return { header: { ...header, type: 'symlink', linkname: await readlink(entry.abs) } };
  if (stat.isCharacterDevice() || stat.isBlockDevice()) {
    return { header: { ...header, type: stat.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: devMajor(stat.rdev), devminor: devMinor(stat.rdev) } };
  }
  if (stat.isFIFO()) return { header: { ...header, type: 'fifo' } };
  return undefined;
}

function addItem(pack: tar.Pack, item: PackItem): Promise<void> {
  return new Promise((resolve, reject) => {
    if (item.data !== undefined) {
      pack.entry({ ...item.header, size: item.data.length }, item.data, (err) => (err ? reject(err) : resolve()));
      return;
    }
    if (item.source === undefined || !item.header.size) {
      const sink = pack.entry({ ...item.header, size: 0 }, (err) => (err ? reject(err) : resolve()));
      // A file entry waits for its body even when it is empty; other types have none.
      if (item.header.type === 'file' || item.header.type === 'contiguous-file' || item.header.type === undefined) sink.end(null);
      return;
    }
    const sink = pack.entry(item.header, (err) => (err ? reject(err) : resolve()));
    // Exactly the size announced in the header: a file growing meanwhile must not corrupt the tar.
    const body = createReadStream(item.source, { start: 0, end: item.header.size - 1 });
    body.on('error', (err) => {
      sink.destroy(err);
      reject(err);
    });
    body.pipe(sink);
  });
}

/** A tar stream of the items, produced lazily as the reader pulls. */
export function packItems(items: AsyncIterable<PackItem> | Iterable<PackItem>): Readable {
  const pack = tar.pack();
  void (async () => {
    for await (const item of items) {
      if (pack.destroyed) return;
      await addItem(pack, item);
    }
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return pack as unknown as Readable;
}

/** A whole tree as a tar with names relative to `root` (export: the container's filesystem). */
export function exportTree(root: string): Readable {
  return packItems(
    (async function* () {
      const links = new HardlinkTracker();
      for (const entry of await walkTree(root)) {
        const item = await itemFor(entry, entry.rel, links);
        if (item) yield item;
      }
    })(),
  );
}
