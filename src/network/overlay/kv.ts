/**
 * The cluster store as overlay networking uses it: a namespace of an etcd v3 cluster, with
 * create-if-absent transactions, one lease per node for what must vanish with the node, and a
 * prefix watch that resumes after an outage. Every call has a deadline so an unreachable store
 * is an error in seconds rather than a hung request; the client's own retry and circuit-breaker
 * policies are off because berth does its own back-off (and wants errors to surface at once).
 */
import { Etcd3, type IKeyValue, type Lease, type Namespace, type Watcher } from 'etcd3';
import { noop } from 'cockatiel';
import { BerthError, errorMessage } from '../../util/errors.js';
import type { ClusterStoreUrl } from './alloc.js';

const CALL_DEADLINE_MS = 4_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;

export interface KvEntry {
  key: string;
  value: string;
  modRevision: number;
}

export interface Snapshot {
  revision: number;
  entries: KvEntry[];
}

export type Condition = { key: string; absent: true } | { key: string; present: true } | { key: string; modRevision: number };
export type Operation = { put: string; value: string; leased?: boolean } | { delete: string } | { deletePrefix: string };

export interface WatchHandlers {
  /** Everything under the prefix, at the start and after every reconnect: the caller replaces its view. */
  reset(snapshot: Snapshot): void;
  put(entry: KvEntry): void;
  delete(key: string): void;
  /** Connection state, for logs and for failing fast. */
  status(connected: boolean, error?: string): void;
}

export function unreachable(url: ClusterStoreUrl, err: unknown): BerthError {
  return new BerthError('unavailable', `cluster store ${url.text} is unreachable: ${errorMessage(err)}`, { cause: err });
}

export class ClusterKv {
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private lease?: Lease;
  private leaseReady?: Promise<string>;
  private closed = false;
  private readonly stopWatches: Array<() => void> = [];
  /** Called after the node lease was lost and granted again: leased keys must be written again. */
  onLeaseRenewed?: () => void;

  constructor(
    readonly url: ClusterStoreUrl,
    private readonly leaseTtlSeconds: number,
    private readonly debug: (message: string) => void,
  ) {
    this.client = new Etcd3({
      hosts: url.endpoints,
      dialTimeout: CALL_DEADLINE_MS,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
      faultHandling: { global: noop, host: () => noop },
    });
    this.ns = this.client.namespace(`/${url.prefix}/`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unreachable(this.url, err);
    }
  }

  async get(key: string): Promise<string | undefined> {
    return this.call(async () => (await this.ns.get(key).string()) ?? undefined);
  }

  async list(prefix: string): Promise<Snapshot> {
    return this.call(async () => {
      const res = await this.ns.getAll().prefix(prefix).exec();
      return { revision: Number(res.header.revision), entries: res.kvs.map((kv) => this.entry(kv)) };
    });
  }

  private entry(kv: IKeyValue): KvEntry {
    // Range responses carry the namespace's prefix, watch events don't.
    const full = kv.key.toString();
    const prefix = `/${this.url.prefix}/`;
    return { key: full.startsWith(prefix) ? full.slice(prefix.length) : full, value: kv.value.toString(), modRevision: Number(kv.mod_revision) };
  }

  /** Applies `operations` if every condition holds; false when one doesn't. */
  async transaction(conditions: Condition[], operations: Operation[]): Promise<boolean> {
    const leaseId = operations.some((o) => 'put' in o && o.leased) ? await this.nodeLease() : undefined;
    return this.call(async () => {
      const [first, ...rest] = conditions;
      if (!first) throw new Error('a transaction needs a condition');
      const compare = (c: Condition): Parameters<Namespace['if']> =>
        'absent' in c ? [c.key, 'Create', '==', 0] : 'present' in c ? [c.key, 'Version', '>', 0] : [c.key, 'Mod', '==', c.modRevision];
      let txn = this.ns.if(...compare(first));
      for (const c of rest) txn = txn.and(...compare(c));
      const ops = operations.map((o) => {
        if ('put' in o) {
          const put = this.ns.put(o.put).value(o.value);
          return o.leased ? put.lease(leaseId!) : put;
        }
        if ('delete' in o) return this.ns.delete().key(o.delete);
        return this.ns.delete().prefix(o.deletePrefix);
      });
      const res = await txn.then(...ops).commit();
      return res.succeeded;
    });
  }

  async put(key: string, value: string, leased = false): Promise<void> {
    const leaseId = leased ? await this.nodeLease() : undefined;
    await this.call(async () => {
      const put = this.ns.put(key).value(value);
      await (leaseId ? put.lease(leaseId) : put);
    });
  }

  async delete(key: string): Promise<void> {
    await this.call(async () => {
      await this.ns.delete().key(key);
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await this.call(async () => {
      await this.ns.delete().prefix(prefix);
    });
  }

  /** The node's lease (granted on first use, kept alive by the client, re-granted when lost). */
  private nodeLease(): Promise<string> {
    if (!this.leaseReady) {
      const lease = this.client.lease(this.leaseTtlSeconds, { autoKeepAlive: true });
      this.lease = lease;
      const ready = lease.grant().catch((err: unknown) => {
        if (this.leaseReady === ready) this.leaseReady = undefined;
        throw unreachable(this.url, err);
      });
      this.leaseReady = ready;
      lease.on('lost', (err) => {
        this.debug(`cluster store: node lease lost (${errorMessage(err)}); granting a new one`);
        if (this.lease === lease) {
          this.lease = undefined;
          this.leaseReady = undefined;
        }
        if (!this.closed) this.onLeaseRenewed?.();
      });
    }
    return this.leaseReady;
  }

  /**
   * Watches a prefix for as long as the store lives: a full read, then events from the next
   * revision; on any failure it reads and watches again after a back-off (0.5 s doubling to 15 s).
   */
  watchPrefix(prefix: string, handlers: WatchHandlers): () => void {
    let stopped = false;
    let watcher: Watcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let delay = BACKOFF_MIN_MS;
    const retry = (err: unknown): void => {
      if (stopped || this.closed) return;
      handlers.status(false, errorMessage(err));
      const w = watcher;
      watcher = undefined;
      void w?.cancel().catch(() => undefined);
      clearTimeout(timer);
      timer = setTimeout(() => void attempt(), delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    };
    const attempt = async (): Promise<void> => {
      if (stopped || this.closed) return;
      try {
        const snapshot = await this.list(prefix);
        const w = await this.ns.watch().prefix(prefix).startRevision(String(snapshot.revision + 1)).create();
        if (stopped) {
          void w.cancel().catch(() => undefined);
          return;
        }
        watcher = w;
        handlers.reset(snapshot);
        handlers.status(true);
        delay = BACKOFF_MIN_MS;
        w.on('put', (kv) => handlers.put(this.entry(kv)));
        w.on('delete', (kv) => handlers.delete(this.entry(kv).key));
        // The client reconnects a watch by itself, but events missed while it was away are
        // only replayed if the revision wasn't compacted; a fresh read is always right.
        w.on('disconnected', (err) => retry(err));
        w.on('error', (err) => retry(err));
      } catch (err) {
        retry(err);
      }
    };
    void attempt();
    const stop = (): void => {
      stopped = true;
      clearTimeout(timer);
      void watcher?.cancel().catch(() => undefined);
    };
    this.stopWatches.push(stop);
    return stop;
  }

  /** Revokes the node lease (its keys vanish at once) and closes the connections. */
  async close(): Promise<void> {
    this.closed = true;
    for (const stop of this.stopWatches) stop();
    if (this.leaseReady && this.lease) {
      const lease = this.lease;
      await Promise.race([lease.revoke().catch((err) => this.debug(`revoke lease: ${errorMessage(err)}`)), new Promise((r) => setTimeout(r, 2_000))]);
    }
    this.client.close();
  }
}
