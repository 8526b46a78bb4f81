/**
 * Static discovery for clusters without a store: `nodes://a:2375,b:2375` and `file:///path`.
 * The entries hold only addresses; names, labels and resources come from the engines
 * themselves (the manager reads each one's /info). Nothing can register here.
 */
import { readFile, stat } from 'node:fs/promises';
import { errorMessage, invalidParameter, isErrno, notImplemented } from '../../util/errors.js';
import type { Discovery, NodeEntry, Registration } from '../types.js';
import { parseNodesFile } from './url.js';

export interface StaticDiscoveryOptions {
  /** How often file:// checks its file for edits (ms, default 2000). */
  pollMs?: number;
}

function unsupported(url: string): never {
  throw notImplemented(`cannot register in ${url}: static discovery is a fixed list; edit it, or use etcd:// for agents that join`);
}

export class NodesDiscovery implements Discovery {
  constructor(
    private readonly url: string,
    private readonly addrs: string[],
  ) {}

  async list(): Promise<NodeEntry[]> {
    return this.addrs.map((addr) => ({ addr }));
  }

  watch(onChange: (nodes: NodeEntry[]) => void): () => void {
    let stopped = false;
    queueMicrotask(() => {
      if (!stopped) onChange(this.addrs.map((addr) => ({ addr })));
    });
    return () => {
      stopped = true;
    };
  }

  register(): Promise<Registration> {
    return Promise.resolve().then(() => unsupported(this.url));
  }

  async close(): Promise<void> {}
}

export class FileDiscovery implements Discovery {
  private readonly stops = new Set<() => void>();

  constructor(
    private readonly url: string,
    private readonly path: string,
    private readonly options: StaticDiscoveryOptions = {},
  ) {}

  async list(): Promise<NodeEntry[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw invalidParameter(`discovery file ${this.path} does not exist (from ${this.url})`);
      throw invalidParameter(`cannot read discovery file ${this.path}: ${errorMessage(err)}`);
    }
    return parseNodesFile(text, this.path).map((addr) => ({ addr }));
  }

  /** Re-reads the file when its size or mtime changes; a broken edit is reported and the last good set kept. */
  watch(onChange: (nodes: NodeEntry[]) => void, onError?: (err: Error) => void): () => void {
    let stopped = false;
    let lastStamp = '';
    let lastSet: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const check = async (): Promise<void> => {
      try {
        const st = await stat(this.path).catch(() => undefined);
        const stamp = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
        if (stamp === lastStamp) return;
        lastStamp = stamp;
        const nodes = await this.list();
        const text = JSON.stringify(nodes);
        if (!stopped && text !== lastSet) {
          lastSet = text;
          onChange(nodes);
        }
      } catch (err) {
        if (!stopped) onError?.(err instanceof Error ? err : new Error(String(err)));
      }
    };
    const loop = (): void => {
      void check().finally(() => {
        if (!stopped) timer = setTimeout(loop, this.options.pollMs ?? 2_000);
      });
    };
    loop();
    const stop = (): void => {
      stopped = true;
      clearTimeout(timer);
      this.stops.delete(stop);
    };
    this.stops.add(stop);
    return stop;
  }

  register(): Promise<Registration> {
    return Promise.resolve().then(() => unsupported(this.url));
  }

  async close(): Promise<void> {
    for (const stop of [...this.stops]) stop();
  }
}
