/**
 * The CLI side of an interactive session: the local terminal in raw mode (restored on every
 * way out), window-size changes forwarded as resizes, and the copy loop between our stdio and
 * a hijacked stream, watching for the detach keys as docker's CLI does.
 */
import type { Socket } from 'node:net';
import type { ReadStream } from 'node:tty';
import { Demuxer, StreamType } from '../client/stdcopy.js';
import { DetachScanner, parseDetachKeys } from '../util/detach-keys.js';
import type { CliContext } from './command.js';

function ttyIn(ctx: CliContext): ReadStream | undefined {
  const stdin = ctx.stdin as ReadStream;
  return stdin.isTTY === true && typeof stdin.setRawMode === 'function' ? stdin : undefined;
}

/** True when our stdin is a terminal (docker refuses -t with a non-terminal stdin when -i). */
export function stdinIsTerminal(ctx: CliContext): boolean {
  return ttyIn(ctx) !== undefined;
}

/** Raw mode on our terminal; the returned function (also run at process exit) restores it. */
export function enterRawMode(ctx: CliContext): () => void {
  const tty = ttyIn(ctx);
  if (!tty) return () => undefined;
  tty.setRawMode(true);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    try {
      tty.setRawMode(false);
    } catch {
      // the terminal is gone
    }
    process.off('exit', restore);
  };
  process.on('exit', restore);
  return restore;
}

/** Calls resize now and on every SIGWINCH while our stdout is a terminal. */
export function followWindowSize(ctx: CliContext, resize: (height: number, width: number) => Promise<void>): () => void {
  const out = ctx.stdout as NodeJS.WriteStream;
  if (!out.isTTY) return () => undefined;
  const send = (): void => {
    const [width, height] = [out.columns, out.rows];
    if (width > 0 && height > 0) resize(height, width).catch(() => undefined);
  };
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}

export interface PumpOptions {
  tty: boolean;
  /** Send our stdin to the stream. */
  stdin: boolean;
  /** Detach keys to watch for in our input (TTY sessions only, as docker). */
  detachKeys?: string;
}

/**
 * Copies until the stream ends. Our stdin's end half-closes the stream (the daemon then
 * closes the process's stdin). Resolves 'detached' when the user typed the detach keys.
 */
export function pumpStream(ctx: CliContext, socket: Socket, options: PumpOptions): Promise<'ended' | 'detached'> {
  return new Promise((resolve) => {
    let done = false;
    const stdin = ctx.stdin as NodeJS.ReadStream;
    const scanner = options.tty && options.stdin ? new DetachScanner(parseDetachKeys(options.detachKeys)) : undefined;
    const demux = options.tty
      ? undefined
      : new Demuxer((stream, payload) => {
          if (stream === StreamType.Stderr || stream === StreamType.SystemErr) ctx.stderr.write(Buffer.from(payload));
          else ctx.stdout.write(Buffer.from(payload));
        });
    const onInput = (chunk: Buffer): void => {
      let data = chunk;
      if (scanner) {
        const { forward, detached } = scanner.push(chunk);
        data = forward;
        if (detached) {
          if (data.length) socket.write(data);
          finish('detached');
          return;
        }
      }
      if (data.length) socket.write(data);
    };
    const onInputEnd = (): void => {
      if (!done) socket.end();
    };
    const finish = (how: 'ended' | 'detached'): void => {
      if (done) return;
      done = true;
      if (options.stdin) {
        stdin.off('data', onInput);
        stdin.off('end', onInputEnd);
        stdin.pause();
      }
      if (how === 'detached') socket.destroy();
      resolve(how);
    };
    socket.on('data', (chunk: Buffer) => {
      if (demux) demux.push(chunk);
      else ctx.stdout.write(chunk);
    });
    socket.on('end', () => finish('ended'));
    socket.on('close', () => finish('ended'));
    socket.on('error', () => finish('ended'));
    if (options.stdin) {
      stdin.on('data', onInput);
      stdin.on('end', onInputEnd);
      stdin.resume();
    }
  });
}
