/**
 * Service names on overlay networks: the primary writes, for each service attached to an
 * overlay network, the addresses of its running tasks under the name records the overlay
 * driver's embedded DNS serves on every node (`/PREFIX/network/v1/dns/<net>/<name>/<owner>`,
 * see src/network/overlay/service.ts registerName). Both `SERVICE` and `tasks.SERVICE` resolve
 * to the task addresses (DNS round robin); there is no virtual IP, so endpoint mode vip answers
 * the same way. It needs berthd's --cluster-store to be the manager's etcd and prefix.
 */
import type { Etcd3, Namespace } from 'etcd3';
import type { EngineClient } from '../../client/client.js';
import { errorMessage } from '../../util/errors.js';
import { networksOf } from './spec.js';
import type { ServiceRecord, TaskRecord } from './types.js';

const OWNER_PREFIX = 'svc-';

/** The name records a set of services should have: key (below network/v1/) -> addresses. */
export function wantedNames(
  services: ServiceRecord[],
  tasks: TaskRecord[],
  networkId: (name: string) => string | undefined,
  addressOf: (task: TaskRecord, network: string) => string | undefined,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of services) {
    const running = tasks.filter((t) => t.ServiceID === s.ID && t.DesiredState === 'running' && t.Status.State === 'running');
    for (const net of networksOf(s.Spec)) {
      const id = networkId(net);
      if (!id) continue;
      const addresses = [...new Set(running.map((t) => addressOf(t, net)).filter((a): a is string => !!a))].sort();
      for (const name of [s.Spec.Name.toLowerCase(), `tasks.${s.Spec.Name.toLowerCase()}`]) out.set(`dns/${id}/${name}/${OWNER_PREFIX}${s.ID}`, addresses);
    }
  }
  return out;
}

interface NetworkSettings {
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string; NetworkID?: string }> };
}

export class ServiceNames {
  private readonly ns: Namespace;
  /** Container ID -> network name/ID -> address; containers keep their addresses for life. */
  private readonly addresses = new Map<string, Record<string, string>>();
  private readonly networkIds = new Map<string, string>();
  private written = new Map<string, string>();
  private synced = false;

  constructor(
    client: Etcd3 | Namespace,
    prefix: string,
    private readonly engine: (nodeId: string) => EngineClient | undefined,
    private readonly log: (message: string) => void,
  ) {
    this.ns = client.namespace(`/${prefix.replace(/^\/+|\/+$/g, '')}/network/v1/`);
  }

  private async networkId(name: string): Promise<string | undefined> {
    const known = this.networkIds.get(name);
    if (known) return known;
    const byName = await this.ns.get(`names/${name}`).string();
    const id = byName ?? ((await this.ns.get(`networks/${name}`).string()) ? name : undefined);
    if (id) this.networkIds.set(name, id);
    return id;
  }

  private async addressesOf(task: TaskRecord): Promise<Record<string, string> | undefined> {
    const cid = task.Status.ContainerStatus?.ContainerID;
    if (!cid || !task.NodeID) return undefined;
    const cached = this.addresses.get(cid);
    if (cached) return cached;
    const engine = this.engine(task.NodeID);
    if (!engine) return undefined;
    const inspect = (await engine.containerInspect(cid).catch(() => undefined)) as NetworkSettings | undefined;
    const nets = inspect?.NetworkSettings?.Networks;
    if (!nets) return undefined;
    const out: Record<string, string> = {};
    for (const [name, n] of Object.entries(nets)) {
      if (!n.IPAddress) continue;
      out[name] = n.IPAddress;
      if (n.NetworkID) out[n.NetworkID] = n.IPAddress;
    }
    this.addresses.set(cid, out);
    return out;
  }

  /** Brings the name records in line with the services and their running tasks. */
  async sync(services: ServiceRecord[], tasks: TaskRecord[]): Promise<void> {
    const attached = services.filter((s) => networksOf(s.Spec).length > 0);
    if (!attached.length && !this.written.size && this.synced) return;
    try {
      const ids = new Map<string, string>();
      for (const s of attached) for (const net of networksOf(s.Spec)) {
        const id = await this.networkId(net);
        if (id) ids.set(net, id);
      }
      const live = new Set(tasks.map((t) => t.Status.ContainerStatus?.ContainerID).filter(Boolean));
      for (const cid of this.addresses.keys()) if (!live.has(cid)) this.addresses.delete(cid);
      const perTask = new Map<string, Record<string, string>>();
      for (const t of tasks) {
        if (t.DesiredState !== 'running' || t.Status.State !== 'running' || !attached.some((s) => s.ID === t.ServiceID)) continue;
        const a = await this.addressesOf(t);
        if (a) perTask.set(t.ID, a);
      }
      const wanted = wantedNames(attached, tasks, (n) => ids.get(n), (t, net) => perTask.get(t.ID)?.[net] ?? perTask.get(t.ID)?.[ids.get(net) ?? '']);
      if (!this.synced) {
        // A new primary learns what an earlier one wrote: every record owned by a service.
        const existing = await this.ns.getAll().prefix('dns/').strings();
        this.written = new Map(Object.entries(existing).filter(([k]) => k.split('/')[3]?.startsWith(OWNER_PREFIX)));
        this.synced = true;
      }
      for (const [key, addresses] of wanted) {
        const value = JSON.stringify({ addresses });
        if (this.written.get(key) === value) continue;
        const netId = key.split('/')[1]!;
        const res = await this.ns.if(`networks/${netId}`, 'Create', '>', 0).then(this.ns.put(key).value(value)).commit();
        if (res.succeeded) this.written.set(key, value);
        else this.networkIds.clear(); // the network went away (or was re-created): look it up again
      }
      for (const key of [...this.written.keys()]) {
        if (wanted.has(key)) continue;
        await this.ns.delete().key(key);
        this.written.delete(key);
      }
    } catch (err) {
      this.log(`services: cannot update service names on overlay networks: ${errorMessage(err)}`);
    }
  }
}
