/**
 * The archive API behind `cp`: HEAD/GET/PUT /containers/{id}/archive?path=. Paths are resolved
 * as the container sees them (symlinks inside its root, volumes and binds to their host
 * directories) and never lead outside; uploads go through the layer unpacker's safety rules.
 */
import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { queryBool } from '../io.js';
import { BerthError, invalidParameter, notFound } from '../../util/errors.js';
import { resolveInContainer, withRootfs } from '../../container/archive.js';
import type { ContainerRecord } from '../../container/model.js';
import { HardlinkTracker, itemFor, packItems, walkTree, type PackItem } from '../../snapshot/tar-pack.js';
import { applyLayerTar } from '../../snapshot/tar-apply.js';
import { dataServices, streamResponse } from './data.js';

/** Go's os.FileMode bits, which the docker CLI decodes from the stat header. */
function goFileMode(mode: number): number {
  let out = mode & 0o777;
  const type = mode & 0o170000;
  if (type === 0o040000) out |= 2 ** 31;
  else if (type === 0o120000) out |= 2 ** 27;
  else if (type === 0o020000) out |= 2 ** 26 | 2 ** 21;
  else if (type === 0o060000) out |= 2 ** 26;
  else if (type === 0o010000) out |= 2 ** 25;
  else if (type === 0o140000) out |= 2 ** 24;
  if (mode & 0o4000) out |= 2 ** 23;
  if (mode & 0o2000) out |= 2 ** 22;
  if (mode & 0o1000) out |= 2 ** 20;
  return out >>> 0;
}

function notInContainer(path: string, record: ContainerRecord): BerthError {
  return notFound(`Could not find the file ${path} in container ${record.name}`);
}

async function statHeader(hostPath: string, containerPath: string, requested: string): Promise<string> {
  const info = await lstat(hostPath);
  const stat = {
    name: posix.basename(requested) || posix.basename(containerPath) || '/',
    size: info.size,
    mode: goFileMode(info.mode),
    mtime: info.mtime.toISOString(),
    linkTarget: info.isSymbolicLink() ? await readlink(hostPath) : '',
  };
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

/** A tar of one path, its top entry named like the path's last element (as docker's archive API). */
function archiveOf(hostPath: string, topName: string): Readable {
  return packItems(
    (async function* (): AsyncGenerator<PackItem> {
      const links = new HardlinkTracker();
      for (const entry of await walkTree(hostPath, { includeRoot: true })) {
        const item = await itemFor(entry, entry.rel === '' ? topName : `${topName}/${entry.rel}`, links);
        if (item) yield item;
      }
    })(),
  );
}

/** Re-writes an uploaded tar with every owner set to root, unless copyUIDGID keeps them. */
function ownedByRoot(source: Readable): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  extract.on('entry', (header, stream, next) => {
    const sink = pack.entry({ ...header, uid: 0, gid: 0, uname: '', gname: '' }, (err) => (err ? extract.destroy(err) : next()));
    stream.pipe(sink);
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (err) => pack.destroy(err));
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  return pack as unknown as Readable;
}

export function archiveRoutes(router: Router, daemon: Daemon): void {
  const rootfsDeps = () => {
    const data = dataServices(daemon);
    return { containerLayers: data.containerLayers, layerPaths: (id: string) => daemon.images.layerPaths(id) };
  };
  const requirePath = (query: URLSearchParams): string => {
    const path = query.get('path');
    if (!path) throw invalidParameter('path is required');
    return posix.isAbsolute(path) ? path : `/${path}`;
  };

  const head = async (res: ServerResponse, id: string, query: URLSearchParams, body: boolean): Promise<void> => {
    const record = daemon.containers.store.get(id);
    const path = requirePath(query);
    await withRootfs(rootfsDeps(), record, async (rootfs) => {
      // The last element is not followed: a symlink is reported (and copied) as a link.
      const resolved = await resolveInContainer(rootfs, record, path, false);
      let header: string;
      try {
        header = await statHeader(resolved.hostPath, resolved.containerPath, path);
      } catch {
        throw notInContainer(path, record);
      }
      res.setHeader('X-Docker-Container-Path-Stat', header);
      if (!body) {
        res.writeHead(200, { 'Content-Type': 'application/x-tar' });
        res.end();
        return;
      }
      const top = posix.basename(resolved.containerPath) || '.';
      await streamResponse(res, archiveOf(resolved.hostPath, path.endsWith('/.') ? '.' : top), 'application/x-tar');
    });
  };
  router.on('HEAD', '/containers/{id}/archive', ({ res, params, query }) => head(res, params.id!, query, false));
  router.on('GET', '/containers/{id}/archive', ({ res, params, query }) => head(res, params.id!, query, true));

  router.on('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const record = daemon.containers.store.get(params.id!);
    const path = requirePath(query);
    if (record.hostConfig.ReadonlyRootfs) throw new BerthError('forbidden', 'container rootfs is marked read-only');
    await withRootfs(rootfsDeps(), record, async (rootfs) => {
      const resolved = await resolveInContainer(rootfs, record, path, true);
      const info = await lstat(resolved.hostPath).catch(() => undefined);
      if (!info) throw notInContainer(path, record);
      if (!info.isDirectory()) throw invalidParameter(`extraction point is not a directory`);
      const source = queryBool(query, 'copyUIDGID') ? req : ownedByRoot(req);
      await applyLayerTar(source as AsyncIterable<Uint8Array>, resolved.hostPath, {
        plainArchive: true,
        ...(queryBool(query, 'noOverwriteDirNonDir') ? { noOverwriteDirNonDir: { shownAs: resolved.containerPath } } : {}),
      });
    }, { exclusive: true });
    res.writeHead(200);
    res.end();
  });
}
