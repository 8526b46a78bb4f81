/**
 * Helpers for hijacked endpoints (attach, exec start): errors still go out as plain HTTP
 * answers before the upgrade, the JSON body of an upgraded request is read off the raw socket,
 * and the 101 (or 200 for clients that did not ask to upgrade) answer is docker's.
 */
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { statusOf } from './errors.js';
import { errorMessage, invalidParameter } from '../util/errors.js';
import type { HijackContext } from './router.js';
import { readBody } from './io.js';

const MAX_BODY = 1024 * 1024;

/** Answers an error as dockerd would before hijacking: status, JSON {message}, close. */
export function hijackError(socket: Duplex, err: unknown): void {
  const status = statusOf(err);
  const body = JSON.stringify({ message: errorMessage(err) });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function answerHijack(socket: Duplex, upgrade: boolean, tty: boolean): void {
  const contentType = tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
  socket.write(
    upgrade
      ? `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`
      : `HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n\r\n`,
  );
}

/**
 * The JSON body of a hijacked request. On an upgrade, node hands over the socket right after
 * the headers, so the body is the first Content-Length bytes of `head` and the socket; bytes
 * beyond it are the client's first stdin and are put back for the stream to read.
 */
export async function readHijackJson(ctx: HijackContext): Promise<Record<string, unknown>> {
  let raw: Buffer;
  if (!ctx.upgrade) {
    raw = await readBody(ctx.req, MAX_BODY);
  } else {
    const length = Number(ctx.req.headers['content-length'] ?? 0);
    if (!Number.isInteger(length) || length < 0 || length > MAX_BODY) throw invalidParameter('invalid Content-Length');
    raw = await takeBytes(ctx.socket, ctx.head, length);
  }
  const text = raw.toString('utf8').trim();
  if (!text) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalidParameter(`invalid JSON: ${(err as Error).message}`);
  }
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidParameter('invalid JSON: expected an object');
  return value as Record<string, unknown>;
}

function takeBytes(socket: Duplex, head: Buffer, length: number): Promise<Buffer> {
  if (head.length >= length) {
    if (head.length > length) socket.unshift(head.subarray(length));
    return Promise.resolve(head.subarray(0, length));
  }
  return new Promise((resolve, reject) => {
    const chunks = [head];
    let have = head.length;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have < length) return;
      cleanup();
      const all = Buffer.concat(chunks);
      socket.pause();
      if (all.length > length) socket.unshift(all.subarray(length));
      resolve(all.subarray(0, length));
    };
    const onEnd = (): void => {
      cleanup();
      reject(invalidParameter('request body ended early'));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('end', onEnd);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}
