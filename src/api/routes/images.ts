import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { sendJson, queryBool, queryFilters, checkFilterKeys } from '../io.js';
import { invalidParameter, notImplemented } from '../../util/errors.js';
import { matchesLabel } from '../../container/filter.js';
import type { ImageRecord } from '../../image/types.js';
import { parseTimestampNano } from './system.js';
import { pullImage } from './distribution.js';
import { compareText } from '../../util/compare.js';

const unixSeconds = (iso: string | undefined): number => (iso ? Math.floor(Date.parse(iso) / 1000) : 0);

/** docker's reference filter: a glob over the familiar `name:tag` (or the name alone). */
function globToRegExp(glob: string): RegExp {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`);
}

/**
 * dockerd's reference filter (reference.FamiliarMatch): a glob against "name:tag" (or
 * "name@digest") and against the bare name.
 */
function refMatches(ref: string, re: RegExp): boolean {
  const at = ref.indexOf('@');
  const colon = ref.lastIndexOf(':');
  const name = at >= 0 ? ref.slice(0, at) : colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
  return re.test(ref) || re.test(name);
}

/** The image as the list shows it under reference filters: only the matching tags and digests, as dockerd does; undefined when none match. */
function narrowToReferences(image: ImageRecord, patterns: string[]): ImageRecord | undefined {
  const res = patterns.map(globToRegExp);
  const matches = (ref: string): boolean => res.some((re) => refMatches(ref, re));
  const repoTags = image.repoTags.filter(matches);
  const repoDigests = image.repoDigests.filter(matches);
  if (repoTags.length === 0 && repoDigests.length === 0) return undefined;
  return { ...image, repoTags, repoDigests };
}

export function listItem(image: ImageRecord): Record<string, unknown> {
  return {
    Id: image.id,
    ParentId: image.parent,
    RepoTags: image.repoTags,
    RepoDigests: image.repoDigests,
    Created: unixSeconds(image.config.created),
    Size: image.size,
    VirtualSize: image.size,
    SharedSize: -1,
    Labels: image.config.config?.Labels ?? null,
    Containers: -1,
  };
}

function inspectDocument(daemon: Daemon, image: ImageRecord): Record<string, unknown> {
  const c = image.config;
  const lower = daemon.images.layerPaths(image.id);
  return {
    Id: image.id,
    RepoTags: image.repoTags,
    RepoDigests: image.repoDigests,
    Parent: image.parent,
    Comment: c.comment ?? '',
    Created: c.created ?? '',
    Container: c.container ?? '',
    ContainerConfig: c.container_config ?? {},
    DockerVersion: c.docker_version ?? '',
    Author: c.author ?? '',
    Config: c.config ?? {},
    Architecture: c.architecture,
    Os: c.os,
    ...(c.variant ? { Variant: c.variant } : {}),
    Size: image.size,
    VirtualSize: image.size,
    GraphDriver: {
      Data: { LowerDir: lower.slice(1).join(':'), MergedDir: '', UpperDir: lower[0] ?? '', WorkDir: '' },
      Name: 'overlay2',
    },
    RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** `repo` may carry the tag ("busybox:1"), as the docker CLI's import sends it. */
function splitRepoTag(repo: string, tag: string): { repo?: string; tag?: string } {
  if (!repo) return {};
  if (tag) return { repo, tag };
  const at = repo.indexOf('@');
  if (at >= 0) throw invalidParameter(`cannot import digest reference: ${repo}`);
  const colon = repo.lastIndexOf(':');
  if (colon > repo.lastIndexOf('/')) return { repo: repo.slice(0, colon), tag: repo.slice(colon + 1) };
  return { repo };
}

export function imageRoutes(router: Router, daemon: Daemon): void {
  const images = daemon.images;

  router.on('GET', '/images/json', ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['reference', 'dangling', 'label', 'before', 'since', 'until']);
    const all = queryBool(query, 'all');
    let list = images.list();
    const dangling = filters.get('dangling')?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling)) throw invalidParameter(`invalid filter 'dangling=${dangling}'`);
    if (dangling !== undefined) {
      const want = dangling === 'true' || dangling === '1';
      list = list.filter((i) => (i.repoTags.length === 0) === want);
    }
    if (!all) {
      // Without -a, dangling images that are parents of others are hidden, as docker does.
      const parents = new Set(list.map((i) => i.parent).filter(Boolean));
      list = list.filter((i) => i.repoTags.length > 0 || !parents.has(i.id));
    }
    const refs = filters.get('reference');
    if (refs) list = list.flatMap((i) => narrowToReferences(i, refs) ?? []);
    const labels = filters.get('label');
    if (labels) list = list.filter((i) => labels.every((l) => matchesLabel(i.config.config?.Labels ?? {}, l)));
    const before = filters.get('before')?.[0];
    if (before) {
      const ref = images.resolve(before);
      list = list.filter((i) => (i.config.created ?? '') < (ref.config.created ?? ''));
    }
    const since = filters.get('since')?.[0];
    if (since) {
      const ref = images.resolve(since);
      list = list.filter((i) => (i.config.created ?? '') > (ref.config.created ?? ''));
    }
    list.sort((a, b) => compareText(b.config.created ?? '', a.config.created ?? ''));
    sendJson(res, 200, list.map(listItem));
  });

  router.on('POST', '/images/create', async (ctx) => {
    const { req, res, query } = ctx;
    const fromSrc = query.get('fromSrc');
    const fromImage = query.get('fromImage');
    if (fromSrc === null && !fromImage) throw invalidParameter('one of fromSrc or fromImage is required');
    if (fromSrc === null) return pullImage(daemon, ctx);
    if (fromSrc !== '-') throw notImplemented(`importing from a URL (${fromSrc}) is not supported: berthd has no outbound network; send the tar as the request body (fromSrc=-)`);
    const { repo, tag } = splitRepoTag(query.get('repo') ?? '', query.get('tag') ?? '');
    const image = await daemon.importImage(req, { repo, tag, changes: query.getAll('changes'), message: query.get('message') ?? undefined });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify({ status: image.id })}\n`);
  });

  router.on('POST', '/images/prune', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['dangling', 'until', 'label', 'label!']);
    const danglingOnly = !['false', '0'].includes(filters.get('dangling')?.[0] ?? 'true');
    const until = filters.get('until')?.[0];
    const untilMs = until ? parseTimestampNano(until, 'until') / 1e6 : undefined;
    sendJson(res, 200, await daemon.pruneImages((image) => {
      if (danglingOnly && image.repoTags.length > 0) return false;
      if (untilMs !== undefined && Date.parse(image.config.created ?? '') >= untilMs) return false;
      const labels = image.config.config?.Labels ?? {};
      if (!(filters.get('label') ?? []).every((l) => matchesLabel(labels, l))) return false;
      if ((filters.get('label!') ?? []).some((l) => matchesLabel(labels, l))) return false;
      return true;
    }));
  });

  router.on('GET', '/images/{name*}/json', ({ res, params }) => {
    sendJson(res, 200, inspectDocument(daemon, images.resolve(params.name!)));
  });

  router.on('GET', '/images/{name*}/history', ({ res, params }) => {
    const image = images.resolve(params.name!);
    const history = image.config.history ?? [];
    const layerSizes = daemon.layerSizes(image);
    let layer = 0;
    const rows = history.map((h) => ({
      Comment: h.comment ?? '',
      Created: unixSeconds(h.created),
      CreatedBy: h.created_by ?? '',
      Id: '<missing>',
      Size: h.empty_layer ? 0 : (layerSizes[layer++] ?? 0),
      Tags: null as string[] | null,
    }));
    rows.reverse();
    // As moby does: newest row first, each row takes the next image up the parent chain (a
    // classic build leaves one image per step), so steps whose images exist show their IDs.
    let current: typeof image | undefined = image;
    for (const row of rows) {
      if (!current) break;
      row.Id = current.id;
      row.Tags = current.repoTags.length > 0 ? current.repoTags : null;
      current = current.parent ? images.tryResolve(current.parent) : undefined;
    }
    sendJson(res, 200, rows);
  });

  router.on('POST', '/images/{name*}/tag', async ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw invalidParameter('repository name must have at least one component');
    const tag = query.get('tag') || '';
    await images.tag(params.name!, tag ? `${repo}:${tag}` : repo);
    daemon.events.publish('image', 'tag', images.resolve(params.name!).id, { name: tag ? `${repo}:${tag}` : `${repo}:latest` });
    res.writeHead(201);
    res.end();
  });

  router.on('DELETE', '/images/{name*}', async ({ res, params, query }) => {
    sendJson(res, 200, await daemon.removeImage(params.name!, queryBool(query, 'force'), queryBool(query, 'noprune')));
  });
}
