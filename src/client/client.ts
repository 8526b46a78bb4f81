import type { Readable } from 'node:stream';
import { parseHost, type DaemonAddress } from './host.js';
import { readAll, readJson, send, type HttpResponse, type RequestOptions } from './transport.js';
import { hijack, type HijackedStream } from './hijack.js';
import type {
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerPruneReport,
  ContainerSummary,
  DeleteItem,
  Filters,
  HistoryItem,
  ImageInspect,
  ImagePruneReport,
  ImageSummary,
  ServerVersion,
  SystemInfo,
  TopResponse,
  UpdateBody,
  WaitResponse,
} from './types.js';

const enc = encodeURIComponent;

function filterParam(filters: Filters | undefined): string | undefined {
  return filters && Object.keys(filters).length ? JSON.stringify(filters) : undefined;
}

export interface LogsOptions {
  follow?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  since?: string;
  until?: string;
  timestamps?: boolean;
  tail?: string;
}

export interface AttachOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  logs?: boolean;
  detachKeys?: string;
}

export interface ExecCreateBody {
  Cmd: string[];
  Env?: string[];
  User?: string;
  WorkingDir?: string;
  Tty?: boolean;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Privileged?: boolean;
  DetachKeys?: string;
}

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  ContainerID: string;
}

export interface ImportOptions {
  repo?: string;
  tag?: string;
  message?: string;
  changes?: string[];
}

/** A typed Engine API client: one method per endpoint, JSON in and out; streams stay streams. */
export class EngineClient {
  readonly host: string;
  private readonly addr: DaemonAddress;

  /** A host URL ("unix:///run/berth/berth.sock", "tcp://10.0.0.2:2376") or an address with TLS material. */
  constructor(host: string | DaemonAddress) {
    this.host = typeof host === 'string' ? host : host.url;
    this.addr = typeof host === 'string' ? parseHost(host) : host;
  }

  get address(): DaemonAddress {
    return this.addr;
  }

  raw(opts: RequestOptions): Promise<HttpResponse> {
    return send(this.addr, opts);
  }

  private async json<T>(opts: RequestOptions): Promise<T> {
    return readJson<T>(await send(this.addr, opts));
  }

  private async drain(opts: RequestOptions): Promise<void> {
    await readAll(await send(this.addr, opts));
  }

  async ping(): Promise<string> {
    return (await readAll(await send(this.addr, { method: 'GET', path: '/_ping' }))).toString('utf8');
  }

  version(): Promise<ServerVersion> {
    return this.json({ method: 'GET', path: '/version' });
  }

  info(): Promise<SystemInfo> {
    return this.json({ method: 'GET', path: '/info' });
  }

  // Containers

  containerList(opts: { all?: boolean; limit?: number; size?: boolean; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    const limit = opts.limit !== undefined && opts.limit > 0 ? opts.limit : undefined;
    return this.json({
      method: 'GET',
      path: '/containers/json',
      query: { all: opts.all, limit, size: opts.size, filters: filterParam(opts.filters) },
    });
  }

  containerCreate(body: ContainerCreateBody, name?: string): Promise<ContainerCreateResponse> {
    return this.json({
      method: 'POST',
      path: '/containers/create',
      query: { name: name || undefined },
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    });
  }

  containerInspect(id: string, size = false): Promise<ContainerInspect> {
    return this.json({ method: 'GET', path: `/containers/${enc(id)}/json`, query: { size } });
  }

  containerStart(id: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/start` });
  }

  containerStop(id: string, timeout?: number, signal?: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/stop`, query: { t: timeout, signal } });
  }

  containerRestart(id: string, timeout?: number, signal?: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/restart`, query: { t: timeout, signal } });
  }

  containerKill(id: string, signal?: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/kill`, query: { signal } });
  }

  containerPause(id: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/pause` });
  }

  containerUnpause(id: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/unpause` });
  }

  containerTop(id: string, psArgs?: string): Promise<TopResponse> {
    return this.json({ method: 'GET', path: `/containers/${enc(id)}/top`, query: { ps_args: psArgs || undefined } });
  }

  containerUpdate(id: string, body: UpdateBody): Promise<{ Warnings?: string[] | null }> {
    return this.json({
      method: 'POST',
      path: `/containers/${enc(id)}/update`,
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    });
  }

  /** The raw stats response: one JSON document, or one per line while `stream`. */
  containerStats(id: string, opts: { stream: boolean; oneShot?: boolean }): Promise<HttpResponse> {
    return send(this.addr, { method: 'GET', path: `/containers/${enc(id)}/stats`, query: { stream: opts.stream ? '1' : '0', 'one-shot': opts.oneShot } });
  }

  containerRemove(id: string, opts: { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    return this.drain({ method: 'DELETE', path: `/containers/${enc(id)}`, query: { force: opts.force, v: opts.volumes, link: opts.link } });
  }

  /** Resolves when the container reaches `condition`; send before start to never miss an exit. */
  containerWait(id: string, condition?: 'not-running' | 'next-exit' | 'removed'): Promise<WaitResponse> {
    return this.json({ method: 'POST', path: `/containers/${enc(id)}/wait`, query: { condition } });
  }

  /** The raw log stream; multiplexed (see stdcopy) unless the container has a TTY. */
  containerLogs(id: string, opts: LogsOptions): Promise<HttpResponse> {
    return send(this.addr, {
      method: 'GET',
      path: `/containers/${enc(id)}/logs`,
      query: {
        stdout: opts.stdout ?? true,
        stderr: opts.stderr ?? true,
        follow: opts.follow,
        since: opts.since,
        until: opts.until,
        timestamps: opts.timestamps,
        tail: opts.tail,
      },
    });
  }

  /** Hijacked attach: a raw stream (TTY) or multiplexed frames; stdin goes the other way. */
  containerAttach(id: string, opts: AttachOptions): Promise<HijackedStream> {
    return hijack(this.addr, {
      method: 'POST',
      path: `/containers/${enc(id)}/attach`,
      query: { stream: true, stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr, logs: opts.logs, detachKeys: opts.detachKeys },
    });
  }

  containerResize(id: string, height: number, width: number): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/resize`, query: { h: height, w: width } });
  }

  execCreate(container: string, body: ExecCreateBody): Promise<{ Id: string }> {
    return this.json({
      method: 'POST',
      path: `/containers/${enc(container)}/exec`,
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    });
  }

  /** Detached starts answer at once; attached ones return the hijacked stream. */
  execStart(id: string, body: { Detach: boolean; Tty: boolean; ConsoleSize?: [number, number] }): Promise<HijackedStream> {
    return hijack(this.addr, { method: 'POST', path: `/exec/${enc(id)}/start`, body: JSON.stringify(body) });
  }

  execResize(id: string, height: number, width: number): Promise<void> {
    return this.drain({ method: 'POST', path: `/exec/${enc(id)}/resize`, query: { h: height, w: width } });
  }

  execInspect(id: string): Promise<ExecInspect> {
    return this.json({ method: 'GET', path: `/exec/${enc(id)}/json` });
  }

  containerRename(id: string, name: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/rename`, query: { name } });
  }

  containerPrune(filters?: Filters): Promise<ContainerPruneReport> {
    return this.json({ method: 'POST', path: '/containers/prune', query: { filters: filterParam(filters) } });
  }

  // Images

  imageList(opts: { all?: boolean; digests?: boolean; filters?: Filters } = {}): Promise<ImageSummary[]> {
    return this.json({
      method: 'GET',
      path: '/images/json',
      query: { all: opts.all, digests: opts.digests, filters: filterParam(opts.filters) },
    });
  }

  imageInspect(name: string): Promise<ImageInspect> {
    return this.json({ method: 'GET', path: `/images/${enc(name)}/json` });
  }

  imageHistory(name: string): Promise<HistoryItem[]> {
    return this.json({ method: 'GET', path: `/images/${enc(name)}/history` });
  }

  imageTag(source: string, repo: string, tag?: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/images/${enc(source)}/tag`, query: { repo, tag } });
  }

  imageRemove(name: string, opts: { force?: boolean; noprune?: boolean } = {}): Promise<DeleteItem[]> {
    return this.json({ method: 'DELETE', path: `/images/${enc(name)}`, query: { force: opts.force, noprune: opts.noprune } });
  }

  imagePrune(filters?: Filters): Promise<ImagePruneReport> {
    return this.json({ method: 'POST', path: '/images/prune', query: { filters: filterParam(filters) } });
  }

  /** Streams a tarball as the body; the answer is a JSON progress stream (see jsonLines). */
  imageImport(source: Readable, opts: ImportOptions): Promise<HttpResponse> {
    // `changes` repeats as a query key, which encodeQuery's record cannot express.
    const changes = (opts.changes ?? []).map((c) => `&changes=${enc(c)}`).join('');
    const q = new URLSearchParams({ fromSrc: '-' });
    if (opts.repo) q.set('repo', opts.repo);
    if (opts.tag) q.set('tag', opts.tag);
    if (opts.message) q.set('message', opts.message);
    return send(this.addr, {
      method: 'POST',
      path: `/images/create?${q.toString().replace(/\+/g, '%20')}${changes}`,
      body: source,
      headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' },
    });
  }

  /** Pull; a JSON progress stream. */
  imagePull(image: string, tag: string | undefined): Promise<HttpResponse> {
    return send(this.addr, { method: 'POST', path: '/images/create', query: { fromImage: image, tag } });
  }

  events(opts: { since?: string; until?: string; filters?: Filters } = {}): Promise<HttpResponse> {
    return send(this.addr, { method: 'GET', path: '/events', query: { since: opts.since, until: opts.until, filters: filterParam(opts.filters) } });
  }
}
