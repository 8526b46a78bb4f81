/**
 * The client's own HTTP/1.1, one request per connection, over node:net (unix sockets, plain TCP)
 * or node:tls (TLS addresses). node:http costs a CLI run ~4.5 ms more than net to load and drive,
 * and a static node:https import pulls tls and crypto (~3 ms more) into every command even on a
 * unix socket; the Engine API needs only a small, strict part of HTTP/1.1, written out here.
 * tls is imported only when the address asks for it.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { DaemonUnreachableError } from './errors.js';
import type { DaemonAddress } from './host.js';

export type OutgoingHeaders = Record<string, string | number | readonly string[] | undefined>;

/** Lower-cased names; a repeated header's values joined with ", " (as node's IncomingMessage does). */
export type ResponseHeaders = Record<string, string>;

export interface HttpRequest {
  method: string;
  /** The request target, path and query, already encoded. */
  path: string;
  headers?: OutgoingHeaders;
  /** A string or Buffer goes with Content-Length; a stream goes chunked unless a Content-Length is given. */
  body?: string | Buffer | Readable;
}

/** The daemon's answer did not parse as HTTP/1.1 (status line, header block or body framing). */
export class HttpProtocolError extends Error {
  constructor(message: string) {
    super(`malformed HTTP response from the daemon: ${message}`);
    this.name = 'HttpProtocolError';
  }
}

/** A connection that ended before the answer was complete; ECONNRESET as node reports it. */
function hangUp(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

/**
 * A response: its body is this Readable. The socket stops being read while the body is not
 * (backpressure), and destroying the response closes the connection. After a 101 the body is
 * empty and `socket` is the raw two-way stream, no longer ours.
 */
export class HttpResponse extends Readable {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly headers: ResponseHeaders;
  /** Trailer fields of a chunked body, filled in when the body has ended. */
  readonly trailers: ResponseHeaders = {};
  readonly socket: Socket;
  readonly #onRead: () => void;
  readonly #onDestroy: () => void;

  constructor(socket: Socket, head: ResponseHead, onRead: () => void, onDestroy: () => void) {
    super();
    this.socket = socket;
    this.statusCode = head.statusCode;
    this.statusMessage = head.statusMessage;
    this.headers = head.headers;
    this.#onRead = onRead;
    this.#onDestroy = onDestroy;
  }

  override _read(): void {
    this.#onRead();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#onDestroy();
    // As node's IncomingMessage: an error is emitted only to someone listening for one (for
    // await, pipeline and readAll do), so `res.resume()` on an answer cut short cannot crash.
    callback(this.listenerCount('error') ? err : null);
  }
}

interface ResponseHead {
  statusCode: number;
  statusMessage: string;
  headers: ResponseHeaders;
}

const MAX_HEAD = 64 * 1024;
const MAX_LINE = 8 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const EMPTY: Buffer = Buffer.alloc(0);

function headerField(line: string, into: ResponseHeaders): void {
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon) : '';
  if (!TOKEN.test(name)) throw new HttpProtocolError(`bad header line ${JSON.stringify(line.slice(0, 80))}`);
  const key = name.toLowerCase();
  const value = line.slice(colon + 1).trim();
  into[key] = key in into ? `${into[key]}, ${value}` : value;
}

export function parseHead(text: string): ResponseHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!status) throw new HttpProtocolError(`bad status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers: ResponseHeaders = {};
  for (const line of lines.slice(1)) headerField(line, headers);
  return { statusCode: Number(status[1]), statusMessage: status[2] ?? '', headers };
}

function hostHeader(addr: DaemonAddress): string {
  // What the docker CLI sends over a unix socket; the name means nothing to the daemon.
  if (addr.kind === 'unix') return 'api.moby.localhost';
  return `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
}

async function open(addr: DaemonAddress): Promise<Socket> {
  if (addr.kind === 'unix') return netConnect({ path: addr.socketPath });
  // No Nagle delay: an attach over TCP sends keystrokes a few bytes at a time (node's http does the same).
  if (!addr.tls) return netConnect({ host: addr.host, port: addr.port, noDelay: true });
  const { connect } = await import('node:tls');
  const { ca, cert, key, verify } = addr.tls;
  // SNI carries names only, never addresses (as node's https agent decides it).
  const isAddress = addr.host.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(addr.host);
  return connect({ host: addr.host, port: addr.port, ca, cert, key, rejectUnauthorized: verify, servername: isAddress ? undefined : addr.host }).setNoDelay(true);
}

interface Framing {
  head: string;
  body: Buffer | Readable | undefined;
  chunked: boolean;
  upgrade: boolean;
}

/** The request's header block and how its body goes on the wire. */
function frame(addr: DaemonAddress, req: HttpRequest): Framing {
  if (!/^\/[\x21-\xff]*$/.test(req.path)) throw new TypeError(`request path has characters that must be escaped: ${JSON.stringify(req.path)}`);
  const given = new Map<string, Array<[string, string]>>();
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    if (value === undefined) continue;
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    for (const v of typeof value === 'object' ? value : [String(value)]) {
      if (/[\r\n\0]/.test(v)) throw new TypeError(`invalid character in header ${name}`);
      const key = name.toLowerCase();
      given.set(key, [...(given.get(key) ?? []), [name, v]]);
    }
  }
  const body = typeof req.body === 'string' ? Buffer.from(req.body) : req.body;
  const has = (key: string): boolean => given.has(key);
  const set = (name: string, value: string): void => void given.set(name.toLowerCase(), [[name, value]]);
  let chunked = false;
  if (Buffer.isBuffer(body)) {
    given.delete('transfer-encoding');
    set('Content-Length', String(body.length));
  } else if (body) {
    chunked = !has('content-length');
    if (chunked) set('Transfer-Encoding', 'chunked');
  } else if (!has('content-length') && (req.method === 'POST' || req.method === 'PUT')) {
    set('Content-Length', '0');
  }
  if (!has('host')) set('Host', hostHeader(addr));
  // One request per connection: the CLI makes a few calls per run and exits. A streamed body
  // (cp, import, build) says keep-alive all the same: a daemon that answers before the body is
  // all read (a refused extraction) then drains the rest instead of closing, and the answer is
  // read rather than lost to EPIPE on the next write. The client closes after the answer.
  if (!has('connection')) set('Connection', body && !Buffer.isBuffer(body) ? 'keep-alive' : 'close');
  const upgrade = (given.get('connection') ?? []).some(([, v]) => /(^|,)\s*upgrade\s*(,|$)/i.test(v));
  let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
  for (const fields of given.values()) for (const [name, value] of fields) head += `${name}: ${value}\r\n`;
  return { head: `${head}\r\n`, body, chunked, upgrade };
}

/** Copies a streamed request body to the socket, as pipe() would, with chunked framing when asked. */
function pumpBody(socket: Socket, body: Readable, chunked: boolean, fail: (err: Error) => void): void {
  const onData = (chunk: Buffer | string): void => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!buf.length) return; // an empty chunk would end a chunked body
    let ok: boolean;
    if (chunked) {
      socket.cork();
      socket.write(`${buf.length.toString(16)}\r\n`);
      socket.write(buf);
      ok = socket.write('\r\n');
      socket.uncork();
    } else ok = socket.write(buf);
    if (!ok) body.pause();
  };
  const onDrain = (): void => void body.resume();
  const onEnd = (): void => {
    stop();
    if (chunked && !socket.destroyed) socket.write('0\r\n\r\n');
  };
  const onError = (err: Error): void => {
    stop();
    fail(err);
  };
  const stop = (): void => {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    socket.off('drain', onDrain);
    socket.off('close', onClose);
  };
  // The answer came (or the connection died) before the body was all sent: leave the rest unread.
  const onClose = (): void => {
    stop();
    body.pause();
  };
  body.on('data', onData);
  body.once('end', onEnd);
  body.once('error', onError);
  socket.on('drain', onDrain);
  socket.once('close', onClose);
}

type State = 'head' | 'length' | 'close' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'done';

/**
 * Sends one request and resolves with the answer as soon as its header block is in, whatever
 * the status. Interim 1xx answers are skipped; a 101 (only for a request with `Connection:
 * Upgrade`) hands the connection over: bytes after the header block go back into the socket.
 * Rejects only before the answer (connect errors keep their code); later errors become errors
 * of the response stream.
 */
export function request(addr: DaemonAddress, req: HttpRequest): Promise<HttpResponse> {
  let framing: Framing;
  try {
    framing = frame(addr, req);
  } catch (err) {
    return Promise.reject(err);
  }
  return open(addr).then((socket) => new Promise<HttpResponse>((resolve, reject) => exchange(socket, addr, req.method, framing, resolve, reject)));
}

const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'EHOSTUNREACH', 'ECONNRESET']);

function exchange(
  socket: Socket,
  addr: DaemonAddress,
  method: string,
  framing: Framing,
  resolve: (res: HttpResponse) => void,
  reject: (err: Error) => void,
): void {
  let state: State = 'head';
  let pending = EMPTY;
  let remaining = 0;
  let res: HttpResponse | undefined;

  const detach = (): void => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    socket.off('error', onSocketError);
  };
  // Done with the connection (body complete, or it failed): a late error on it must not go unheard.
  const release = (): void => {
    state = 'done';
    detach();
    socket.on('error', () => undefined);
    socket.destroy();
  };
  function fail(err: Error): void {
    if (state === 'done') return;
    release();
    if (res) res.destroy(err);
    else reject(err);
  }
  const complete = (): void => {
    release();
    res!.push(null);
  };
  const deliver = (data: Buffer): void => {
    if (data.length && !res!.push(data)) socket.pause();
  };
  const onRead = (): void => {
    if (state !== 'done' && socket.isPaused()) socket.resume();
  };
  const onDestroy = (): void => {
    if (state !== 'done') release();
  };

  // How the body is delimited (RFC 9112 section 6.3).
  const startBody = (head: ResponseHead): void => {
    const { statusCode, headers } = head;
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    let next: State;
    if (method === 'HEAD' || statusCode === 204 || statusCode === 304) next = 'done';
    else if (te !== undefined) next = /(^|,)\s*chunked\s*$/i.test(te) ? 'chunk-size' : 'close';
    else if (cl !== undefined) {
      const values = new Set(cl.split(',').map((v) => v.trim()));
      const [only] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(only!)) throw new HttpProtocolError(`bad Content-Length ${JSON.stringify(cl)}`);
      remaining = Number(only);
      next = remaining ? 'length' : 'done';
    } else next = 'close';
    res = new HttpResponse(socket, head, onRead, onDestroy);
    state = next;
    resolve(res);
    if (state === 'done') complete();
  };

  const upgraded = (head: ResponseHead, rest: Buffer): void => {
    state = 'done';
    detach();
    // As node's own client does on an upgrade: neither flowing nor paused, so whoever reads the
    // socket next (a 'data' listener, pipe, for await) starts it, the unread bytes first.
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    if (rest.length) socket.unshift(rest);
    res = new HttpResponse(socket, head, () => undefined, () => undefined);
    res.push(null);
    resolve(res);
  };

  const line = (buf: Buffer, at: number, what: string): number => {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0 && buf.length - at > MAX_LINE) throw new HttpProtocolError(`${what} longer than ${MAX_LINE} bytes`);
    return eol;
  };

  const parse = (chunk: Buffer): void => {
    const buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    pending = EMPTY;
    let at = 0;
    const wait = (): void => {
      pending = buf.subarray(at);
      at = buf.length;
    };
    while (at < buf.length && state !== 'done') {
      switch (state) {
        case 'head': {
          const end = buf.indexOf('\r\n\r\n', at);
          if (end < 0) {
            if (buf.length - at > MAX_HEAD) throw new HttpProtocolError(`header block longer than ${MAX_HEAD} bytes`);
            wait();
            break;
          }
          const head = parseHead(buf.toString('latin1', at, end));
          at = end + 4;
          if (head.statusCode === 101) {
            if (!framing.upgrade) throw new HttpProtocolError('101 Switching Protocols to a request that asked for no upgrade');
            upgraded(head, buf.subarray(at));
            return;
          }
          // 100 Continue and other interim answers: the real one follows.
          if (head.statusCode >= 200) startBody(head);
          break;
        }
        case 'length':
        case 'chunk-data': {
          const n = Math.min(remaining, buf.length - at);
          deliver(buf.subarray(at, at + n));
          at += n;
          remaining -= n;
          if (remaining === 0) {
            if (state === 'length') complete();
            else state = 'chunk-end';
          }
          break;
        }
        case 'close':
          deliver(buf.subarray(at));
          at = buf.length;
          break;
        case 'chunk-size': {
          const eol = line(buf, at, 'chunk size line');
          if (eol < 0) {
            wait();
            break;
          }
          const text = buf.toString('latin1', at, eol);
          // Chunk extensions (";name=value") carry nothing the API uses.
          const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(text);
          if (!size) throw new HttpProtocolError(`bad chunk size line ${JSON.stringify(text.slice(0, 80))}`);
          at = eol + 2;
          remaining = parseInt(size[1]!, 16);
          state = remaining ? 'chunk-data' : 'trailers';
          break;
        }
        case 'chunk-end':
          if (buf.length - at < 2) {
            wait();
            break;
          }
          if (buf[at] !== 0x0d || buf[at + 1] !== 0x0a) throw new HttpProtocolError('chunk data not followed by CRLF');
          at += 2;
          state = 'chunk-size';
          break;
        case 'trailers': {
          const eol = line(buf, at, 'trailer line');
          if (eol < 0) {
            wait();
            break;
          }
          const text = buf.toString('latin1', at, eol);
          at = eol + 2;
          if (text) headerField(text, res!.trailers);
          else complete();
          break;
        }
      }
    }
  };

  function onData(chunk: Buffer): void {
    try {
      parse(chunk);
    } catch (err) {
      fail(err as Error);
    }
  }
  function onEnd(): void {
    if (state === 'close') complete();
    else if (state === 'head') fail(pending.length ? new HttpProtocolError('the connection closed inside the header block') : new DaemonUnreachableError(addr.url, { cause: hangUp('socket hang up') }));
    else fail(hangUp('the connection closed before the response body was complete'));
  }
  // Before an answer, a connection that could not be made or was cut is the daemon being away.
  function onSocketError(err: NodeJS.ErrnoException): void {
    fail(!res && err.code && UNREACHABLE.has(err.code) ? new DaemonUnreachableError(addr.url, { cause: err }) : err);
  }

  socket.on('data', onData);
  socket.on('end', onEnd);
  // 'close' without 'end': the socket was destroyed under us (an error, if any, came first).
  socket.on('close', onEnd);
  socket.on('error', onSocketError);
  socket.cork();
  socket.write(framing.head, 'latin1');
  if (Buffer.isBuffer(framing.body)) socket.write(framing.body);
  socket.uncork();
  if (framing.body && !Buffer.isBuffer(framing.body)) pumpBody(socket, framing.body, framing.chunked, fail);
}
