/**
 * Overlay networks across the nodes that share a cluster store (dockerd's classic
 * --cluster-store/--cluster-advertise model). The store holds, under <prefix>/network/v1/:
 *
 *   networks/<id>            the network (name, subnet, gateway, VNI, options)
 *   names/<name>, subnets/<subnet>, vnis/<vni>   -> id: uniqueness, claimed in the create transaction
 *   ipam/<id>/<ip>           -> container id: an address, claimed create-if-absent (never twice)
 *   endpoints/<id>/<epid>    a running endpoint: address, MAC, node; under the node's lease
 *   inuse/<id>               bumped by every endpoint write, so `network rm` can't race one
 *   dns/<id>/<name>/<owner>  extra names (services: a VIP or task addresses)
 *
 * Every node watches the whole tree: networks appear in its network list, endpoints of other
 * nodes become FDB/ARP entries on its vxlan devices, names feed its embedded DNS.
 */
import { randomBytes } from 'node:crypto';
import { conflict, errorMessage, invalidParameter, notFound } from '../../util/errors.js';
import { interfaceAddresses } from '../../sys/ip.js';
import { formatCidr, parseCidr, parseIp } from '../ipv4.js';
import { defaultGateway } from '../ipam.js';
import type { NetworkRecord } from '../types.js';
import {
  addressCandidates,
  checkWantedAddress,
  overlayLinkNames,
  overlayMtu,
  parseAdvertise,
  parseClusterStore,
  pickOverlaySubnet,
  resolveAdvertise,
  subnetKey,
  subnetsOverlap,
  validVni,
  vniCandidates,
  type AddressPool,
} from './alloc.js';
import { ClusterKv, type KvEntry, type Snapshot } from './kv.js';
import { OverlayDataPlane, type RemoteEndpoint } from './dataplane.js';

export const VXLANID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const ROOT = 'network/v1/';
const NODE_LEASE_TTL_SECONDS = 15;
const START_WAIT_MS = 5_000;

export interface OverlayNetworkDoc {
  id: string;
  name: string;
  created: string;
  vni: number;
  subnet: string;
  gateway: string;
  ipRange?: string;
  attachable: boolean;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  ipamOptions: Record<string, string>;
}

/** A running container's attachment to an overlay network, as every node sees it. */
export interface OverlayEndpoint {
  networkId: string;
  endpointId: string;
  containerId: string;
  /** Container name without the slash. */
  name: string;
  aliases: string[];
  ip: string;
  mac: string;
  /** Underlay address of the node it runs on. */
  node: string;
}

export interface OverlayConfig {
  clusterStore: string;
  clusterAdvertise: string;
  vxlanPort: number;
  /** Alias set on the devices this daemon makes (its bridges' alias). */
  alias: string;
  debug: (message: string) => void;
}

export interface NameRegistration {
  /** Replaces the addresses the name resolves to. */
  update(addresses: string[]): Promise<void>;
  remove(): Promise<void>;
}

export interface CreateOverlayRequest {
  name: string;
  subnet?: string;
  gateway?: string;
  ipRange?: string;
  attachable: boolean;
  internal: boolean;
  labels: Record<string, string>;
  options: Record<string, string>;
  ipamOptions: Record<string, string>;
  /** Subnets this node already routes (host routes, local networks): the overlay must avoid them. */
  localSubnets: string[];
}

const keys = {
  network: (id: string) => `${ROOT}networks/${id}`,
  name: (name: string) => `${ROOT}names/${name}`,
  subnet: (subnet: string) => `${ROOT}subnets/${subnetKey(subnet)}`,
  vni: (vni: number) => `${ROOT}vnis/${vni}`,
  inuse: (id: string) => `${ROOT}inuse/${id}`,
  ipamPrefix: (id: string) => `${ROOT}ipam/${id}/`,
  ipam: (id: string, ip: string) => `${ROOT}ipam/${id}/${ip}`,
  endpointsPrefix: (id: string) => `${ROOT}endpoints/${id}/`,
  endpoint: (id: string, ep: string) => `${ROOT}endpoints/${id}/${ep}`,
  dnsPrefix: (id: string) => `${ROOT}dns/${id}/`,
  dns: (id: string, name: string, owner: string) => `${ROOT}dns/${id}/${name}/${owner}`,
};

export class OverlayNetworks {
  readonly kv: ClusterKv;
  private readonly networks = new Map<string, OverlayNetworkDoc>();
  /** Network id -> endpoint id -> endpoint, for every node. */
  private readonly endpoints = new Map<string, Map<string, OverlayEndpoint>>();
  /** Network id -> lower-case name -> owner -> addresses. */
  private readonly names = new Map<string, Map<string, Map<string, string[]>>>();
  /** Endpoints this node published, written again when the node lease is renewed. */
  private readonly published = new Map<string, OverlayEndpoint>();
  private plane?: OverlayDataPlane;
  private nodeError = '';
  private connected = false;
  private lastError = '';
  /** Called with the full set whenever the cluster's overlay networks change. */
  onNetworks?: (records: NetworkRecord[]) => void;

  constructor(private readonly config: OverlayConfig) {
    this.kv = new ClusterKv(parseClusterStore(config.clusterStore), NODE_LEASE_TTL_SECONDS, config.debug);
    this.kv.onLeaseRenewed = () => void this.republish();
  }

  /**
   * Finds the underlay and starts watching the store. Waits (a few seconds at most) for the
   * first full read, so start-up recovery sees the overlay networks of running containers; an
   * unreachable store never holds the daemon up longer than that.
   */
  async start(): Promise<void> {
    if (!this.config.clusterAdvertise) {
      this.nodeError = 'overlay networks need --cluster-advertise (the address other nodes reach this one at)';
    } else {
      try {
        const node = resolveAdvertise(parseAdvertise(this.config.clusterAdvertise), await interfaceAddresses());
        this.plane = new OverlayDataPlane(node, this.config.vxlanPort, overlayMtu(node.mtu), this.config.alias, this.config.debug);
      } catch (err) {
        this.nodeError = errorMessage(err);
        this.config.debug(`overlay: ${this.nodeError}`);
      }
    }
    let loaded!: () => void;
    const firstRead = new Promise<void>((resolve) => (loaded = resolve));
    this.kv.watchPrefix(ROOT, {
      reset: (snapshot) => {
        this.reset(snapshot);
        loaded();
      },
      put: (entry) => this.apply(entry),
      delete: (key) => this.remove(key),
      status: (connected, error) => {
        if (connected !== this.connected) this.config.debug(`cluster store ${this.kv.url.text}: ${connected ? 'connected' : `unreachable (${error}), retrying`}`);
        // Back after an outage: the node lease may have expired with this node's endpoints.
        if (connected && !this.connected && this.published.size) void this.republish();
        this.connected = connected;
        if (error) this.lastError = error;
      },
    });
    await Promise.race([firstRead, new Promise((resolve) => setTimeout(resolve, START_WAIT_MS).unref())]);
  }

  get mtu(): number | undefined {
    return this.plane?.mtu;
  }

  get nodeAddress(): string | undefined {
    return this.plane?.node.ip;
  }

  status(): { connected: boolean; error: string } {
    return { connected: this.connected, error: this.connected ? '' : this.lastError };
  }

  // ---- the watched view ----

  private reset(snapshot: Snapshot): void {
    this.networks.clear();
    this.endpoints.clear();
    this.names.clear();
    for (const entry of snapshot.entries) this.apply(entry, false);
    this.changed(undefined);
  }

  private apply(entry: KvEntry, notify = true): void {
    const rel = entry.key.slice(ROOT.length);
    const parts = rel.split('/');
    try {
      if (parts[0] === 'networks' && parts.length === 2) {
        this.networks.set(parts[1]!, JSON.parse(entry.value) as OverlayNetworkDoc);
        if (notify) this.changed(undefined);
      } else if (parts[0] === 'endpoints' && parts.length === 3) {
        const byId = this.endpoints.get(parts[1]!) ?? new Map<string, OverlayEndpoint>();
        this.endpoints.set(parts[1]!, byId);
        byId.set(parts[2]!, JSON.parse(entry.value) as OverlayEndpoint);
        if (notify) this.changed(parts[1]!);
      } else if (parts[0] === 'dns' && parts.length === 4) {
        const byName = this.names.get(parts[1]!) ?? new Map<string, Map<string, string[]>>();
        this.names.set(parts[1]!, byName);
        const byOwner = byName.get(parts[2]!) ?? new Map<string, string[]>();
        byName.set(parts[2]!, byOwner);
        byOwner.set(parts[3]!, (JSON.parse(entry.value) as { addresses: string[] }).addresses);
      }
    } catch (err) {
      this.config.debug(`cluster store: unreadable ${entry.key}: ${errorMessage(err)}`);
    }
  }

  private remove(key: string): void {
    const parts = key.slice(ROOT.length).split('/');
    if (parts[0] === 'networks' && parts.length === 2) {
      this.networks.delete(parts[1]!);
      this.endpoints.delete(parts[1]!);
      this.names.delete(parts[1]!);
      if (this.plane?.isActive(parts[1]!)) void this.plane.release(parts[1]!).catch(() => undefined);
      this.changed(undefined);
    } else if (parts[0] === 'endpoints' && parts.length === 3) {
      this.endpoints.get(parts[1]!)?.delete(parts[2]!);
      this.changed(parts[1]!);
    } else if (parts[0] === 'dns' && parts.length === 4) {
      this.names.get(parts[1]!)?.get(parts[2]!)?.delete(parts[3]!);
    }
  }

  /** Re-programs the data plane (one network, or all after a reset) and tells the network list. */
  private changed(networkId: string | undefined): void {
    if (networkId === undefined) this.onNetworks?.(this.records());
    if (!this.plane) return;
    for (const id of networkId ? [networkId] : this.plane.activeNetworks()) {
      void this.plane.sync(id, this.remotes(id)).catch((err) => this.config.debug(`overlay sync ${id.slice(0, 12)}: ${errorMessage(err)}`));
    }
  }

  private remotes(networkId: string): RemoteEndpoint[] {
    return [...(this.endpoints.get(networkId)?.values() ?? [])].map((e) => ({ ip: e.ip, mac: e.mac, node: e.node }));
  }

  records(): NetworkRecord[] {
    return [...this.networks.values()].map(recordOf);
  }

  /** Endpoints on a network across the cluster (what the services work lists tasks from). */
  endpointsOf(networkId: string): OverlayEndpoint[] {
    return [...(this.endpoints.get(networkId)?.values() ?? [])];
  }

  /**
   * What `name` resolves to on an overlay network, for any node's containers: container names,
   * short ids and aliases of its endpoints, then names registered with registerName.
   */
  resolve(networkId: string, rawName: string): string[] {
    const name = rawName.replace(/\.$/, '').toLowerCase();
    const out: string[] = [];
    for (const e of this.endpoints.get(networkId)?.values() ?? []) {
      const names = [e.name, e.containerId.slice(0, 12), ...e.aliases].map((n) => n.toLowerCase());
      if (names.includes(name) && !out.includes(e.ip)) out.push(e.ip);
    }
    for (const addresses of this.names.get(networkId)?.get(name)?.values() ?? []) {
      for (const a of addresses) if (!out.includes(a)) out.push(a);
    }
    return out;
  }

  // ---- networks ----

  private requireNode(): OverlayDataPlane {
    if (!this.plane) throw invalidParameter(`cannot use overlay networks on this node: ${this.nodeError}`);
    return this.plane;
  }

  async createNetwork(req: CreateOverlayRequest): Promise<NetworkRecord> {
    this.requireNode();
    const id = randomBytes(32).toString('hex');
    const fixedVni = req.options[VXLANID_OPTION] ? validVni(req.options[VXLANID_OPTION].split(',')[0]!.trim()) : undefined;
    const snapshot = await this.kv.list(`${ROOT}networks/`);
    const existing = snapshot.entries.map((e) => JSON.parse(e.value) as OverlayNetworkDoc);
    if (existing.some((n) => n.name === req.name)) throw conflict(`network with name ${req.name} already exists`);
    let subnet = req.subnet;
    if (subnet) {
      if (existing.some((n) => subnetsOverlap(n.subnet, subnet!))) throw conflict(`invalid pool request: Pool overlaps with other one on this address space`);
    } else {
      const taken = [...existing.map((n) => n.subnet), ...req.localSubnets].map((s) => parseCidr(s)!).filter(Boolean);
      subnet = pickOverlaySubnet(taken);
    }
    const cidr = parseCidr(subnet)!;
    const doc: OverlayNetworkDoc = {
      id,
      name: req.name,
      created: new Date().toISOString(),
      vni: 0,
      subnet,
      gateway: req.gateway || defaultGateway(cidr),
      ...(req.ipRange ? { ipRange: req.ipRange } : {}),
      attachable: req.attachable,
      internal: req.internal,
      labels: req.labels,
      options: req.options,
      ipamOptions: req.ipamOptions,
    };
    const takenVnis = new Set(existing.map((n) => n.vni));
    const candidates = fixedVni ? [fixedVni] : vniCandidates(id);
    let tries = 0;
    for (const vni of candidates) {
      if (takenVnis.has(vni)) {
        if (fixedVni) throw conflict(`VXLAN id ${vni} is already used by another overlay network`);
        continue;
      }
      doc.vni = vni;
      const ok = await this.kv.transaction(
        [
          { key: keys.name(doc.name), absent: true },
          { key: keys.subnet(subnet), absent: true },
          { key: keys.vni(vni), absent: true },
        ],
        [
          { put: keys.network(id), value: JSON.stringify(doc) },
          { put: keys.name(doc.name), value: id },
          { put: keys.subnet(subnet), value: id },
          { put: keys.vni(vni), value: id },
        ],
      );
      if (ok) {
        this.networks.set(id, doc);
        this.changed(undefined);
        return recordOf(doc);
      }
      // Someone else got there first: say which claim lost, or try the next VNI.
      if (await this.kv.get(keys.name(doc.name))) throw conflict(`network with name ${doc.name} already exists`);
      if (await this.kv.get(keys.subnet(subnet))) throw conflict(`invalid pool request: Pool overlaps with other one on this address space`);
      if (fixedVni) throw conflict(`VXLAN id ${vni} is already used by another overlay network`);
      if (++tries > 32) break;
    }
    throw conflict('could not claim a free VXLAN id for the network; try again');
  }

  /** Refused while any node has an endpoint on it; otherwise everything of the network goes. */
  async removeNetwork(record: NetworkRecord): Promise<void> {
    const doc = this.networks.get(record.id) ?? (await this.fetch(record.id));
    for (let attempt = 0; attempt < 5; attempt++) {
      const inuse = (await this.kv.list(keys.inuse(record.id))).entries.find((e) => e.key === keys.inuse(record.id));
      const endpoints = await this.kv.list(keys.endpointsPrefix(record.id));
      if (endpoints.entries.length) {
        const where = [...new Set(endpoints.entries.map((e) => (JSON.parse(e.value) as OverlayEndpoint).node))].join(', ');
        throw conflict(`error while removing network: network ${record.name} id ${record.id} has active endpoints (on ${where})`);
      }
      const ok = await this.kv.transaction(
        [{ key: keys.network(record.id), present: true }, inuse ? { key: inuse.key, modRevision: inuse.modRevision } : { key: keys.inuse(record.id), absent: true }],
        [
          { delete: keys.network(record.id) },
          { delete: keys.name(doc.name) },
          { delete: keys.subnet(doc.subnet) },
          { delete: keys.vni(doc.vni) },
          { delete: keys.inuse(record.id) },
          { deletePrefix: keys.ipamPrefix(record.id) },
          { deletePrefix: keys.dnsPrefix(record.id) },
        ],
      );
      if (ok) {
        this.networks.delete(record.id);
        this.changed(undefined);
        return;
      }
      if (!(await this.kv.get(keys.network(record.id)))) throw notFound(`network ${record.name} not found`);
    }
    throw conflict(`network ${record.name} is changing; try again`);
  }

  private async fetch(id: string): Promise<OverlayNetworkDoc> {
    const text = await this.kv.get(keys.network(id));
    if (!text) throw notFound(`network ${id} not found`);
    return JSON.parse(text) as OverlayNetworkDoc;
  }

  // ---- addresses (cluster-wide IPAM) ----

  /** Claims `wanted` or the lowest free address for `owner`; a transaction per address makes it atomic. */
  async allocateAddress(record: NetworkRecord, owner: string, wanted?: string): Promise<string> {
    const doc = this.networks.get(record.id) ?? (await this.fetch(record.id));
    const pool = poolOf(doc);
    const claim = (ip: string): Promise<boolean> =>
      this.kv.transaction([{ key: keys.ipam(doc.id, ip), absent: true }, { key: keys.network(doc.id), present: true }], [{ put: keys.ipam(doc.id, ip), value: owner }]);
    if (wanted) {
      checkWantedAddress(pool, wanted);
      if (await claim(wanted)) return wanted;
      const holder = await this.kv.get(keys.ipam(doc.id, wanted));
      if (holder === owner) return wanted;
      if (holder === undefined) throw notFound(`network ${doc.name} not found`);
      throw conflict('Address already in use');
    }
    for (let round = 0; round < 3; round++) {
      const taken = new Set((await this.kv.list(keys.ipamPrefix(doc.id))).entries.map((e) => e.key.slice(keys.ipamPrefix(doc.id).length)));
      let misses = 0;
      for (const ip of addressCandidates(pool, taken)) {
        if (await claim(ip)) return ip;
        if (!(await this.kv.get(keys.network(doc.id)))) throw notFound(`network ${doc.name} not found`);
        // Another node took it meanwhile: after a few misses, read the taken set again.
        if (++misses >= 8) break;
      }
      if (misses === 0) break;
    }
    throw invalidParameter(`no available IPv4 addresses on this network's address pools: ${doc.name} (${doc.id})`);
  }

  /** Returns `owner`'s addresses; an unreachable store only logs (the address stays taken). */
  async releaseAddresses(record: NetworkRecord, owner: string): Promise<void> {
    try {
      const held = (await this.kv.list(keys.ipamPrefix(record.id))).entries.filter((e) => e.value === owner);
      for (const e of held) await this.kv.transaction([{ key: e.key, modRevision: e.modRevision }], [{ delete: e.key }]);
    } catch (err) {
      this.config.debug(`overlay ${record.name}: release addresses of ${owner.slice(0, 12)}: ${errorMessage(err)}`);
    }
  }

  // ---- endpoints and the data plane ----

  /** The node's bridge and vxlan device for the network, with every remote endpoint programmed. */
  async ensureDataPlane(record: NetworkRecord): Promise<void> {
    const plane = this.requireNode();
    const doc = this.networks.get(record.id) ?? (await this.fetch(record.id));
    const prefix = parseCidr(doc.subnet)!.prefix;
    await plane.ensure({ id: doc.id, vni: doc.vni, gateway: doc.gateway, prefix }, this.remotes(doc.id));
  }

  async releaseDataPlane(networkId: string): Promise<void> {
    if (this.plane) await this.plane.release(networkId);
  }

  isDataPlaneActive(networkId: string): boolean {
    return this.plane?.isActive(networkId) ?? false;
  }

  /** Announces a running endpoint to every node (under this node's lease). */
  async publishEndpoint(endpoint: Omit<OverlayEndpoint, 'node'>): Promise<void> {
    const plane = this.requireNode();
    const full: OverlayEndpoint = { ...endpoint, node: plane.node.ip };
    const ok = await this.kv.transaction(
      [{ key: keys.network(full.networkId), present: true }],
      [
        { put: keys.endpoint(full.networkId, full.endpointId), value: JSON.stringify(full), leased: true },
        { put: keys.inuse(full.networkId), value: full.endpointId },
      ],
    );
    if (!ok) throw notFound(`network ${full.networkId} not found`);
    this.published.set(`${full.networkId}/${full.endpointId}`, full);
  }

  async withdrawEndpoint(networkId: string, endpointId: string): Promise<void> {
    this.published.delete(`${networkId}/${endpointId}`);
    try {
      await this.kv.delete(keys.endpoint(networkId, endpointId));
    } catch (err) {
      // The node lease removes it later in any case.
      this.config.debug(`overlay: withdraw endpoint ${endpointId.slice(0, 12)}: ${errorMessage(err)}`);
    }
  }

  /** Local endpoints on a network, as this node published them. */
  publishedOn(networkId: string): OverlayEndpoint[] {
    return [...this.published.values()].filter((e) => e.networkId === networkId);
  }

  private async republish(): Promise<void> {
    for (const e of this.published.values()) {
      await this.kv.put(keys.endpoint(e.networkId, e.endpointId), JSON.stringify(e), true).catch((err) => this.config.debug(`overlay: republish ${e.ip}: ${errorMessage(err)}`));
    }
  }

  // ---- names for other subsystems (services: VIPs, DNS round robin) ----

  /**
   * Makes `name` resolve to `addresses` for containers on the network, on every node, until
   * removed. `owner` tells registrations of one name apart (their addresses are merged), e.g.
   * a service id. With `leased`, the record vanishes with this node's lease (when berthd stops).
   */
  async registerName(networkRef: string, name: string, addresses: string[], owner: string, leased = false): Promise<NameRegistration> {
    const doc = [...this.networks.values()].find((n) => n.id === networkRef || n.name === networkRef) ?? (await this.fetch(networkRef));
    const lname = name.toLowerCase();
    if (!/^[a-z0-9_.-]+$/.test(lname)) throw invalidParameter(`invalid DNS name "${name}"`);
    if (!/^[\w.-]+$/.test(owner)) throw invalidParameter(`invalid owner "${owner}"`);
    for (const a of addresses) if (parseIp(a) === undefined) throw invalidParameter(`invalid IPv4 address: ${a}`);
    const key = keys.dns(doc.id, lname, owner);
    const write = async (list: string[]): Promise<void> => {
      const ok = await this.kv.transaction([{ key: keys.network(doc.id), present: true }], [{ put: key, value: JSON.stringify({ addresses: list }), leased }]);
      if (!ok) throw notFound(`network ${doc.name} not found`);
    };
    await write(addresses);
    return { update: write, remove: () => this.kv.delete(key) };
  }

  async close(): Promise<void> {
    await this.kv.close();
  }
}

function poolOf(doc: OverlayNetworkDoc): AddressPool {
  const subnet = parseCidr(doc.subnet)!;
  return { subnet, gateway: parseIp(doc.gateway)!, range: doc.ipRange ? parseCidr(doc.ipRange)! : subnet };
}

function recordOf(doc: OverlayNetworkDoc): NetworkRecord {
  return {
    id: doc.id,
    name: doc.name,
    driver: 'overlay',
    created: doc.created,
    internal: doc.internal,
    attachable: doc.attachable,
    predefined: false,
    isDefaultBridge: false,
    ipam: [{ Subnet: formatCidr(parseCidr(doc.subnet)!), Gateway: doc.gateway, ...(doc.ipRange ? { IPRange: doc.ipRange } : {}) }],
    ipamOptions: doc.ipamOptions,
    options: { ...doc.options, [VXLANID_OPTION]: String(doc.vni) },
    labels: doc.labels,
    bridge: overlayLinkNames(doc.id).bridge,
    allocations: {},
  };
}

