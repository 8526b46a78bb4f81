/**
 * The Engine API calls compose needs beyond what EngineClient offers today (networks, volumes,
 * exec, pause, top, build, push), spoken over the same client connection. Everything goes
 * through HTTP: compose never reaches into the daemon.
 */
import type { Readable } from 'node:stream';
import type { EngineClient } from '../client/client.js';
import { readAll, readJson, type HttpResponse, type RequestOptions } from '../client/transport.js';
import type { Filters, Labels } from '../client/types.js';

const enc = encodeURIComponent;
const filterParam = (f?: Filters): string | undefined => (f && Object.keys(f).length ? JSON.stringify(f) : undefined);
const jsonBody = (body: unknown): Pick<RequestOptions, 'body' | 'headers'> => ({ body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });

export interface NetworkSummary {
  Id: string;
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Labels?: Labels | null;
}

export interface VolumeSummary {
  Name: string;
  Driver?: string;
  Labels?: Labels | null;
  Mountpoint?: string;
}

export interface NetworkCreateBody {
  Name: string;
  Driver?: string;
  Internal?: boolean;
  Attachable?: boolean;
  CheckDuplicate?: boolean;
  Labels?: Labels;
  Options?: Record<string, string>;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; IPRange?: string }> };
}

export interface EndpointConfig {
  Aliases?: string[];
  IPAMConfig?: { IPv4Address?: string };
}

export interface ExecCreateBody {
  Cmd: string[];
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  Env?: string[];
  User?: string;
  WorkingDir?: string;
  Privileged?: boolean;
}

export interface ExecInspect {
  ID?: string;
  Running?: boolean;
  ExitCode?: number | null;
}

export interface TopResponse {
  Titles: string[];
  Processes: string[][];
}

export class ComposeEngine {
  constructor(readonly client: EngineClient) {}

  private async json<T>(opts: RequestOptions): Promise<T> {
    return readJson<T>(await this.client.raw(opts));
  }

  private async drain(opts: RequestOptions): Promise<void> {
    await readAll(await this.client.raw(opts));
  }

  networkList(filters?: Filters): Promise<NetworkSummary[]> {
    return this.json({ method: 'GET', path: '/networks', query: { filters: filterParam(filters) } });
  }

  networkInspect(name: string): Promise<NetworkSummary> {
    return this.json({ method: 'GET', path: `/networks/${enc(name)}` });
  }

  networkCreate(body: NetworkCreateBody): Promise<{ Id: string }> {
    return this.json({ method: 'POST', path: '/networks/create', ...jsonBody(body) });
  }

  networkRemove(name: string): Promise<void> {
    return this.drain({ method: 'DELETE', path: `/networks/${enc(name)}` });
  }

  networkConnect(network: string, container: string, endpoint: EndpointConfig): Promise<void> {
    return this.drain({ method: 'POST', path: `/networks/${enc(network)}/connect`, ...jsonBody({ Container: container, EndpointConfig: endpoint }) });
  }

  async volumeList(filters?: Filters): Promise<VolumeSummary[]> {
    const res = await this.json<{ Volumes?: VolumeSummary[] | null }>({ method: 'GET', path: '/volumes', query: { filters: filterParam(filters) } });
    return res.Volumes ?? [];
  }

  volumeInspect(name: string): Promise<VolumeSummary> {
    return this.json({ method: 'GET', path: `/volumes/${enc(name)}` });
  }

  volumeCreate(body: { Name: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Labels }): Promise<VolumeSummary> {
    return this.json({ method: 'POST', path: '/volumes/create', ...jsonBody(body) });
  }

  volumeRemove(name: string, force = false): Promise<void> {
    return this.drain({ method: 'DELETE', path: `/volumes/${enc(name)}`, query: { force } });
  }

  execCreate(container: string, body: ExecCreateBody): Promise<{ Id: string }> {
    return this.json({ method: 'POST', path: `/containers/${enc(container)}/exec`, ...jsonBody(body) });
  }

  execInspect(id: string): Promise<ExecInspect> {
    return this.json({ method: 'GET', path: `/exec/${enc(id)}/json` });
  }

  containerPause(id: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/pause` });
  }

  containerUnpause(id: string): Promise<void> {
    return this.drain({ method: 'POST', path: `/containers/${enc(id)}/unpause` });
  }

  containerTop(id: string): Promise<TopResponse> {
    return this.json({ method: 'GET', path: `/containers/${enc(id)}/top` });
  }

  /** POST /build with a context tar; resolves with the JSON progress stream. */
  build(context: Readable, query: Record<string, string | undefined>): Promise<HttpResponse> {
    return this.client.raw({ method: 'POST', path: '/build', query, body: context, headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' } });
  }

  imagePush(name: string, tag: string | undefined): Promise<HttpResponse> {
    // An empty registry auth is what docker sends when no credentials are stored.
    return this.client.raw({ method: 'POST', path: `/images/${enc(name)}/push`, query: { tag }, headers: { 'X-Registry-Auth': Buffer.from('{}').toString('base64') } });
  }
}
