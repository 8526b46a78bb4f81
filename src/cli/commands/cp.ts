/**
 * `berth cp`: CONTAINER:SRC DEST copies out of a container, SRC CONTAINER:DEST into one, and
 * `-` stands for a tar stream on stdin/stdout. The work is done by the archive API; locally
 * we only pack or unpack tars, never writing outside the destination.
 */
import { lstat, rename, rm, mkdtemp } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClientError } from '../../client/errors.js';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import { HardlinkTracker, itemFor, packItems, walkTree, type PackItem } from '../../snapshot/tar-pack.js';
import { applyLayerTar } from '../../snapshot/tar-apply.js';

interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

const IS_DIR = 2 ** 31;

/** A path ending in "/" or "/." names a directory that must already exist (docker's rule). */
function assertsDirectory(path: string): boolean {
  return path.endsWith('/') || path.endsWith('/.');
}

function splitContainerPath(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

async function statInContainer(ctx: CliContext, container: string, path: string): Promise<PathStat | undefined> {
  try {
    const res = await ctx.client().raw({ method: 'HEAD', path: `/containers/${encodeURIComponent(container)}/archive`, query: { path } });
    res.resume();
    const header = res.headers['x-docker-container-path-stat'];
    return typeof header === 'string' ? (JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as PathStat) : undefined;
  } catch (err) {
    // A HEAD answer has no body: any 404 means "not there" (a missing container fails the copy itself).
    if (err instanceof ClientError && err.statusCode === 404) return undefined;
    throw err;
  }
}

function localTar(source: string, topName: string, followLink: boolean): Readable {
  return packItems(
    (async function* (): AsyncGenerator<PackItem> {
      const links = new HardlinkTracker();
      const entries = await walkTree(source, { includeRoot: true });
      if (followLink && entries[0]?.stat.isSymbolicLink()) {
        const { realpath } = await import('node:fs/promises');
        entries.splice(0, entries.length, ...(await walkTree(await realpath(source), { includeRoot: true })));
      }
      for (const entry of entries) {
        const item = await itemFor(entry, entry.rel === '' ? topName : `${topName}/${entry.rel}`, links);
        if (item) yield item;
      }
    })(),
  );
}

export const command: CommandSpec = {
  use: 'cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  short: 'Copy files/folders between a container and the local filesystem',
  aliases: ['berth container cp', 'berth cp'],
  flags: [
    { name: 'archive', short: 'a', type: 'bool', help: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', type: 'bool', help: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output during copy' },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, args) {
    const src = splitContainerPath(args.args[0]!);
    const dst = splitContainerPath(args.args[1]!);
    if (src.container && dst.container) throw new StatusError('copying between containers is not supported', 1);
    if (!src.container && !dst.container) throw new StatusError('must specify at least one container source', 1);
    if (src.container) {
      let path = src.path;
      if (args.bool('follow-link')) {
        const stat = await statInContainer(ctx, src.container, path);
        if (stat?.linkTarget) path = stat.linkTarget.startsWith('/') ? stat.linkTarget : `${dirname(path)}/${stat.linkTarget}`;
      }
      const res = await ctx.client().raw({ method: 'GET', path: `/containers/${encodeURIComponent(src.container)}/archive`, query: { path } });
      if (dst.path === '-') {
        await pipeline(res, ctx.stdout);
        return 0;
      }
      const stat = JSON.parse(Buffer.from(String(res.headers['x-docker-container-path-stat'] ?? ''), 'base64').toString('utf8') || '{}') as PathStat;
      const target = resolve(dst.path);
      const existing = await lstat(target).catch(() => undefined);
      // docker's archive.ErrCannotCopyDir and ErrDirNotExists, word for word.
      if (existing && !existing.isDirectory() && stat.mode & IS_DIR) throw new StatusError('cannot copy directory', 1);
      if (!existing && assertsDirectory(dst.path) && !(stat.mode & IS_DIR)) throw new StatusError('no such directory', 1);
      // Unpack beside the destination, then move the one top entry into place.
      const parent = existing?.isDirectory() ? target : dirname(target);
      const temp = await mkdtemp(join(parent, '.berth-cp-'));
      try {
        await applyLayerTar(res, temp, { plainArchive: true });
        const top = join(temp, basename(stat.name || path));
        const final = existing?.isDirectory() ? join(target, basename(stat.name || path)) : target;
        await rm(final, { recursive: true, force: true }).catch(() => undefined);
        await rename(top, final);
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
      return 0;
    }
    const container = dst.container!;
    const copyUIDGID = args.bool('archive');
    if (src.path === '-') {
      await ctx.client().raw({ method: 'PUT', path: `/containers/${encodeURIComponent(container)}/archive`, query: { path: dst.path, copyUIDGID, noOverwriteDirNonDir: true }, body: ctx.stdin as Readable, headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' } }).then((r) => r.resume());
      return 0;
    }
    const source = resolve(src.path);
    const info = await lstat(source).catch(() => undefined);
    if (!info) throw new StatusError(`lstat ${source}: no such file or directory`, 1);
    const dstStat = await statInContainer(ctx, container, dst.path);
    let extractDir: string;
    let topName: string;
    if (dstStat && dstStat.mode & IS_DIR) {
      extractDir = dst.path;
      topName = basename(source);
    } else {
      if (dstStat && info.isDirectory()) throw new StatusError('cannot copy directory', 1);
      if (!dstStat && assertsDirectory(dst.path) && !info.isDirectory()) throw new StatusError('no such directory', 1);
      extractDir = dirname(dst.path) || '/';
      topName = basename(dst.path);
    }
    await ctx.client().raw({
      method: 'PUT',
      path: `/containers/${encodeURIComponent(container)}/archive`,
      // As docker's CLI: the daemon refuses to swap a directory for a file or the reverse.
      query: { path: extractDir, copyUIDGID, noOverwriteDirNonDir: true },
      body: localTar(source, topName, args.bool('follow-link')),
      headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' },
    }).then((r) => r.resume());
    return 0;
  },
};
