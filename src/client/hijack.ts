/**
 * Hijacked requests (attach, exec start): an HTTP request with `Upgrade: tcp` that the daemon
 * answers with 101 and then turns into a raw two-way stream. Errors before the upgrade are
 * ordinary HTTP answers and become ClientErrors.
 */
import type { Socket } from 'node:net';
import type { DaemonAddress } from './host.js';
import { request, type HttpResponse } from './http1.js';
import { apiPath, errorOf, readAll, type RequestOptions } from './transport.js';

export interface HijackedStream {
  socket: Socket;
  /** What the daemon said the stream is: raw (TTY) or multiplexed frames. */
  contentType: string;
}

/**
 * Sends the upgrade request. Resolves with the 101 answer, whose `socket` is then the raw
 * stream (bytes that came with the answer put back in front), or with a 2xx answer that did
 * not upgrade, whose body is the output; non-2xx answers become ClientErrors.
 */
export async function upgradeRequest(addr: DaemonAddress, opts: RequestOptions): Promise<HttpResponse> {
  const body = typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : undefined;
  const headers = { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...opts.headers, Connection: 'Upgrade', Upgrade: 'tcp' };
  const res = await request(addr, { method: opts.method, path: apiPath(opts), headers, body });
  if (res.statusCode === 101 || (res.statusCode >= 200 && res.statusCode < 300)) return res;
  throw await errorOf(res);
}

export async function hijack(addr: DaemonAddress, opts: RequestOptions): Promise<HijackedStream> {
  const res = await upgradeRequest(addr, opts);
  const contentType = res.headers['content-type'] ?? '';
  // A daemon that answered without upgrading: nothing more will come (exec -d).
  if (res.statusCode !== 101) await readAll(res);
  return { socket: res.socket, contentType };
}
