/**
 * A generic streaming Engine API proxy: the request (body included, chunked or not) goes to an
 * upstream engine and its answer streams back as it arrives, so `logs -f`, `events`, `wait` and
 * pull progress work through it; hijacked requests (attach, exec start) are spliced at the
 * socket level after the request head. The manager routes container calls to nodes with it, and
 * backup managers forward everything to the primary with it.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { openRequest, openSocket, unreachable, type Upstream } from './upstream.js';

/** Headers that describe one hop, not the message: never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'proxy-authorization']);

export function forwardableHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = v;
  }
  return out;
}

export interface ProxyOptions {
  /** Path and query to send upstream (defaults to the incoming one): lets the router rewrite `node/name` to an ID. */
  path?: string;
  /** A body the router already read (and maybe changed); otherwise the request streams through. */
  body?: Buffer;
  /** Sees the upstream's status before it is relayed (the router updates its caches on success). */
  onStatus?: (status: number) => void;
}

/**
 * Relays one request. Resolves when the answer has been relayed completely (or the client went
 * away); rejects only before anything was sent to the client, so the caller can still answer
 * with an error of its own (an unreachable node becomes a 503 naming it).
 */
export function proxyHttp(up: Upstream, req: IncomingMessage, res: ServerResponse, options: ProxyOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers = forwardableHeaders(req.headers);
    if (options.body !== undefined) {
      headers['content-length'] = options.body.length;
    }
    const upstream = openRequest(up, req.method ?? 'GET', options.path ?? req.url ?? '/', headers);
    let answered = false;
    upstream.on('error', (err) => {
      if (!answered) reject(unreachable(up, err));
      else res.destroy();
    });
    upstream.on('response', (answer) => {
      answered = true;
      const status = answer.statusCode ?? 502;
      options.onStatus?.(status);
      res.writeHead(status, forwardableHeaders(answer.headers));
      // Streams (events, logs -f, wait) must show their headers now, not with the first byte.
      res.flushHeaders();
      answer.pipe(res);
      answer.on('error', () => res.destroy());
      answer.on('end', () => resolve());
    });
    // A client that hangs up (Ctrl-C on `logs -f`) ends the upstream stream too.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      resolve();
    });
    if (options.body !== undefined) upstream.end(options.body);
    else req.pipe(upstream);
  });
}

/** Splices a hijacked request (Upgrade: tcp) to the upstream; both directions stream raw. */
export function proxyHijack(up: Upstream, req: IncomingMessage, socket: Duplex, head: Buffer, path?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const upstream = openSocket(up);
    let connected = false;
    const ready = up.tls && up.addr.kind === 'tcp' ? 'secureConnect' : 'connect';
    upstream.once(ready, () => {
      connected = true;
      const lines = [`${req.method ?? 'POST'} ${path ?? req.url ?? '/'} HTTP/1.1`];
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i]!.toLowerCase() === 'host') continue;
        lines.push(`${raw[i]}: ${raw[i + 1]}`);
      }
      lines.push(`Host: ${up.addr.kind === 'tcp' ? `${up.addr.host}:${up.addr.port}` : 'berth'}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
      resolve();
    });
    upstream.on('error', (err) => {
      if (!connected) reject(unreachable(up, err));
      socket.destroy();
    });
    socket.on('error', () => upstream.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
  });
}
