/**
 * How the manager reaches an engine (a node's berthd, or the primary manager from a backup):
 * plain HTTP over a unix socket or TCP, or HTTPS with a client certificate when the cluster
 * uses TLS. One place builds the request options so the refresher, the router and the
 * streaming proxy all dial the same way.
 */
import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { parseHost, type DaemonAddress } from '../../client/host.js';
import { BerthError } from '../../util/errors.js';

/** PEM contents (not paths): read once when the manager starts. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  /** Check the engine's certificate against `ca` (docker's --tlsverify). */
  verify: boolean;
}

export interface Upstream {
  /** For messages: "node1 (10.1.2.3:2376)". */
  label: string;
  addr: DaemonAddress;
  tls?: TlsMaterial;
}

/**
 * Discovery entries carry "HOST:PORT" (TCP) but a unix:// URL works too, which lets a cluster of
 * engines on one host (and the tests) run without TCP listeners.
 */
export function upstreamFor(label: string, address: string, tlsMaterial?: TlsMaterial): Upstream {
  return { label, addr: parseHost(address), tls: tlsMaterial };
}

function target(up: Upstream): https.RequestOptions {
  if (up.addr.kind === 'unix') return { socketPath: up.addr.socketPath };
  const base: https.RequestOptions = { host: up.addr.host, port: up.addr.port };
  if (!up.tls) return base;
  return { ...base, ca: up.tls.ca, cert: up.tls.cert, key: up.tls.key, rejectUnauthorized: up.tls.verify };
}

/** One request to the upstream; the caller writes the body and handles 'response'. */
export function openRequest(up: Upstream, method: string, path: string, headers: OutgoingHttpHeaders = {}): ClientRequest {
  const options = { ...target(up), method, path, headers };
  // No keep-alive pool: a node that restarts must not leave the manager holding dead sockets.
  return up.tls && up.addr.kind === 'tcp' ? https.request({ ...options, agent: false }) : http.request({ ...options, agent: false });
}

/** A raw stream to the upstream for hijacked requests (attach, exec start). */
export function openSocket(up: Upstream): Duplex {
  if (up.addr.kind === 'unix') return net.connect(up.addr.socketPath);
  if (!up.tls) return net.connect(up.addr.port, up.addr.host);
  return tls.connect({ host: up.addr.host, port: up.addr.port, ca: up.tls.ca, cert: up.tls.cert, key: up.tls.key, rejectUnauthorized: up.tls.verify });
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENETUNREACH']);

/** A connection failure as the client should see it: 503 naming the engine. */
export function unreachable(up: Upstream, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && ((e.code && UNREACHABLE.has(e.code)) || e.code?.startsWith('ERR_TLS') || e.code?.includes('CERT'))) {
    return new BerthError('unavailable', `cannot reach ${up.label}: ${e.code}: ${e.message}`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export interface UpstreamAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** A whole request/answer exchange with a deadline: the refresher and the create path use it. */
export function exchange(up: Upstream, method: string, path: string, body?: Buffer | string, headers: OutgoingHttpHeaders = {}, timeoutMs = 30_000): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    const h: OutgoingHttpHeaders = { ...headers };
    if (body !== undefined) {
      h['Content-Length'] = Buffer.byteLength(body);
      h['Content-Type'] ??= 'application/json';
    }
    const req = openRequest(up, method, path, h);
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(unreachable(up, err)));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(unreachable(up, err)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end(body);
  });
}

/** The engine's message from an error answer ({"message": ...} or plain text). */
export function answerMessage(answer: UpstreamAnswer): string {
  const text = answer.body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // plain text
  }
  return text || `HTTP ${answer.status}`;
}

/** GET a JSON document; non-2xx answers throw with the engine's message and status kind. */
export async function getJson<T>(up: Upstream, path: string, timeoutMs?: number): Promise<T> {
  const answer = await exchange(up, 'GET', path, undefined, {}, timeoutMs);
  if (answer.status < 200 || answer.status >= 300) throw answerError(answer, up);
  return JSON.parse(answer.body.toString('utf8')) as T;
}

const KIND_BY_STATUS: Record<number, BerthError['kind']> = { 400: 'invalidParameter', 401: 'unauthorized', 403: 'forbidden', 404: 'notFound', 409: 'conflict', 501: 'notImplemented', 503: 'unavailable' };

/** An engine's error answer, kept with its status so the manager answers the same way. */
export function answerError(answer: UpstreamAnswer, up: Upstream): BerthError {
  const kind = KIND_BY_STATUS[answer.status] ?? 'system';
  const message = answerMessage(answer);
  return new BerthError(kind, kind === 'system' ? `${up.label}: ${message}` : message);
}
