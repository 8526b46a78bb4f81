/**
 * Hijacked exec: POST /exec/{id}/start with `Upgrade: tcp`, after which the connection carries
 * the process's output (multiplexed unless TTY) one way and its stdin the other. A daemon that
 * answers with a plain 200 instead of 101 still streams output on the response.
 */
import type { Duplex, Readable } from 'node:stream';
import { upgradeRequest } from '../client/hijack.js';
import { parseHost, type DaemonAddress } from '../client/host.js';

export interface HijackedStream {
  output: Readable;
  /** Null when the daemon did not upgrade (no stdin possible). */
  input: Duplex | null;
}

export async function startExec(host: string | DaemonAddress, execId: string, tty: boolean): Promise<HijackedStream> {
  const addr = typeof host === 'string' ? parseHost(host) : host;
  const body = JSON.stringify({ Detach: false, Tty: tty });
  const res = await upgradeRequest(addr, { method: 'POST', path: `/exec/${encodeURIComponent(execId)}/start`, body });
  return res.statusCode === 101 ? { output: res.socket, input: res.socket } : { output: res, input: null };
}
