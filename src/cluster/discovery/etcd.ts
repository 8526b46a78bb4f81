/**
 * Discovery on etcd v3. The key layout follows classic swarm's, under the URL's prefix:
 *
 *   /PREFIX/docker/swarm/nodes/ADDR   NodeEntry as JSON, attached to the agent's lease
 *   /PREFIX/docker/swarm/names/NAME   ADDR of the node holding NAME, on the same lease
 *   /PREFIX/docker/swarm/leader/...   manager election (see ../election.ts)
 *
 * An agent's lease has the TTL it chose; it renews it at a third of the TTL while its engine
 * answers. When the agent stops renewing (engine down, agent dead, host gone) etcd deletes
 * both keys after the TTL, which is how a dead node leaves the cluster. The names/ key makes
 * "one live node per name" a compare-and-swap instead of a racy read.
 */
import type { Lease } from 'etcd3';
import { EtcdLeaseInvalidError } from 'etcd3';
import { conflict, errorMessage, invalidParameter } from '../../util/errors.js';
import type { Discovery, NodeEntry, Registration } from '../types.js';
import { Backoff, CoalescedRetry, type BackoffOptions } from '../backoff.js';
import { connectEtcd, withTimeout, type EtcdConnection } from './etcd-client.js';
import { checkAddr } from './url.js';

export interface EtcdDiscoveryOptions {
  callTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Failures of background work (lease renewal, re-registration); the work keeps retrying. */
  onError?: (err: Error) => void;
}

export function swarmKeys(prefix: string): { root: string; nodes: string; names: string; leader: string } {
  const root = `/${prefix.replace(/^\/+|\/+$/g, '')}/docker/swarm/`;
  return { root, nodes: `${root}nodes/`, names: `${root}names/`, leader: `${root}leader/` };
}

export class EtcdDiscovery implements Discovery {
  readonly conn: EtcdConnection;
  readonly keys: ReturnType<typeof swarmKeys>;
  private readonly registrations = new Set<EtcdRegistration>();
  private readonly stops = new Set<() => void>();

  constructor(
    endpoints: string[],
    readonly prefix: string,
    private readonly options: EtcdDiscoveryOptions = {},
  ) {
    this.conn = connectEtcd(endpoints, options);
    this.keys = swarmKeys(prefix);
  }

  async list(): Promise<NodeEntry[]> {
    let values: Record<string, string>;
    try {
      values = await this.conn.client.getAll().prefix(this.keys.nodes).strings();
    } catch (err) {
      throw this.conn.describe(err, 'listing nodes');
    }
    const entries: NodeEntry[] = [];
    for (const [key, value] of Object.entries(values)) {
      const entry = parseEntry(key.slice(this.keys.nodes.length), value);
      if (entry) entries.push(entry);
      else this.options.onError?.(new Error(`discovery: ignoring malformed entry at ${key}`));
    }
    return entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  }

  watch(onChange: (nodes: NodeEntry[]) => void, onError?: (err: Error) => void): () => void {
    const abort = new AbortController();
    const current = new Map<string, NodeEntry>();
    let synced = false;
    let last: string | undefined;
    const report = (err: unknown): void => onError?.(this.conn.describe(err, 'watching nodes'));
    const emit = (): void => {
      if (abort.signal.aborted) return;
      const nodes = [...current.values()].sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
      const text = JSON.stringify(nodes);
      if (text === last) return;
      last = text;
      onChange(nodes);
    };
    // A full re-list, one at a time: at the start and whenever the watch (re)connects, which
    // covers anything missed while it was away. Events that arrive during a re-list cause one
    // more, so the delivered set is never older than the last event.
    const resync = new CoalescedRetry(
      async () => {
        const nodes = await this.list();
        current.clear();
        for (const n of nodes) current.set(n.addr, n);
        synced = true;
        emit();
      },
      report,
      abort.signal,
      this.options.backoff,
    );
    // Between re-lists, each event updates the set directly (a heartbeat costs no range read).
    const applyEvent = (key: string, value: string | undefined): void => {
      if (resync.busy || !synced) {
        resync.markDirty();
        return;
      }
      const addr = key.slice(this.keys.nodes.length);
      const entry = value === undefined ? undefined : parseEntry(addr, value);
      if (entry) current.set(addr, entry);
      else current.delete(addr);
      emit();
    };
    // The watcher reconnects by itself, with the client's capped back-off, and says 'connected'.
    const watcher = this.conn.client.watch().prefix(this.keys.nodes).watcher();
    watcher.on('connected', () => void resync.trigger());
    watcher.on('put', (kv) => applyEvent(kv.key.toString('utf8'), kv.value.toString('utf8')));
    watcher.on('delete', (kv) => applyEvent(kv.key.toString('utf8'), undefined));
    watcher.on('disconnected', (err) => report(err));
    watcher.on('error', (err) => report(err));
    void resync.trigger();
    const stop = (): void => {
      if (abort.signal.aborted) return;
      abort.abort();
      this.stops.delete(stop);
      void watcher.cancel().catch(() => undefined);
    };
    this.stops.add(stop);
    return stop;
  }

  async register(entry: NodeEntry, ttlSeconds: number): Promise<Registration> {
    checkAddr(entry.addr, (p) => `cannot register: ${p}`);
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw invalidParameter(`cannot register ${entry.addr}: TTL must be a whole number of seconds >= 1, got ${ttlSeconds}`);
    const registration = new EtcdRegistration(this, entry, ttlSeconds, this.options, () => this.registrations.delete(registration));
    await registration.establish();
    this.registrations.add(registration);
    return registration;
  }

  async close(): Promise<void> {
    for (const stop of [...this.stops]) stop();
    await Promise.allSettled([...this.registrations].map((r) => r.stop()));
    this.conn.client.close();
  }
}

function parseEntry(addr: string, value: string): NodeEntry | undefined {
  try {
    const parsed = JSON.parse(value) as NodeEntry;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    // The key is the authority on the address: a value cannot move a node elsewhere.
    return { ...parsed, addr };
  } catch {
    return undefined;
  }
}

/**
 * One agent's entry under one lease. Renewal is driven here rather than by etcd3's automatic
 * keep-alive so that suspend() can let the lease lapse on purpose and a lost lease (etcd was
 * down longer than the TTL) is replaced by a fresh one instead of being given up.
 */
export class EtcdRegistration implements Registration {
  private lease: Lease | undefined;
  private timer: NodeJS.Timeout | undefined;
  private suspended = false;
  private stopped = false;
  private busy: Promise<void> = Promise.resolve();
  private readonly backoff: Backoff;
  private retryAt = 0;
  private claimedName: string | undefined;

  constructor(
    private readonly discovery: EtcdDiscovery,
    private entry: NodeEntry,
    private readonly ttlSeconds: number,
    private readonly options: EtcdDiscoveryOptions,
    private readonly onStopped: () => void,
  ) {
    this.backoff = new Backoff(options.backoff);
  }

  private get conn(): EtcdConnection {
    return this.discovery.conn;
  }

  /** Grants a lease and writes the entry; throws (and holds nothing) if the name is taken. */
  async establish(): Promise<void> {
    await this.serial(() => this.writeUnderFreshLease());
    this.schedule();
  }

  update(entry: NodeEntry): Promise<void> {
    if (entry.addr !== this.entry.addr) throw invalidParameter(`cannot update registration of ${this.entry.addr} with an entry for ${entry.addr}`);
    this.entry = entry;
    this.suspended = false;
    return this.serial(async () => {
      if (this.stopped) return;
      const lease = this.lease;
      if (lease && !lease.revoked()) {
        try {
          await this.renew(lease);
          await this.claim(lease);
          return;
        } catch (err) {
          if (!(err instanceof EtcdLeaseInvalidError)) throw this.conn.describe(err, `updating ${entry.addr}`);
        }
      }
      await this.writeUnderFreshLease();
    });
  }

  suspend(): void {
    this.suspended = true;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.onStopped();
    await this.busy.catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    // Revoking deletes both keys at once; if etcd is unreachable they expire after the TTL.
    if (lease) await withTimeout(lease.revoke(), this.conn.callTimeoutMs, 'revoking lease').catch(() => lease.release());
  }

  /** Runs one etcd conversation at a time, so a renewal never races an update. */
  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.busy.catch(() => undefined).then(work);
    this.busy = next;
    return next;
  }

  private schedule(): void {
    if (this.stopped) return;
    const interval = Math.max(300, (this.ttlSeconds * 1000) / 3);
    this.timer = setTimeout(() => void this.tick().finally(() => this.schedule()), interval);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.suspended || Date.now() < this.retryAt) return;
    await this.serial(async () => {
      if (this.stopped || this.suspended) return;
      try {
        const lease = this.lease;
        if (lease && !lease.revoked()) {
          try {
            await this.renew(lease);
          } catch (err) {
            if (!(err instanceof EtcdLeaseInvalidError)) throw err;
            // etcd was away longer than the TTL, or someone revoked us: start over.
            await this.writeUnderFreshLease();
          }
        } else {
          await this.writeUnderFreshLease();
        }
        this.backoff.reset();
        this.retryAt = 0;
      } catch (err) {
        this.retryAt = Date.now() + this.backoff.next();
        this.options.onError?.(this.conn.describe(err, `renewing the registration of ${this.entry.addr}`));
      }
    }).catch(() => undefined);
  }

  private async renew(lease: Lease): Promise<void> {
    await withTimeout(lease.keepaliveOnce(), this.conn.callTimeoutMs, 'lease keep-alive');
  }

  private async writeUnderFreshLease(): Promise<void> {
    const old = this.lease;
    this.lease = undefined;
    old?.release();
    const lease = this.conn.client.lease(this.ttlSeconds, { autoKeepAlive: false });
    // A failed grant is also emitted as 'lost'; the rejection below is what we act on.
    lease.on('lost', () => undefined);
    try {
      await lease.grant();
      await this.claim(lease);
    } catch (err) {
      lease.release();
      // Drop a half-made lease quietly: it holds nothing or will expire.
      void lease.revoke().catch(() => undefined);
      throw this.conn.describe(err, `registering ${this.entry.addr}`);
    }
    this.lease = lease;
  }

  /**
   * Writes the node key and its name key under `lease`, if the name is free or already ours:
   * a compare-and-swap on the name key's modification revision, retried if it moved under us.
   */
  private async claim(lease: Lease): Promise<void> {
    const { client } = this.conn;
    const keys = this.discovery.keys;
    const id = await lease.grant();
    const value = JSON.stringify(this.entry);
    const nodeKey = keys.nodes + this.entry.addr;
    const name = this.entry.name;
    if (!name) {
      await client.put(nodeKey).value(value).lease(id);
      await this.releaseOldName(undefined);
      return;
    }
    if (name.includes('/')) throw invalidParameter(`cannot register ${this.entry.addr}: node name "${name}" contains "/"`);
    const nameKey = keys.names + name;
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await client.get(nameKey).exec();
      const held = current.kvs[0];
      const holder = held?.value.toString('utf8');
      if (held && holder !== this.entry.addr) {
        throw conflict(
          `node name "${name}" is already registered by ${holder}, a live node: each engine in a cluster needs its own name (set "name" or hostname differently)`,
        );
      }
      const result = await client
        .if(nameKey, 'Mod', '==', held ? held.mod_revision : 0)
        .then(client.put(nameKey).value(this.entry.addr).lease(id), client.put(nodeKey).value(value).lease(id))
        .commit();
      if (result.succeeded) {
        await this.releaseOldName(name);
        return;
      }
    }
    throw conflict(`node name "${name}": registration kept racing with another writer; try again`);
  }

  /** A renamed engine would leave its old name key on our lease; free it for others. */
  private async releaseOldName(newName: string | undefined): Promise<void> {
    const old = this.claimedName;
    this.claimedName = newName;
    if (!old || old === newName) return;
    const { client } = this.conn;
    const key = this.discovery.keys.names + old;
    await client
      .if(key, 'Value', '==', this.entry.addr)
      .then(client.delete().key(key))
      .commit()
      .catch((err: unknown) => this.options.onError?.(new Error(`discovery: releasing old name ${old}: ${errorMessage(err)}`)));
  }
}
