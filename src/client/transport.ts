import type { Readable } from 'node:stream';
import { ClientError } from './errors.js';
import type { DaemonAddress } from './host.js';
import { request, type HttpResponse, type OutgoingHeaders } from './http1.js';

export type { HttpResponse } from './http1.js';

export const API_VERSION = '1.41';

export type QueryValue = string | number | boolean | undefined;

export interface RequestOptions {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'HEAD';
  path: string;
  query?: Record<string, QueryValue>;
  body?: Buffer | string | Readable;
  headers?: OutgoingHeaders;
}

/** Booleans go as "1" and false/undefined are omitted, as the docker client does. */
export function encodeQuery(query: Record<string, QueryValue> | undefined): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === false) continue;
    parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(v === true ? '1' : String(v))}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The versioned request target, as the docker client sends it. */
export function apiPath(opts: RequestOptions): string {
  return `/v${API_VERSION}${opts.path}${encodeQuery(opts.query)}`;
}

/**
 * Sends one request and resolves with the response once its status is known. Non-2xx answers
 * are read in full and turned into a ClientError with the daemon's message.
 */
export async function send(addr: DaemonAddress, opts: RequestOptions): Promise<HttpResponse> {
  const res = await request(addr, { method: opts.method, path: apiPath(opts), headers: opts.headers, body: opts.body });
  if (res.statusCode >= 200 && res.statusCode < 300) return res;
  throw await errorOf(res);
}

/** A non-2xx answer as a ClientError carrying the daemon's {"message"} (or its plain text). */
export async function errorOf(res: HttpResponse): Promise<ClientError> {
  return new ClientError(res.statusCode, errorText(res.statusCode, await readAll(res)));
}

function errorText(status: number, buf: Buffer): string {
  const text = buf.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // Not JSON: proxies and plain-text handlers answer this way; show the text itself.
  }
  return text || `HTTP ${status}`;
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Parses a JSON body; empty bodies (204) give undefined. */
export async function readJson<T>(res: Readable): Promise<T> {
  const buf = await readAll(res);
  const text = buf.toString('utf8').trim();
  return (text ? JSON.parse(text) : undefined) as T;
}
