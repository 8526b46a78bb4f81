/**
 * Operating running containers: pause/unpause, top, stats and update.
 */
import type { ServerResponse } from 'node:http';
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { readJsonObject, sendJson, sendNoContent, queryBool } from '../io.js';
import { conflict } from '../../util/errors.js';
import { cgroupPids } from '../../runtime/cgroups.js';
import { runPs } from '../../sys/ps.js';
import { filterPsOutput, psArguments } from '../../container/top.js';
import { StatsCache, idleSample, sampleNetworks, sampleStats, statsDocument, type StatsSample } from '../../container/stats.js';
import type { ContainerRecord } from '../../container/model.js';

const STREAM_INTERVAL_MS = 1000;
/** A one-off request without a recent sample waits this long for a second one (CPU % needs two). */
const PAIR_WAIT_MS = 200;

const cgroupsPathOf = (record: ContainerRecord): string => `/berth/${record.id}`;
const running = (record: ContainerRecord): boolean => record.state.status === 'running' || record.state.status === 'paused';

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function opsRoutes(router: Router, daemon: Daemon): void {
  const containers = daemon.containers;
  const cache = new StatsCache();

  router.on('POST', '/containers/{id}/pause', async ({ res, params }) => {
    await containers.pause(params.id!);
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/unpause', async ({ res, params }) => {
    await containers.unpause(params.id!);
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/update', async ({ req, res, params }) => {
    const body = await readJsonObject(req);
    sendJson(res, 200, await containers.update(params.id!, body));
  });

  router.on('GET', '/containers/{id}/top', async ({ res, params, query }) => {
    const record = containers.store.get(params.id!);
    if (record.state.status === 'restarting') throw conflict(`Container ${record.id} is restarting, wait until the container is running`);
    if (!running(record)) throw conflict(`Container ${record.id} is not running`);
    const args = psArguments(query.get('ps_args'));
    const pids = new Set(await cgroupPids(cgroupsPathOf(record)));
    sendJson(res, 200, filterPsOutput(await runPs(args), pids));
  });

  const sample = async (record: ContainerRecord): Promise<StatsSample> => {
    if (!running(record)) return idleSample();
    const s = await sampleStats(cgroupsPathOf(record));
    // Only a namespace of its own: a host-network container would show the host's interfaces.
    if (record.network?.sandboxKey && record.state.pid > 0) s.networks = await sampleNetworks(record.state.pid);
    cache.remember(record.id, s);
    return s;
  };

  router.on('GET', '/containers/{id}/stats', async ({ res, params, query }) => {
    const record = containers.store.get(params.id!);
    const stream = queryBool(query, 'stream', true);
    const oneShot = queryBool(query, 'one-shot');
    if (!stream) {
      let previous: StatsSample | undefined;
      if (!oneShot && running(record)) {
        previous = cache.previous(record.id, 10_000, 50);
        if (!previous) {
          previous = await sample(record);
          await delay(PAIR_WAIT_MS);
        }
      }
      sendJson(res, 200, statsDocument(record, await sample(record), oneShot ? undefined : previous));
      return;
    }
    await streamStats(res, record, sample, cache);
  });
}

/** One JSON document per second until the client goes away or the container stops. */
async function streamStats(res: ServerResponse, record: ContainerRecord, sample: (r: ContainerRecord) => Promise<StatsSample>, cache: StatsCache): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  let previous = cache.previous(record.id, 10_000, 50);
  while (!closed) {
    const current = await sample(record);
    res.write(`${JSON.stringify(statsDocument(record, current, previous))}\n`);
    previous = current;
    if (!running(record)) break;
    await delay(STREAM_INTERVAL_MS);
  }
  res.end();
}
