/**
 * /volumes: list, create, inspect, remove, prune, with docker's JSON and filters.
 */
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { readJsonObject, sendJson, sendNoContent, queryBool, queryFilters, checkFilterKeys } from '../io.js';
import { invalidParameter } from '../../util/errors.js';
import { matchesLabel } from '../../container/filter.js';
import { optionalString, optionalStringMap } from '../../container/validate.js';
import type { VolumeMeta } from '../../volume/store.js';
import { dataServices } from './data.js';
import { compareVersions } from '../version.js';

function boolFilter(filters: Map<string, string[]>, key: string): boolean | undefined {
  const value = filters.get(key)?.[0];
  if (value === undefined) return undefined;
  if (['true', '1'].includes(value)) return true;
  if (['false', '0'].includes(value)) return false;
  throw invalidParameter(`invalid filter '${key}=${value}'`);
}

export function volumeRoutes(router: Router, daemon: Daemon): void {
  router.on('GET', '/volumes', ({ res, query }) => {
    const { volumes } = dataServices(daemon);
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['dangling', 'name', 'label', 'driver']);
    const dangling = boolFilter(filters, 'dangling');
    const list = volumes.store.list().filter((v) => {
      if (dangling !== undefined && (volumes.usedBy(v.Name).length === 0) !== dangling) return false;
      const names = filters.get('name');
      if (names && !names.some((n) => v.Name.includes(n))) return false;
      const drivers = filters.get('driver');
      if (drivers && !drivers.includes(v.Driver)) return false;
      const labels = filters.get('label');
      if (labels && !labels.every((l) => matchesLabel(v.Labels ?? {}, l))) return false;
      return true;
    });
    sendJson(res, 200, { Volumes: list.map((v) => volumes.store.view(v)), Warnings: null });
  });

  router.on('POST', '/volumes/create', async ({ req, res }) => {
    const { volumes } = dataServices(daemon);
    const body = await readJsonObject(req);
    const meta = await volumes.store.create(optionalString(body, 'Name', 'Name') || undefined, {
      driver: optionalString(body, 'Driver', 'Driver') || 'local',
      labels: optionalStringMap(body, 'Labels', 'Labels') ?? null,
      options: optionalStringMap(body, 'DriverOpts', 'DriverOpts') ?? null,
    });
    daemon.events.publish('volume', 'create', meta.Name, { driver: meta.Driver });
    sendJson(res, 201, volumes.store.view(meta));
  });

  router.on('POST', '/volumes/prune', async ({ res, query, apiVersion }) => {
    const { volumes } = dataServices(daemon);
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['label', 'label!', 'all']);
    // Since API 1.42 (docker 23) named volumes are kept unless all=true; older clients prune every unused volume.
    const all = boolFilter(filters, 'all') ?? compareVersions(apiVersion, '1.42') < 0;
    const report = await volumes.prune((v: VolumeMeta) => {
      if (!all && !v.anonymous) return false;
      const labels = v.Labels ?? {};
      if (!(filters.get('label') ?? []).every((l) => matchesLabel(labels, l))) return false;
      if ((filters.get('label!') ?? []).some((l) => matchesLabel(labels, l))) return false;
      return true;
    });
    for (const name of report.VolumesDeleted) daemon.events.publish('volume', 'destroy', name, { driver: 'local' });
    sendJson(res, 200, { VolumesDeleted: report.VolumesDeleted.length > 0 ? report.VolumesDeleted : null, SpaceReclaimed: report.SpaceReclaimed });
  });

  router.on('GET', '/volumes/{name}', ({ res, params }) => {
    const { volumes } = dataServices(daemon);
    sendJson(res, 200, volumes.store.view(volumes.store.require(params.name!)));
  });

  router.on('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    const { volumes } = dataServices(daemon);
    await volumes.remove(params.name!, queryBool(query, 'force'));
    daemon.events.publish('volume', 'destroy', params.name!, { driver: 'local' });
    sendNoContent(res);
  });
}
