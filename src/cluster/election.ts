/**
 * Manager high availability on etcd: each candidate writes /PREFIX/docker/swarm/leader/LEASE
 * (value: its advertised address) under a lease of its own; the key with the lowest create
 * revision is the primary. When the primary's process dies its lease stops being renewed, etcd
 * deletes its key after the TTL, and the next candidate in line sees that in its watch and
 * becomes primary: failover takes at most the TTL plus one watch round-trip. This is etcd's
 * own election recipe, written against the plain KV/lease API so retries stay in our hands.
 */
import type { Lease, Watcher } from 'etcd3';
import { BerthError, invalidParameter } from '../util/errors.js';
import type { Election } from './types.js';
import { Backoff, CoalescedRetry, delay, type BackoffOptions } from './backoff.js';
import { connectEtcd, type EtcdConnection } from './discovery/etcd-client.js';
import { swarmKeys } from './discovery/etcd.js';
import { parseDiscoveryUrl } from './discovery/url.js';

export const DEFAULT_ELECTION_TTL = 10;

export interface ElectionOptions {
  /** Lease TTL in whole seconds (default 10): the longest a dead primary keeps the role. */
  ttlSeconds?: number;
  callTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Background failures (etcd unreachable while campaigning or observing); work keeps retrying. */
  onError?: (err: Error) => void;
}

/** An Election that also owns an etcd connection, to be closed when the manager exits. */
export interface ClosableElection extends Election {
  close(): Promise<void>;
}

/**
 * The manager's factory: an election under the discovery URL's prefix. Only etcd:// can elect;
 * file:// and nodes:// have no shared store, so --replication with them is refused here.
 */
export function openElection(discoveryUrl: string, options: ElectionOptions = {}): ClosableElection {
  const parsed = parseDiscoveryUrl(discoveryUrl);
  if (parsed.kind !== 'etcd') throw invalidParameter(`replication needs an etcd:// discovery URL to elect a primary; ${parsed.kind}:// has no shared store`);
  checkTtl(options.ttlSeconds ?? DEFAULT_ELECTION_TTL);
  return new EtcdElection(connectEtcd(parsed.endpoints, options), swarmKeys(parsed.prefix).leader, options);
}

function checkTtl(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl < 1) throw invalidParameter(`election TTL must be a whole number of seconds >= 1, got ${ttl}`);
  return ttl;
}

interface Candidate {
  key: string;
  value: string;
}

export class EtcdElection implements ClosableElection {
  private readonly ttl: number;
  private advertise: string | undefined;
  private lease: Lease | undefined;
  private leaseLost = false;
  private myKey: string | undefined;
  private running = false;
  private resigned = false;
  private closed = false;
  private isLeader = false;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  private watcher: Watcher | undefined;
  private wake: (() => void) | undefined;
  private abort = new AbortController();
  private readonly observers = new Set<() => void>();

  constructor(
    private readonly conn: EtcdConnection,
    private readonly prefix: string,
    private readonly options: ElectionOptions = {},
  ) {
    this.ttl = checkTtl(options.ttlSeconds ?? DEFAULT_ELECTION_TTL);
  }

  /**
   * Resolves when this candidate is primary. Keeps trying through etcd outages (reported to
   * onError); rejects only if resign() or close() is called first. If the primary later loses
   * its lease (etcd unreachable longer than the TTL), it is a candidate again in the background:
   * observe() shows the new primary, and campaign() may be awaited again.
   */
  campaign(advertise: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('election closed'));
    if (this.advertise !== undefined && this.advertise !== advertise && this.running) {
      return Promise.reject(invalidParameter(`already campaigning as ${this.advertise}`));
    }
    this.advertise = advertise;
    this.resigned = false;
    if (this.isLeader) return Promise.resolve();
    const elected = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.running) void this.candidacy();
    return elected;
  }

  async leader(): Promise<string | undefined> {
    try {
      return (await this.first())?.value;
    } catch (err) {
      throw this.conn.describe(err, 'reading the primary manager');
    }
  }

  observe(onChange: (leader: string | undefined) => void): () => void {
    const abort = new AbortController();
    let last: string | undefined | null = null;
    const checker = new CoalescedRetry(
      async () => {
        const current = (await this.first())?.value;
        if (current !== last && !abort.signal.aborted) {
          last = current;
          onChange(current);
        }
      },
      (err) => this.options.onError?.(this.conn.describe(err, 'observing the primary manager')),
      abort.signal,
      this.options.backoff,
    );
    const check = (): Promise<void> => checker.trigger();
    const watcher = this.conn.client.watch().prefix(this.prefix).watcher();
    watcher.on('connected', () => void check());
    watcher.on('put', () => void check());
    watcher.on('delete', () => void check());
    watcher.on('disconnected', (err) => this.options.onError?.(this.conn.describe(err, 'observing the primary manager')));
    watcher.on('error', (err) => this.options.onError?.(this.conn.describe(err, 'observing the primary manager')));
    void check();
    const stop = (): void => {
      if (abort.signal.aborted) return;
      abort.abort();
      this.observers.delete(stop);
      void watcher.cancel().catch(() => undefined);
    };
    this.observers.add(stop);
    return stop;
  }

  /** Leaves the election: the lease is revoked, so a backup takes over at once rather than after the TTL. */
  async resign(): Promise<void> {
    this.resigned = true;
    this.isLeader = false;
    this.rejectWaiters(new BerthError('conflict', 'campaign cancelled: this candidate resigned'));
    this.abort.abort();
    this.abort = new AbortController();
    this.wake?.();
    const lease = this.lease;
    this.lease = undefined;
    this.myKey = undefined;
    if (lease) {
      try {
        await lease.revoke();
      } catch (err) {
        lease.release();
        throw this.conn.describe(err, 'resigning (the lease will expire after its TTL)');
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.resign().catch(() => undefined);
    this.closed = true;
    for (const stop of [...this.observers]) stop();
    this.conn.client.close();
  }

  /** The oldest candidate key, i.e. the primary. */
  private async first(): Promise<Candidate | undefined> {
    const res = await this.conn.client.getAll().prefix(this.prefix).sort('Create', 'Ascend').limit(1).exec();
    const kv = res.kvs[0];
    return kv ? { key: kv.key.toString('utf8'), value: kv.value.toString('utf8') } : undefined;
  }

  /** The background loop: hold a candidate key, and re-check who is first whenever the prefix changes. */
  private async candidacy(): Promise<void> {
    this.running = true;
    const signal = this.abort.signal;
    const backoff = new Backoff(this.options.backoff);
    this.watchPrefix();
    try {
      while (!this.resigned && !signal.aborted) {
        const changed = new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        try {
          if (!this.lease || this.leaseLost) await this.enter();
          const first = await this.first();
          const leading = first !== undefined && first.key === this.myKey;
          this.isLeader = leading;
          if (leading) this.resolveWaiters();
          backoff.reset();
          // Waits for a watch event, a lost lease, or a periodic re-check in case a watch
          // stream died without telling us.
          await Promise.race([changed, delay(this.ttl * 1000, signal)]);
        } catch (err) {
          this.isLeader = false;
          if (this.resigned || signal.aborted) break;
          this.options.onError?.(this.conn.describe(err, `campaigning as ${this.advertise}`));
          await delay(backoff.next(), signal);
        }
      }
    } finally {
      this.running = false;
      this.wake = undefined;
      const watcher = this.watcher;
      this.watcher = undefined;
      void watcher?.cancel().catch(() => undefined);
      // campaign() called again while this loop was winding down after a resign.
      if (this.waiters.length && !this.resigned && !this.closed) void this.candidacy();
    }
  }

  private watchPrefix(): void {
    const watcher = this.conn.client.watch().prefix(this.prefix).watcher();
    const poke = (): void => this.wake?.();
    watcher.on('connected', poke);
    watcher.on('put', poke);
    watcher.on('delete', poke);
    watcher.on('disconnected', () => undefined);
    watcher.on('error', () => undefined);
    this.watcher = watcher;
  }

  /** A fresh lease and candidate key; the old ones (if any) are gone or going. */
  private async enter(): Promise<void> {
    const old = this.lease;
    this.lease = undefined;
    this.myKey = undefined;
    old?.release();
    this.leaseLost = false;
    const lease = this.conn.client.lease(this.ttl);
    lease.on('lost', () => {
      if (this.lease !== lease) return;
      this.leaseLost = true;
      this.isLeader = false;
      this.wake?.();
    });
    try {
      const id = await lease.grant();
      const key = `${this.prefix}${BigInt(id).toString(16)}`;
      const { client } = this.conn;
      await client
        .if(key, 'Create', '==', 0)
        .then(client.put(key).value(this.advertise ?? '').lease(id))
        .commit();
      if (this.resigned) {
        await lease.revoke().catch(() => lease.release());
        return;
      }
      this.lease = lease;
      this.myKey = key;
    } catch (err) {
      lease.release();
      void lease.revoke().catch(() => undefined);
      throw err;
    }
  }

  private resolveWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
  }

  private rejectWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}
