/**
 * Hijacked requests (attach, exec start): an HTTP request with `Upgrade: tcp` that the daemon
 * answers with 101 and then turns into a raw two-way stream. Errors before the upgrade are
 * ordinary HTTP answers and become ClientErrors.
 */
import type { Socket } from 'node:net';
import { ClientError, DaemonUnreachableError } from './errors.js';
import { connectTarget, type DaemonAddress } from './host.js';
import { API_VERSION, encodeQuery, readAll, requestFor, type RequestOptions } from './transport.js';

export interface HijackedStream {
  socket: Socket;
  /** What the daemon said the stream is: raw (TTY) or multiplexed frames. */
  contentType: string;
}

export function hijack(addr: DaemonAddress, opts: RequestOptions): Promise<HijackedStream> {
  const path = `/v${API_VERSION}${opts.path}${encodeQuery(opts.query)}`;
  const body = typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : undefined;
  const headers: Record<string, string | number> = { Connection: 'Upgrade', Upgrade: 'tcp' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = requestFor(addr)({ ...connectTarget(addr), method: opts.method, path, headers });
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new DaemonUnreachableError(addr.url, { cause: err }) : err);
    });
    req.on('upgrade', (res, socket, head) => {
      if (head.length) socket.unshift(head);
      resolve({ socket, contentType: String(res.headers['content-type'] ?? '') });
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const socket = res.socket;
      void readAll(res).then((buf) => {
        if (status >= 200 && status < 300) {
          // A daemon that answered without upgrading: nothing more will come (exec -d).
          resolve({ socket, contentType: String(res.headers['content-type'] ?? '') });
          return;
        }
        let message = buf.toString('utf8').trim();
        try {
          const parsed = JSON.parse(message) as { message?: unknown };
          if (typeof parsed.message === 'string') message = parsed.message;
        } catch {
          // plain text answer
        }
        reject(new ClientError(status, message || `HTTP ${status}`));
      }, reject);
    });
    req.end(body);
  });
}
