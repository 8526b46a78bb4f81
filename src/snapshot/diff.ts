/**
 * A container's changes, read from its overlay upper dir: as an OCI layer tar (commit, build
 * RUN steps) and as docker's change list (GET /containers/{id}/changes).
 *
 * Overlay keeps deletions as 0:0 character devices and replaced directories as directories
 * with trusted.overlay.opaque=y; a layer tar says the same with `.wh.NAME` and
 * `.wh..wh..opq` entries (OCI image spec, "Whiteouts").
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { isErrno } from '../util/errors.js';
import { pathsWithXattr } from '../sys/xattr-scan.js';
import { HardlinkTracker, itemFor, packItems, walkTree, type PackItem, type TreeEntry } from './tar-pack.js';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_OPAQUE = '.wh..wh..opq';
const OPAQUE_XATTR = 'trusted.overlay.opaque';

/**
 * Files runc creates as bind-mount targets when the image lacks them. docker keeps these in
 * a separate init layer, so they never show up in a diff or a commit; berth has no init layer
 * and leaves them out here instead (only while they are the empty placeholders runc made).
 */
const RUNTIME_MOUNTPOINT_FILES = new Set(['etc/hostname', 'etc/hosts', 'etc/resolv.conf', '.dockerenv']);
const RUNTIME_MOUNTPOINT_DIRS = new Set(['dev', 'proc', 'sys']);

export interface UpperDirOptions {
  /** Leave out runtime mount placeholders (default true). */
  skipRuntimeMountpoints?: boolean;
}

interface UpperEntry extends TreeEntry {
  whiteout: boolean;
  opaque: boolean;
}

export function isWhiteoutDevice(entry: TreeEntry): boolean {
  return entry.stat.isCharacterDevice() && entry.stat.rdev === 0;
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** The upper dir's entries (root excluded), whiteouts and opaque dirs marked, placeholders dropped. */
export async function readUpperDir(upperDir: string, options: UpperDirOptions = {}): Promise<UpperEntry[]> {
  let entries: TreeEntry[];
  try {
    entries = await walkTree(upperDir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const opaqueAbs = entries.some((e) => e.stat.isDirectory()) ? await pathsWithXattr(upperDir, OPAQUE_XATTR, Buffer.from('y')) : new Set<string>();
  const marked: UpperEntry[] = entries.map((e) => ({ ...e, whiteout: isWhiteoutDevice(e), opaque: e.stat.isDirectory() && opaqueAbs.has(e.abs) }));
  if (options.skipRuntimeMountpoints === false) return marked;

  const excluded = new Set<string>();
  for (const e of marked) {
    if (RUNTIME_MOUNTPOINT_FILES.has(e.rel) && e.stat.isFile() && e.stat.size === 0) excluded.add(e.rel);
    if (RUNTIME_MOUNTPOINT_DIRS.has(e.rel) && e.stat.isDirectory() && !e.opaque && !marked.some((c) => parentOf(c.rel) === e.rel)) excluded.add(e.rel);
  }
  if (excluded.size === 0) return marked;
  // A directory copied up only because a placeholder was made inside it is no change either.
  const children = new Map<string, string[]>();
  for (const e of marked) {
    const parent = parentOf(e.rel);
    children.set(parent, [...(children.get(parent) ?? []), e.rel]);
  }
  for (const e of [...marked].reverse()) {
    if (!e.stat.isDirectory() || e.opaque) continue;
    const kids = children.get(e.rel) ?? [];
    if (kids.length > 0 && kids.every((k) => excluded.has(k))) excluded.add(e.rel);
  }
  return marked.filter((e) => !excluded.has(e.rel));
}

async function* layerItems(upperDir: string, options: UpperDirOptions): AsyncGenerator<PackItem> {
  const links = new HardlinkTracker();
  for (const entry of await readUpperDir(upperDir, options)) {
    if (entry.whiteout) {
      const dir = parentOf(entry.rel);
      const name = `${dir === '' ? '' : `${dir}/`}${WHITEOUT_PREFIX}${baseOf(entry.rel)}`;
      yield { header: { name, type: 'file', mode: 0o600, uid: entry.stat.uid, gid: entry.stat.gid, size: 0, mtime: new Date(Math.floor(entry.stat.mtimeMs / 1000) * 1000) } };
      continue;
    }
    const item = await itemFor(entry, entry.rel, links);
    if (!item) continue;
    yield item;
    if (entry.opaque) {
      yield { header: { ...item.header, name: `${entry.rel}/${WHITEOUT_OPAQUE}`, type: 'file', mode: (item.header.mode ?? 0o755) & 0o777, size: 0 } };
    }
  }
}

/**
 * The container's changes as an uncompressed OCI layer tar: overlay whiteouts become
 * `.wh.NAME`, opaque directories get `.wh..wh..opq`, owners, modes, mtimes (whole seconds),
 * symlinks and hardlinks are kept, names sorted so the same changes give the same diffID.
 */
export function upperDirToLayerTar(upperDir: string, options: UpperDirOptions = {}): Readable {
  return packItems(layerItems(upperDir, options));
}

/** docker's change kinds: 0 modified, 1 added, 2 deleted. */
export type ChangeKind = 0 | 1 | 2;

export interface Change {
  Path: string;
  Kind: ChangeKind;
}

async function existsIn(dirs: string[], rel: string): Promise<import('node:fs').Stats | undefined> {
  for (const dir of dirs) {
    try {
      return await lstat(join(dir, rel));
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
  }
  return undefined;
}

/**
 * docker's change list for an overlay container: whiteouts are deletions, names absent from
 * every lower layer are additions, the rest modifications, except directories whose size,
 * mode and mtime match the lower one (they were only copied up for a child). The parent of an
 * added or deleted name is always listed as modified.
 */
export async function upperDirChanges(upperDir: string, lowerDirs: string[]): Promise<Change[]> {
  const changes: Change[] = [];
  const changedDirs = new Set<string>();
  for (const entry of await readUpperDir(upperDir)) {
    const path = `/${entry.rel}`;
    let kind: ChangeKind;
    if (entry.whiteout) {
      kind = 2;
    } else {
      const lower = await existsIn(lowerDirs, entry.rel);
      if (!lower) {
        kind = 1;
      } else {
        const sameDir =
          lower.isDirectory() &&
          entry.stat.isDirectory() &&
          !entry.opaque &&
          lower.mode === entry.stat.mode &&
          Math.floor(lower.mtimeMs / 1000) === Math.floor(entry.stat.mtimeMs / 1000);
        if (sameDir) continue;
        kind = 0;
      }
    }
    if (entry.stat.isDirectory()) changedDirs.add(path);
    if (kind !== 0) {
      const parent = path.slice(0, path.lastIndexOf('/')) || '/';
      if (parent !== '/' && !changedDirs.has(parent)) {
        changes.push({ Path: parent, Kind: 0 });
        changedDirs.add(parent);
      }
    }
    changes.push({ Path: path, Kind: kind });
  }
  return changes;
}
