/**
 * POST /build and POST /build/prune. The build's answer is a JSON message stream; the 200
 * goes out with the first message, so an error found before any output (a bad Dockerfile, a
 * missing context file in the first COPY) is a plain HTTP error with docker's status, and
 * one found later is an errorDetail message at the end of the stream.
 */
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { checkFilterKeys, queryBool, queryFilters, sendJson } from '../io.js';
import { matchesLabel } from '../../container/filter.js';
import { parseTimestampNano } from './system.js';
import { errorMessage, invalidParameter, notImplemented, systemError } from '../../util/errors.js';
import type { BuildService } from '../../build/service.js';
import type { BuildMessage } from '../../build/progress.js';
import type { BuildOptions } from '../../build/builder.js';
import { DEFAULT_DOCKER_VERSION } from '../../image/store.js';
import { ContainerLayers } from '../../snapshot/container-layers.js';

function jsonParam<T>(query: URLSearchParams, key: string, check: (value: unknown) => value is T, fallback: T): T {
  const raw = query.get(key);
  if (raw === null || raw === '') return fallback;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw invalidParameter(`invalid ${key}: not JSON: ${raw}`);
  }
  if (!check(value)) throw invalidParameter(`invalid ${key}: ${raw}`);
  return value;
}

const isStringMap = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');
const isArgMap = (v: unknown): v is Record<string, string | null> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || x === null);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

export function parseBuildQuery(query: URLSearchParams): BuildOptions {
  if (query.get('remote')) throw notImplemented(`building from a remote context (${query.get('remote')}) is not supported: berthd has no outbound network; send the context as the request body`);
  const tags = query.getAll('t').filter((t) => t !== '');
  return {
    dockerfile: query.get('dockerfile') ?? '',
    tags,
    buildArgs: jsonParam(query, 'buildargs', isArgMap, {}),
    noCache: queryBool(query, 'nocache'),
    target: query.get('target') || undefined,
    labels: jsonParam(query, 'labels', isStringMap, {}),
    quiet: queryBool(query, 'q'),
    rm: queryBool(query, 'rm', true),
    forceRm: queryBool(query, 'forcerm'),
    pull: queryBool(query, 'pull'),
    networkMode: query.get('networkmode') || 'default',
    cacheFrom: jsonParam(query, 'cachefrom', isStringList, []),
  };
}

const services = new WeakMap<Daemon, Promise<BuildService>>();

/** One BuildService per daemon, made on first use from the daemon's concrete stores. */
function serviceFor(daemon: Daemon): Promise<BuildService> {
  let service = services.get(daemon);
  if (!service) {
    const data = daemon.data;
    if (!data) throw systemError('this daemon was wired without its image store; the builder cannot run');
    const root = join(daemon.config.dataRoot, 'builder');
    // The builder is loaded on the first build: a daemon that never builds doesn't carry it.
    service = import('../../build/service.js').then(({ BuildService: Service }) =>
      Service.open({
        root,
        images: data.imageStore,
        containers: daemon.containers,
        views: new ContainerLayers(join(root, 'views')),
        upperDirOf: (id) => daemon.layerOf(id).upperDir,
        dockerVersion: DEFAULT_DOCKER_VERSION,
      }),
    );
    services.set(daemon, service);
    service.catch(() => services.delete(daemon));
  }
  return service;
}

function writeMessage(res: ServerResponse, message: BuildMessage): void {
  if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'application/json' });
  res.write(`${JSON.stringify(message)}\n`);
}

export function buildRoutes(router: Router, daemon: Daemon): void {
  router.on('POST', '/build', async ({ req, res, query }) => {
    const options = parseBuildQuery(query);
    const service = await serviceFor(daemon);
    const [{ Progress }, { RunFailedError }] = await Promise.all([import('../../build/progress.js'), import('../../build/run-step.js')]);
    const progress = new Progress((message) => writeMessage(res, message), options.quiet);
    let imageId: string;
    try {
      imageId = await service.build(req, options, progress);
    } catch (err) {
      // Nothing sent yet: a plain HTTP error (400 for a bad Dockerfile, 404 for a missing image).
      if (!res.headersSent) throw err;
      progress.error(errorMessage(err), err instanceof RunFailedError || (err as { exitCode?: number }).exitCode !== undefined ? (err as { exitCode: number }).exitCode : undefined);
      res.end();
      return;
    }
    if (!res.headersSent) writeMessage(res, { aux: { ID: imageId } });
    res.end();
  });

  router.on('POST', '/build/prune', async ({ res, query }) => {
    const filters = queryFilters(query);
    // docker's buildkit keys besides until/label describe records berth's cache doesn't have.
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = filters.get('until')?.[0];
    const untilMs = until ? parseTimestampNano(until, 'until') / 1e6 : undefined;
    const service = await serviceFor(daemon);
    const all = queryBool(query, 'all');
    sendJson(res, 200, await service.prune(all, (image) => {
      if (untilMs !== undefined && Date.parse(image.config.created ?? '') >= untilMs) return false;
      const labels = image.config.config?.Labels ?? {};
      if (!(filters.get('label') ?? []).every((l) => matchesLabel(labels, l))) return false;
      if ((filters.get('label!') ?? []).some((l) => matchesLabel(labels, l))) return false;
      return true;
    }));
  });

  router.on('POST', '/build/cancel', ({ res }) => {
    // Builds end with their request; there is nothing else to cancel.
    res.writeHead(200);
    res.end();
  });
}
