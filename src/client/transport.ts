import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { ClientError, DaemonUnreachableError } from './errors.js';
import { connectTarget, type DaemonAddress } from './host.js';

export const API_VERSION = '1.41';

export type QueryValue = string | number | boolean | undefined;

export interface RequestOptions {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'HEAD';
  path: string;
  query?: Record<string, QueryValue>;
  body?: Buffer | string | Readable;
  headers?: OutgoingHttpHeaders;
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

/** https for a TLS address, http otherwise (unix sockets and plain TCP). */
export function requestFor(addr: DaemonAddress): typeof httpRequest {
  return addr.kind === 'tcp' && addr.tls ? (httpsRequest as typeof httpRequest) : httpRequest;
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EHOSTUNREACH', 'ECONNRESET']);

/**
 * Sends one request and resolves with the response once its status is known. Non-2xx answers
 * are read in full and turned into a ClientError with the daemon's message.
 */
export function send(addr: DaemonAddress, opts: RequestOptions): Promise<IncomingMessage> {
  const path = `/v${API_VERSION}${opts.path}${encodeQuery(opts.query)}`;
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  const body = opts.body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) headers['Content-Length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const req = requestFor(addr)({ ...connectTarget(addr), method: opts.method, path, headers });
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code && UNREACHABLE.has(err.code) && !req.reusedSocket ? new DaemonUnreachableError(addr.url, { cause: err }) : err);
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(res);
        return;
      }
      readAll(res).then(
        (buf) => reject(new ClientError(status, errorText(status, buf))),
        reject,
      );
    });
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
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
export async function readJson<T>(res: IncomingMessage): Promise<T> {
  const buf = await readAll(res);
  const text = buf.toString('utf8').trim();
  return (text ? JSON.parse(text) : undefined) as T;
}
