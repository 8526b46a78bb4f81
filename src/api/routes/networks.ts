/** /networks: list, inspect, create, remove, connect, disconnect, prune (docker's JSON). */
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { readJsonObject, sendJson, sendNoContent, queryFilters, checkFilterKeys, queryBool } from '../io.js';
import { invalidParameter, notImplemented } from '../../util/errors.js';
import { networkDocument } from '../../network/views.js';
import type { NetworkRecord } from '../../network/types.js';
import { matchesLabel } from '../../container/filter.js';
import { parseTimestampNano } from './system.js';

const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

function matches(network: NetworkRecord, filters: Map<string, string[]>, inUse: (n: NetworkRecord) => boolean): boolean {
  const any = (key: string, test: (value: string) => boolean): boolean => {
    const values = filters.get(key);
    return !values || values.length === 0 || values.some(test);
  };
  return (
    any('name', (v) => network.name.includes(v)) &&
    any('id', (v) => network.id.startsWith(v)) &&
    any('driver', (v) => network.driver === v) &&
    any('scope', (v) => v === (network.driver === 'overlay' ? 'global' : 'local')) &&
    any('type', (v) => {
      if (v !== 'custom' && v !== 'builtin') throw invalidParameter(`invalid filter: 'type'='${v}'`);
      return (v === 'builtin') === network.predefined;
    }) &&
    any('dangling', (v) => (['true', '1'].includes(v) ? !network.predefined && !inUse(network) : true)) &&
    (filters.get('label') ?? []).every((l) => matchesLabel(network.labels, l))
  );
}

export function networkRoutes(router: Router, daemon: Daemon): void {
  const service = (): NonNullable<Daemon['networks']> => {
    if (!daemon.networks) throw notImplemented('networking is not available in this daemon');
    return daemon.networks;
  };

  router.on('GET', '/networks', ({ res, query }) => {
    const net = service();
    const filters = queryFilters(query);
    checkFilterKeys(filters, LIST_FILTERS);
    const list = net.store.all().filter((n) => matches(n, filters, (x) => net.usersOf(x).length > 0));
    sendJson(res, 200, list.map((n) => networkDocument(net, n, false)));
  });

  router.on('GET', '/networks/{id}', ({ res, params, query }) => {
    const net = service();
    void queryBool(query, 'verbose');
    sendJson(res, 200, networkDocument(net, net.store.get(params.id!), true));
  });

  router.on('POST', '/networks/create', async ({ req, res }) => {
    const body = await readJsonObject(req);
    sendJson(res, 201, await service().create(body));
  });

  router.on('DELETE', '/networks/{id}', async ({ res, params }) => {
    await service().remove(params.id!);
    sendNoContent(res);
  });

  router.on('POST', '/networks/{id}/connect', async ({ req, res, params }) => {
    const body = await readJsonObject(req);
    if (typeof body.Container !== 'string' || !body.Container) throw invalidParameter('Container is required');
    await daemon.networkHook!.connect(params.id!, body.Container, (body.EndpointConfig ?? {}) as Record<string, never>);
    sendNoContent(res, 200);
  });

  router.on('POST', '/networks/{id}/disconnect', async ({ req, res, params }) => {
    const body = await readJsonObject(req);
    if (typeof body.Container !== 'string' || !body.Container) throw invalidParameter('Container is required');
    await daemon.networkHook!.disconnect(params.id!, body.Container, body.Force === true);
    sendNoContent(res, 200);
  });

  router.on('POST', '/networks/prune', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = filters.get('until')?.[0];
    const untilMs = until ? parseTimestampNano(until, 'until') / 1e6 : undefined;
    const deleted = await service().prune((n) => {
      if (untilMs !== undefined && Date.parse(n.created) >= untilMs) return true;
      if (!(filters.get('label') ?? []).every((l) => matchesLabel(n.labels, l))) return true;
      if ((filters.get('label!') ?? []).some((l) => matchesLabel(n.labels, l))) return true;
      return false;
    });
    sendJson(res, 200, { NetworksDeleted: deleted.length ? deleted : null });
  });
}
