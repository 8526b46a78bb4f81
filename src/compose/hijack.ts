/**
 * Hijacked exec: POST /exec/{id}/start with `Upgrade: tcp`, after which the connection carries
 * the process's output (multiplexed unless TTY) one way and its stdin the other. A daemon that
 * answers with a plain 200 instead of 101 still streams output on the response.
 */
import type { Duplex, Readable } from 'node:stream';
import { ClientError } from '../client/errors.js';
import { connectTarget, parseHost, type DaemonAddress } from '../client/host.js';
import { API_VERSION, requestFor } from '../client/transport.js';

export interface HijackedStream {
  output: Readable;
  /** Null when the daemon did not upgrade (no stdin possible). */
  input: Duplex | null;
}

export function startExec(host: string | DaemonAddress, execId: string, tty: boolean): Promise<HijackedStream> {
  const addr = typeof host === 'string' ? parseHost(host) : host;
  const body = JSON.stringify({ Detach: false, Tty: tty });
  return new Promise((resolve, reject) => {
    const req = requestFor(addr)({
      ...connectTarget(addr),
      method: 'POST',
      path: `/v${API_VERSION}/exec/${encodeURIComponent(execId)}/start`,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'Upgrade', Upgrade: 'tcp' },
    });
    req.on('error', reject);
    req.on('upgrade', (_res, socket, head) => {
      if (head.length) socket.unshift(head);
      resolve({ output: socket, input: socket });
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve({ output: res, input: null });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let msg = text;
        try {
          msg = (JSON.parse(text) as { message?: string }).message ?? text;
        } catch {
          // plain-text error body
        }
        reject(new ClientError(status, msg.trim() || `HTTP ${status}`));
      });
    });
    req.end(body);
  });
}
