import os from 'node:os';
import type { ServerResponse } from 'node:http';
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { sendJson, sendText, queryFilters, checkFilterKeys } from '../io.js';
import { API_VERSION, BERTH_VERSION, MIN_API_VERSION } from '../version.js';
import { invalidParameter } from '../../util/errors.js';
import { matchesLabel } from '../../container/filter.js';
import type { EngineEvent } from '../../daemon/events.js';
import { diskUsageRoutes } from './disk-usage.js';

/** since/until accept unix seconds with optional fraction, or an RFC3339 time. */
export function parseTimestampNano(value: string, key: string): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1e9);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw invalidParameter(`invalid value for ${key}: ${value}`);
  return ms * 1e6;
}

function eventMatches(event: EngineEvent, filters: Map<string, string[]>): boolean {
  for (const [key, values] of filters) {
    const attrs = event.Actor.Attributes;
    const ok = values.some((v) => {
      switch (key) {
        case 'type':
          return event.Type === v;
        case 'event':
          return event.Action === v || event.Action.startsWith(`${v}:`);
        case 'container':
          return event.Type === 'container' && (event.Actor.ID.startsWith(v) || attrs.name === v);
        case 'image':
          return attrs.image === v || event.Actor.ID === v || (event.Type === 'image' && attrs.name === v);
        case 'label':
          return matchesLabel(attrs, v);
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

function writeEvent(res: ServerResponse, event: EngineEvent): void {
  res.write(`${JSON.stringify(event)}\n`);
}

export function systemRoutes(router: Router, daemon: Daemon): void {
  const ping = ({ res }: { res: ServerResponse }): void => {
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    res.setHeader('Pragma', 'no-cache');
    // Tells the docker CLI to use the classic builder (POST /build) against berthd.
    res.setHeader('Builder-Version', '1');
    sendText(res, 200, 'OK');
  };
  router.on('GET', '/_ping', ping);
  router.on('HEAD', '/_ping', ping);

  router.on('GET', '/version', ({ res }) => {
    const details = {
      ApiVersion: API_VERSION,
      Arch: 'amd64',
      BuildTime: '',
      Experimental: 'false',
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      KernelVersion: os.release(),
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
    };
    sendJson(res, 200, {
      Platform: { Name: 'Berth Engine' },
      Components: [{ Name: 'Engine', Version: BERTH_VERSION, Details: details }],
      Version: BERTH_VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: details.GoVersion,
      Os: 'linux',
      Arch: 'amd64',
      KernelVersion: os.release(),
      BuildTime: '',
    });
  });

  router.on('GET', '/info', async ({ res }) => {
    sendJson(res, 200, await daemon.info());
  });

  diskUsageRoutes(router, daemon);

  router.on('GET', '/events', ({ res, query, req }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['type', 'event', 'container', 'image', 'label', 'daemon', 'network', 'volume', 'plugin', 'node', 'service', 'secret', 'config', 'scope']);
    const since = query.get('since') ? parseTimestampNano(query.get('since')!, 'since') : undefined;
    const until = query.get('until') ? parseTimestampNano(query.get('until')!, 'until') : undefined;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const inWindow = (e: EngineEvent): boolean => (until === undefined || e.timeNano <= until) && eventMatches(e, filters);
    if (since !== undefined) for (const e of daemon.events.since(since)) if (inWindow(e)) writeEvent(res, e);
    if (until !== undefined && until <= Date.now() * 1e6) {
      res.end();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      res.end();
    };
    const unsubscribe = daemon.events.subscribe((e) => {
      if (until !== undefined && e.timeNano > until) {
        finish();
        return;
      }
      if (eventMatches(e, filters)) writeEvent(res, e);
    });
    if (until !== undefined) timer = setTimeout(finish, Math.max(0, until / 1e6 - Date.now()));
    req.on('close', finish);
  });
}
