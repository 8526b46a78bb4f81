/**
 * Services, tasks and node settings in etcd, as JSON under /PREFIX/swarm-mode/:
 *   services/ID   names/NAME -> ID   tasks/ID   nodes/ID
 * A record's Version.Index is its key's mod revision, so "update out of sequence" is an etcd
 * compare on that revision and every write is one transaction: two managers (an old primary
 * that has not noticed it lost the election, and the new one) can never both apply a change
 * made from the same reading.
 */
import type { Etcd3, Namespace } from 'etcd3';
import { BerthError, conflict, errorMessage, notFound } from '../../util/errors.js';
import type { NodeRecord, ServiceRecord, TaskRecord } from './types.js';

export interface Versioned<T> {
  rec: T;
  /** The key's mod revision: Version.Index on the wire. */
  rev: number;
}

export interface Snapshot {
  revision: number;
  services: Map<string, Versioned<ServiceRecord>>;
  tasks: Map<string, Versioned<TaskRecord>>;
  nodes: Map<string, Versioned<NodeRecord>>;
}

/** One transaction: writes applied only if every listed key still has the revision read (0: absent). */
export interface Change {
  expect: { key: string; rev: number }[];
  put: { key: string; value: unknown }[];
  del: string[];
}

export const keys = {
  service: (id: string) => `services/${id}`,
  name: (name: string) => `names/${name}`,
  task: (id: string) => `tasks/${id}`,
  node: (id: string) => `nodes/${id}`,
};

/** etcd calls that would hang while the store is down fail after this long instead. */
const CALL_TIMEOUT_MS = 5_000;

export class StoreUnavailableError extends BerthError {
  constructor(cause: unknown) {
    super('unavailable', `the cluster store (etcd) is unavailable: ${errorMessage(cause)}`, { cause });
  }
}

async function bounded<T>(what: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      what,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)), CALL_TIMEOUT_MS);
      }),
    ]);
  } catch (err) {
    throw err instanceof BerthError ? err : new StoreUnavailableError(err);
  } finally {
    clearTimeout(timer);
  }
}

export class ServiceStore {
  private readonly ns: Namespace;

  constructor(client: Etcd3 | Namespace, prefix: string) {
    // Beside discovery's /PREFIX/docker/swarm/ keys, never inside them.
    this.ns = client.namespace(`/${prefix.replace(/^\/+|\/+$/g, '')}/swarm-mode/`);
  }

  /** Everything at one revision: the reconciler's consistent reading. */
  async snapshot(): Promise<Snapshot> {
    const res = await bounded(this.ns.getAll().exec());
    const snap: Snapshot = { revision: Number(res.header.revision), services: new Map(), tasks: new Map(), nodes: new Map() };
    for (const kv of res.kvs) {
      const key = kv.key.toString('utf8');
      const slash = key.indexOf('/');
      const kind = key.slice(0, slash);
      const id = key.slice(slash + 1);
      const rev = Number(kv.mod_revision);
      if (kind === 'names' || slash < 0) continue;
      let rec: unknown;
      try {
        rec = JSON.parse(kv.value.toString('utf8'));
      } catch {
        continue; // a foreign or half-written value is not ours to interpret
      }
      if (kind === 'services') snap.services.set(id, { rec: rec as ServiceRecord, rev });
      else if (kind === 'tasks') snap.tasks.set(id, { rec: rec as TaskRecord, rev });
      else if (kind === 'nodes') snap.nodes.set(id, { rec: rec as NodeRecord, rev });
    }
    return snap;
  }

  private async getJson<T>(key: string): Promise<Versioned<T> | undefined> {
    const res = await bounded(this.ns.get(key).exec());
    const kv = res.kvs[0];
    if (!kv) return undefined;
    return { rec: JSON.parse(kv.value.toString('utf8')) as T, rev: Number(kv.mod_revision) };
  }

  /** This store's cluster ID, made on first use: task containers carry it. */
  async clusterId(make: () => string): Promise<string> {
    const fresh = make();
    const res = await bounded(this.ns.if('cluster', 'Create', '==', 0).then(this.ns.put('cluster').value(fresh)).else(this.ns.get('cluster')).commit());
    if (res.succeeded) return fresh;
    const kv = res.responses[0]?.response_range?.kvs[0];
    if (!kv) throw new StoreUnavailableError(new Error('cluster id vanished while being read'));
    return kv.value.toString('utf8');
  }

  async services(): Promise<Versioned<ServiceRecord>[]> {
    return [...(await this.snapshot()).services.values()];
  }

  /** By full ID, by name, or by an unambiguous ID prefix, as docker resolves service references. */
  async findService(ref: string): Promise<Versioned<ServiceRecord>> {
    const byId = await this.getJson<ServiceRecord>(keys.service(ref));
    if (byId) return byId;
    const name = await bounded(this.ns.get(keys.name(ref)).string());
    if (name) {
      const byName = await this.getJson<ServiceRecord>(keys.service(name));
      if (byName) return byName;
    }
    const all = await this.services();
    const matches = all.filter((s) => s.rec.ID.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new BerthError('invalidParameter', `service ${ref} is ambiguous (${matches.length} matches found)`);
    throw notFound(`service ${ref} not found`);
  }

  async createService(rec: ServiceRecord): Promise<number> {
    const res = await bounded(
      this.ns
        .if(keys.name(rec.Spec.Name), 'Create', '==', 0)
        .and(keys.service(rec.ID), 'Create', '==', 0)
        .then(this.ns.put(keys.name(rec.Spec.Name)).value(rec.ID), this.ns.put(keys.service(rec.ID)).value(JSON.stringify(rec)))
        .commit(),
    );
    if (!res.succeeded) throw conflict(`rpc error: code = AlreadyExists desc = service ${rec.Spec.Name} already exists`);
    return Number(res.header.revision);
  }

  /** Replaces a service if its revision is still `rev`; false when someone wrote in between. */
  async replaceService(rec: ServiceRecord, rev: number): Promise<boolean> {
    return this.commit({ expect: [{ key: keys.service(rec.ID), rev }], put: [{ key: keys.service(rec.ID), value: rec }], del: [] });
  }

  async deleteService(rec: ServiceRecord, rev: number): Promise<boolean> {
    return this.commit({ expect: [{ key: keys.service(rec.ID), rev }], put: [], del: [keys.service(rec.ID), keys.name(rec.Spec.Name)] });
  }

  async task(id: string): Promise<Versioned<TaskRecord> | undefined> {
    return this.getJson<TaskRecord>(keys.task(id));
  }

  async node(id: string): Promise<Versioned<NodeRecord> | undefined> {
    return this.getJson<NodeRecord>(keys.node(id));
  }

  async commit(change: Change): Promise<boolean> {
    return (await this.commitRevision(change)) > 0;
  }

  /** Like commit, returning the revision the writes landed at (0 when a compare failed). */
  async commitRevision(change: Change): Promise<number> {
    if (!change.expect.length && !change.put.length && !change.del.length) return 1;
    const [first, ...rest] = change.expect.length ? change.expect : [{ key: 'version', rev: -1 }];
    // rev -1: no precondition (etcd needs at least one compare; every key's mod revision is > -1).
    let txn = this.ns.if(first!.key, 'Mod', first!.rev < 0 ? '>' : '==', first!.rev);
    for (const e of rest) txn = txn.and(e.key, 'Mod', e.rev < 0 ? '>' : '==', e.rev);
    const ops = [
      ...change.put.map((p) => this.ns.put(p.key).value(JSON.stringify(p.value))),
      ...change.del.map((k) => this.ns.delete().key(k)),
    ];
    const res = await bounded(txn.then(...ops).commit());
    return res.succeeded ? Number(res.header.revision) : 0;
  }
}
