/**
 * A client for SOCK_SEQPACKET unix sockets (conmon's attach socket), backed by the small native
 * addon in native/seqpacket.c (node's net module cannot open this socket type). Each packet
 * arrives whole, in order; sends are queued and retried while the socket buffer is full.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemError } from '../util/errors.js';

interface Addon {
  open(path: string, onPacket: (packet: Buffer) => void, onEnd: (errno: number) => void): object;
  send(handle: object, data: Buffer): number;
  shutdownWrite(handle: object): void;
  close(handle: object): void;
}

const EAGAIN = 11;
/** sizeof(sockaddr_un.sun_path), including the terminating NUL. */
const SUN_PATH_MAX = 108;
/** Largest packet sent at once: conmon reads stdin packets into a buffer of this order. */
const SEND_CHUNK = 4096;
const RETRY_MS = 5;

let addon: Addon | undefined;

/**
 * The addon sits at DIST/native/seqpacket.node; this module runs either from the bundle
 * (DIST/berthd.mjs) or from tsc's output (DIST/src/sys/seqpacket.js), so look upwards.
 */
function loadAddon(): Addon {
  if (addon) return addon;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'native', 'seqpacket.node');
    if (existsSync(candidate)) {
      addon = createRequire(import.meta.url)(candidate) as Addon;
      return addon;
    }
    dir = dirname(dir);
  }
  throw systemError('native/seqpacket.node is missing: rebuild with scripts/build.mjs (needs a C compiler)');
}

export interface SeqpacketHandlers {
  onPacket(packet: Buffer): void;
  /** The peer closed (errno 0) or the socket failed. Called at most once. */
  onEnd(errno: number): void;
}

export class SeqpacketSocket {
  private handle: object | undefined;
  private readonly queue: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private shutdownPending = false;
  private ended = false;
  private readonly drainWaiters: Array<() => void> = [];

  private constructor(private readonly lib: Addon) {}

  /** Connects; throws a BerthError-free Error with code ENOENT/ECONNREFUSED when nobody listens. */
  static connect(path: string, handlers: SeqpacketHandlers): SeqpacketSocket {
    const lib = loadAddon();
    const socket = new SeqpacketSocket(lib);
    const open = (target: string): object =>
      lib.open(target, handlers.onPacket, (errno) => {
        if (socket.ended) return;
        socket.ended = true;
        handlers.onEnd(errno);
      });
    if (Buffer.byteLength(path) < SUN_PATH_MAX) {
      socket.handle = open(path);
      return socket;
    }
    // sun_path holds 108 bytes; a deep exec-root makes conmon's attach socket path longer.
    // conmon binds it through its directory's /proc/self/fd entry; connect the same way.
    const dirFd = openSync(dirname(path), 'r');
    try {
      socket.handle = open(`/proc/self/fd/${dirFd}/${basename(path)}`);
    } finally {
      closeSync(dirFd);
    }
    return socket;
  }

  get closed(): boolean {
    return this.handle === undefined;
  }

  /** Queues data; packets are cut to SEND_CHUNK so none is truncated by the reader. */
  write(data: Buffer): void {
    if (!this.handle || this.shutdownPending) return;
    for (let off = 0; off < data.length; off += SEND_CHUNK) this.queue.push(data.subarray(off, off + SEND_CHUNK));
    this.flush();
  }

  /** Resolves when everything queued so far has been handed to the kernel. */
  drained(): Promise<void> {
    if (this.queue.length === 0 || !this.handle) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Half-close after the queue drains: conmon reads EOF and closes the container's stdin. */
  shutdownWrite(): void {
    this.shutdownPending = true;
    this.flush();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.handle) this.lib.close(this.handle);
    this.handle = undefined;
    this.queue.length = 0;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private flush(): void {
    if (!this.handle || this.timer) return;
    while (this.queue.length) {
      const n = this.lib.send(this.handle, this.queue[0]!);
      if (n === -EAGAIN) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.flush();
        }, RETRY_MS);
        return;
      }
      // Any other error: the peer is gone; onEnd reports it, the rest of the input is moot.
      this.queue.shift();
      if (n < 0) this.queue.length = 0;
    }
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.shutdownPending) this.lib.shutdownWrite(this.handle);
  }
}
