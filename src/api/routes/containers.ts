import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { readJsonObject, sendJson, sendNoContent, queryBool, queryInt, queryFilters, checkFilterKeys } from '../io.js';
import { invalidParameter, notImplemented, BerthError } from '../../util/errors.js';
import { logDriverOf } from '../../container/logconfig.js';
import { CONTAINER_FILTER_KEYS, filterContainers, matchesLabel } from '../../container/filter.js';
import { listItem, inspectDocument } from '../../container/views.js';
import { LogReader, frame, type LogEntry } from '../../container/logs.js';
import { isActive, type ContainerRecord } from '../../container/model.js';
import type { WaitCondition } from '../../container/manager.js';
import { parseTimestampNano } from './system.js';

const notModified = (): BerthError => new BerthError('notModified', 'not modified');

/** RFC3339Nano in UTC with trailing zeros trimmed, as docker's `logs -t` prints. */
function dockerTimestamp(entry: LogEntry): string {
  const seconds = entry.timeNano / 1_000_000_000n;
  const nanos = (entry.timeNano % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  const base = new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  return `${base}${nanos ? `.${nanos}` : ''}Z`;
}

interface LogOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  tail?: number;
  sinceNano?: bigint;
  untilNano?: bigint;
  timestamps: boolean;
}

/** Streams a container's log to `out`, framed unless the container has a TTY. */
async function streamLogs(daemon: Daemon, record: ContainerRecord, options: LogOptions, out: Duplex | ServerResponse, fromOffset = 0): Promise<void> {
  const reader = new LogReader(record.logPath, fromOffset);
  const tty = record.config.Tty === true;
  let closed = false;
  const onClose = (): void => {
    closed = true;
    reader.stop();
  };
  out.on('close', onClose);
  if (options.follow) {
    if (isActive(record.state.status)) void daemon.containers.wait(record.id, 'next-exit').ready.then(() => reader.stop());
    else reader.stop();
  }
  const write = (entry: LogEntry): void => {
    if (entry.stream === 'stdout' && !options.stdout) return;
    if (entry.stream === 'stderr' && !options.stderr) return;
    if (options.sinceNano !== undefined && entry.timeNano < options.sinceNano) return;
    if (options.untilNano !== undefined && entry.timeNano > options.untilNano) return;
    const data = options.timestamps ? Buffer.concat([Buffer.from(`${dockerTimestamp(entry)} `), entry.data]) : entry.data;
    out.write(tty ? data : frame(entry.stream, data));
  };
  const entries = reader.entries(options.follow);
  if (options.tail !== undefined && options.tail >= 0) {
    // Tail needs the whole backlog first; entries already on disk are read without following.
    const backlog = new LogReader(record.logPath, fromOffset);
    const last: LogEntry[] = [];
    let end = fromOffset;
    for await (const entry of backlog.entries(false)) {
      last.push(entry);
      if (last.length > options.tail) last.shift();
    }
    end = await LogReader.currentSize(record.logPath);
    for (const entry of options.tail === 0 ? [] : last) write(entry);
    if (!options.follow) return;
    const rest = new LogReader(record.logPath, end);
    if (isActive(record.state.status)) void daemon.containers.wait(record.id, 'next-exit').ready.then(() => rest.stop());
    else rest.stop();
    out.on('close', () => rest.stop());
    for await (const entry of rest.entries(true)) {
      if (closed) break;
      write(entry);
    }
    return;
  }
  for await (const entry of entries) {
    if (closed) break;
    write(entry);
  }
}

function parseLogOptions(query: URLSearchParams): LogOptions {
  const tailRaw = query.get('tail');
  let tail: number | undefined;
  if (tailRaw !== null && tailRaw !== '' && tailRaw !== 'all') {
    tail = Number(tailRaw);
    if (!Number.isInteger(tail)) throw invalidParameter(`invalid value for tail: ${tailRaw}`);
    if (tail < 0) tail = undefined;
  }
  const since = query.get('since');
  const until = query.get('until');
  return {
    stdout: queryBool(query, 'stdout'),
    stderr: queryBool(query, 'stderr'),
    follow: queryBool(query, 'follow'),
    tail,
    sinceNano: since && since !== '0' ? BigInt(parseTimestampNano(since, 'since')) : undefined,
    untilNano: until && until !== '0' ? BigInt(parseTimestampNano(until, 'until')) : undefined,
    timestamps: queryBool(query, 'timestamps'),
  };
}

export function containerRoutes(router: Router, daemon: Daemon): void {
  const containers = daemon.containers;

  router.on('POST', '/containers/create', async ({ req, res, query }) => {
    const body = await readJsonObject(req);
    const name = query.get('name') || undefined;
    sendJson(res, 201, await containers.create(body, name));
  });

  router.on('GET', '/containers/json', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, CONTAINER_FILTER_KEYS);
    const list = filterContainers(containers.store.all(), {
      all: queryBool(query, 'all'),
      limit: queryInt(query, 'limit'),
      filters,
      imageIdOf: (ref) => daemon.images.tryResolve(ref)?.id,
      containerOf: (ref) => containers.store.get(ref),
    });
    const withSize = queryBool(query, 'size');
    const items = await Promise.all(list.map(async (r) => listItem(r, withSize ? await daemon.containerSize(r) : undefined)));
    sendJson(res, 200, items);
  });

  router.on('POST', '/containers/prune', async ({ res, query }) => {
    const filters = queryFilters(query);
    checkFilterKeys(filters, ['until', 'label', 'label!']);
    const until = filters.get('until')?.[0];
    const untilMs = until ? parseTimestampNano(until, 'until') / 1e6 : undefined;
    const report = await containers.prune((r) => {
      if (untilMs !== undefined && Date.parse(r.created) >= untilMs) return true;
      const labels = r.config.Labels ?? {};
      if (!(filters.get('label') ?? []).every((l) => matchesLabel(labels, l))) return true;
      if ((filters.get('label!') ?? []).some((l) => matchesLabel(labels, l))) return true;
      return false;
    });
    sendJson(res, 200, { ContainersDeleted: report.ContainersDeleted.length ? report.ContainersDeleted : null, SpaceReclaimed: report.SpaceReclaimed });
  });

  router.on('GET', '/containers/{id}/json', async ({ res, params, query }) => {
    const record = containers.store.get(params.id!);
    const doc = inspectDocument(record, daemon.layerOf(record.id), daemon.images.tryResolve(record.image) ? daemon.images.layerPaths(record.image) : []);
    if (queryBool(query, 'size')) {
      const size = await daemon.containerSize(record);
      doc.SizeRw = size.rw;
      doc.SizeRootFs = size.rootFs;
    }
    sendJson(res, 200, doc);
  });

  router.on('POST', '/containers/{id}/start', async ({ res, params }) => {
    const outcome = await containers.start(params.id!);
    if (outcome === 'alreadyRunning') throw notModified();
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/stop', async ({ res, params, query }) => {
    const outcome = await containers.stop(params.id!, queryInt(query, 't'), query.get('signal') || undefined);
    if (outcome === 'notRunning') throw notModified();
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/restart', async ({ res, params, query }) => {
    await containers.restart(params.id!, queryInt(query, 't'));
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/kill', async ({ res, params, query }) => {
    await containers.kill(params.id!, query.get('signal') || undefined);
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/wait', async ({ res, params, query }) => {
    const condition = (query.get('condition') || 'not-running') as WaitCondition;
    if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw invalidParameter(`invalid condition: "${condition}"`);
    const { ready } = containers.wait(params.id!, condition);
    // Headers go out at once so the client knows the wait is registered before it starts the container.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const code = await ready;
    res.end(JSON.stringify({ StatusCode: code, Error: null }));
  });

  router.on('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    await containers.remove(params.id!, { force: queryBool(query, 'force'), removeVolumes: queryBool(query, 'v') });
    sendNoContent(res);
  });

  router.on('POST', '/containers/{id}/rename', async ({ res, params, query }) => {
    const name = query.get('name');
    if (!name) throw invalidParameter('Neither old nor new names may be empty');
    await containers.rename(params.id!, name);
    sendNoContent(res);
  });

  router.on('GET', '/containers/{id}/logs', async ({ res, params, query }) => {
    const record = containers.store.get(params.id!);
    const options = parseLogOptions(query);
    if (!options.stdout && !options.stderr) throw invalidParameter('Bad parameters: you must choose at least one stream');
    if (logDriverOf(record.hostConfig) === 'none') throw notImplemented('configured logging driver does not support reading');
    res.writeHead(200, {
      'Content-Type': record.config.Tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream',
    });
    res.flushHeaders();
    await streamLogs(daemon, record, options, res);
    res.end();
  });
  // attach and resize live in exec.ts with the other terminal and stdin endpoints.
}
