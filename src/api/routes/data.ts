/**
 * Data endpoints on containers and images: commit, changes (diff), export.
 */
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import type { DataServices } from '../../daemon/data.js';
import { readBody, sendJson, queryBool } from '../io.js';
import { invalidParameter, notImplemented } from '../../util/errors.js';
import { commitContainer } from '../../container/commit.js';
import type { ImageContainerConfig } from '../../image/types.js';
import { validateTag } from '../../image/reference.js';
import { upperDirChanges } from '../../snapshot/diff.js';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolveSaveTargets, saveImages } from '../../image/archive-save.js';
import { loadImages } from '../../image/archive-load.js';
import { familiarString, parseNormalizedNamed } from '../../image/reference.js';
import { withRootfs } from '../../container/archive.js';
import { exportTree } from '../../snapshot/tar-pack.js';

export function dataServices(daemon: Daemon): DataServices {
  if (!daemon.data) throw notImplemented('this berthd was built without its data services');
  return daemon.data;
}

/** The commit body is a container Config; empty or `null` means "the container's own". */
async function readCommitConfig(req: import('node:http').IncomingMessage): Promise<Partial<ImageContainerConfig> | undefined> {
  const raw = (await readBody(req)).toString('utf8').trim();
  if (raw === '' || raw === 'null') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw invalidParameter(`invalid JSON: ${(err as Error).message}`);
  }
  if (value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidParameter('invalid JSON: expected a container config object');
  return value as Partial<ImageContainerConfig>;
}

export function dataRoutes(router: Router, daemon: Daemon): void {
  router.on('POST', '/commit', async ({ req, res, query }) => {
    const data = dataServices(daemon);
    const name = query.get('container') ?? '';
    const record = daemon.containers.store.get(name);
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    // The reference is checked before the (possibly long) commit, as docker does.
    if (repo !== '') {
      const parsed = parseNormalizedNamed(repo);
      if (parsed.digest !== undefined) throw invalidParameter('cannot commit to digest reference');
    }
    if (tag !== '') validateTag(tag);
    const config = await readCommitConfig(req);
    const pause = query.get('pause') === null || query.get('pause') === '' ? true : queryBool(query, 'pause');
    const image = await commitContainer(
      {
        images: data.imageStore,
        upperDirOf: (id) => data.containerLayers.paths(id).upperDir,
        runtime: data.runtime,
      },
      record,
      {
        repo: repo || undefined,
        tag: tag || undefined,
        author: query.get('author') ?? undefined,
        comment: query.get('comment') ?? undefined,
        changes: query.getAll('changes').filter((c) => c !== ''),
        pause,
        config,
      },
    );
    daemon.events.publish('container', 'commit', record.id, {
      comment: query.get('comment') ?? '',
      imageID: image.id,
      imageRef: image.repoTags[0] ?? '',
      name: record.name,
    });
    sendJson(res, 201, { Id: image.id });
  });

  router.on('GET', '/containers/{id}/changes', async ({ res, params }) => {
    const data = dataServices(daemon);
    const record = daemon.containers.store.get(params.id!);
    const changes = await upperDirChanges(data.containerLayers.paths(record.id).upperDir, daemon.images.layerPaths(record.image));
    sendJson(res, 200, changes.length > 0 ? changes : null);
  });
  imageArchiveRoutes(router, daemon);
}

/** Streams `body` as the response; the response is cut (not completed) if the stream fails. */
export function streamResponse(res: import('node:http').ServerResponse, body: Readable, contentType: string, onDone?: () => void): Promise<void> {
  res.writeHead(200, { 'Content-Type': contentType });
  return new Promise((resolve) => {
    pipeline(body, res).then(
      () => {
        onDone?.();
        resolve();
      },
      () => {
        onDone?.();
        res.destroy();
        resolve();
      },
    );
  });
}

export function imageArchiveRoutes(router: Router, daemon: Daemon): void {
  const save = async (res: import('node:http').ServerResponse, names: string[]): Promise<void> => {
    const data = dataServices(daemon);
    if (names.length === 0) throw invalidParameter('no image names given to save');
    const targets = resolveSaveTargets(data.imageStore, names);
    for (const t of targets) daemon.events.publish('image', 'save', t.image.id, { name: t.tags[0] ?? t.image.id });
    await streamResponse(res, saveImages(data.imageStore, targets), 'application/x-tar');
  };
  router.on('GET', '/images/get', ({ res, query }) => save(res, query.getAll('names').flatMap((n) => n.split(',')).filter(Boolean)));
  router.on('GET', '/images/{name*}/get', ({ res, params }) => save(res, [params.name!]));

  router.on('POST', '/images/load', async ({ req, res }) => {
    const data = dataServices(daemon);
    const loaded = await loadImages(data.imageStore, req);
    const lines: string[] = [];
    for (const { image, tags } of loaded) {
      daemon.events.publish('image', 'load', image.id, { name: tags[0] ?? image.id });
      if (tags.length === 0) lines.push(`Loaded image ID: ${image.id}`);
      for (const tag of tags) lines.push(`Loaded image: ${familiarString(parseNormalizedNamed(tag))}`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(lines.map((l) => `${JSON.stringify({ stream: `${l}\n` })}\n`).join(''));
  });

  router.on('GET', '/containers/{id}/export', async ({ res, params }) => {
    const data = dataServices(daemon);
    const record = daemon.containers.store.get(params.id!);
    const deps = { containerLayers: data.containerLayers, layerPaths: (id: string) => daemon.images.layerPaths(id) };
    await withRootfs(deps, record, async (rootfs) => {
      await streamResponse(res, exportTree(rootfs), 'application/x-tar');
    });
    daemon.events.publish('container', 'export', record.id, { name: record.name, image: record.imageRef });
  });
}
