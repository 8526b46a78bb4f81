/**
 * The network subsystem of one daemon: its networks (the predefined bridge/host/none and the
 * user's), the Linux bridges behind them, the iptables rules, the embedded DNS listeners and
 * the published ports held by running containers. Container wiring lives in sandbox.ts; the
 * container lifecycle reaches this through the hook in hook.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, errorMessage, forbidden, invalidParameter, notFound, BerthError } from '../util/errors.js';
import { createBridge, deleteLink, linkExists, linksWithAlias } from '../sys/ip.js';
import { ensureSysctl } from '../sys/sysctl.js';
import { isActive, type ContainerRecord } from '../container/model.js';
import { NetworkStore } from './store.js';
import { Firewall, chainNames, type FirewallPort } from './firewall.js';
import { listenDns, type DnsListener, type Resolution } from './dns.js';
import { DEFAULT_POOLS, hostSubnets, pickSubnet, withSubnetLock } from './subnets.js';
import { formatCidr, mustParseCidr, overlaps, parseCidr, parseIp, contains } from './ipv4.js';
import { defaultGateway, poolOf, prefixLength, release } from './ipam.js';
import { parseResolvConf, type ResolvConf } from './etcfiles.js';
import type { HeldPort } from './ports.js';
import type { NetworkRecord } from './types.js';
// Type only: the overlay code (and with it etcd3, grpc-js and protobufjs, ~20 MiB of heap) loads
// only when berthd has a cluster store (see openOverlay).
import type { OverlayNetworks } from './overlay/service.js';

/** The part of the container store networking reads and writes. */
export interface ContainerDirectory {
  all(): ContainerRecord[];
  get(idOrName: string): ContainerRecord;
  tryGet(idOrName: string): ContainerRecord | undefined;
  save(record: ContainerRecord): Promise<void>;
}

export interface NetworkSettingsConfig {
  dataRoot: string;
  execRoot: string;
  bridge: string;
  bip: string;
  defaultAddressPools: Array<{ base: string; size: number }>;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** Overlay networks (dockerd's classic names): etcd://HOST:PORT[,..][/prefix] and IP:PORT or IFACE:PORT. */
  clusterStore?: string;
  clusterAdvertise?: string;
  /** key=value: vxlan.port (default 4789). */
  clusterStoreOpts?: string[];
}

const DEFAULT_VXLAN_PORT = 4789;

const DEFAULT_EXEC_ROOT = '/run/berth';
export const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';

/**
 * Every host-wide name this daemon makes (default bridge, chains, the bridges' alias) carries a
 * tag derived from its exec-root, so daemons on one machine never share one. The production
 * daemon (exec-root /run/berth) has the empty tag: berth0, BERTH-FORWARD, ...
 */
export function instanceTag(execRoot: string): string {
  return execRoot === DEFAULT_EXEC_ROOT ? '' : createHash('sha256').update(execRoot).digest('hex').slice(0, 8);
}

export function bridgeAlias(tag: string): string {
  return `berth:${tag || 'default'}`;
}

export class NetworkService {
  readonly tag: string;
  readonly firewall: Firewall;
  readonly alias: string;
  private readonly dnsListeners = new Map<string, DnsListener>();
  /** Published ports held by running containers: container id -> sockets and DNAT targets. */
  readonly heldPorts = new Map<string, { held: HeldPort[]; rules: FirewallPort[] }>();
  private hostResolv: ResolvConf = { nameservers: [], search: [], options: [] };
  private hostResolvText = '';
  private hostHostsText = '';
  /** Set when the daemon has a cluster store: overlay networks shared with the other nodes. */
  overlay?: OverlayNetworks;

  private constructor(
    readonly store: NetworkStore,
    readonly containers: ContainerDirectory,
    readonly config: NetworkSettingsConfig,
    readonly debug: (message: string) => void,
  ) {
    this.tag = instanceTag(config.execRoot);
    this.alias = bridgeAlias(this.tag);
    this.firewall = new Firewall(chainNames(this.tag));
  }

  static async open(config: NetworkSettingsConfig, containers: ContainerDirectory, debug: (message: string) => void): Promise<NetworkService> {
    const store = await NetworkStore.open(join(config.dataRoot, 'network'));
    const service = new NetworkService(store, containers, config, debug);
    service.hostResolvText = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    service.hostResolv = parseResolvConf(service.hostResolvText);
    service.hostHostsText = await readFile('/etc/hosts', 'utf8').catch(() => '');
    await service.ensurePredefined();
    if (config.clusterAdvertise && !config.clusterStore) throw invalidParameter('invalid cluster configuration: --cluster-advertise must be accompanied by --cluster-store');
    if (config.clusterStore) await service.openOverlay(config.clusterStore);
    return service;
  }

  private async openOverlay(clusterStore: string): Promise<void> {
    const opts = new Map((this.config.clusterStoreOpts ?? []).map((o) => [o.split('=')[0]!, o.slice(o.indexOf('=') + 1)]));
    const portText = opts.get('vxlan.port');
    const vxlanPort = portText === undefined ? DEFAULT_VXLAN_PORT : Number(portText);
    if (!Number.isInteger(vxlanPort) || vxlanPort < 1 || vxlanPort > 65535) throw invalidParameter(`invalid --cluster-store-opt vxlan.port=${portText}`);
    for (const key of opts.keys()) if (key !== 'vxlan.port') throw invalidParameter(`unknown --cluster-store-opt ${key}`);
    const { OverlayNetworks } = await import('./overlay/service.js');
    const overlay = new OverlayNetworks({ clusterStore, clusterAdvertise: this.config.clusterAdvertise ?? '', vxlanPort, alias: this.alias, debug: this.debug });
    overlay.onNetworks = (records) => {
      this.store.setGlobal(records);
      // A network removed through another node: its listener here goes too.
      for (const [id, listener] of this.dnsListeners) {
        if (!this.store.tryGet(id)) {
          listener.close();
          this.dnsListeners.delete(id);
        }
      }
      void this.syncFirewall().catch((err) => this.debug(`firewall: ${errorMessage(err)}`));
    };
    this.overlay = overlay;
  }

  get netnsDir(): string {
    return join(this.config.execRoot, 'netns');
  }

  hostResolvConf(): ResolvConf {
    return this.hostResolv;
  }

  hostFiles(): { resolv: string; hosts: string } {
    return { resolv: this.hostResolvText, hosts: this.hostHostsText };
  }

  defaultBridgeName(): string {
    return this.config.bridge || (this.tag ? `berth-${this.tag}` : 'berth0');
  }

  private async ensurePredefined(): Promise<void> {
    const byName = (name: string): NetworkRecord | undefined => this.store.all().find((n) => n.predefined && n.name === name);
    for (const [name, driver] of [['host', 'host'], ['none', 'null']] as const) {
      if (!byName(name)) await this.store.save(this.newRecord(name, driver, { predefined: true }));
    }
    if (!byName('bridge')) {
      const record = this.newRecord('bridge', 'bridge', { predefined: true });
      record.isDefaultBridge = true;
      record.bridge = this.defaultBridgeName();
      record.options = {
        'com.docker.network.bridge.default_bridge': 'true',
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
        'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
        [BRIDGE_NAME_OPTION]: record.bridge,
        'com.docker.network.driver.mtu': '1500',
      };
      await this.store.save(record);
    }
  }

  private newRecord(name: string, driver: NetworkRecord['driver'], extra: Partial<NetworkRecord> = {}): NetworkRecord {
    return {
      id: randomBytes(32).toString('hex'),
      name,
      driver,
      created: new Date().toISOString(),
      internal: false,
      attachable: false,
      predefined: false,
      isDefaultBridge: false,
      ipam: [],
      ipamOptions: {},
      options: {},
      labels: {},
      allocations: {},
      ...extra,
    };
  }

  defaultBridge(): NetworkRecord {
    return this.store.all().find((n) => n.isDefaultBridge)!;
  }

  /**
   * Start-up: bridges for every bridge network (the default one gets its subnet now if it has
   * none or its old one collides with the host), DNS listeners, allocations of containers that
   * no longer exist dropped, ports of running containers held again, rules written.
   */
  async start(): Promise<void> {
    await ensureSysctl('net.ipv4.ip_forward', '1').catch((err) => this.debug(`ip_forward: ${errorMessage(err)}`));
    const known = new Set(this.containers.all().map((c) => c.id));
    for (const network of this.store.all()) {
      if (Object.values(network.allocations).some((owner) => !known.has(owner))) {
        for (const owner of new Set(Object.values(network.allocations))) if (!known.has(owner)) release(network, owner);
        await this.store.save(network);
      }
    }
    await this.ensureDefaultBridge();
    for (const network of this.store.all()) {
      if (network.driver !== 'bridge' || network.isDefaultBridge) continue;
      await this.ensureBridge(network).catch((err) => this.debug(`bridge for ${network.name}: ${errorMessage(err)}`));
    }
    await this.syncFirewall();
    await this.overlay?.start();
  }

  private async ensureDefaultBridge(): Promise<void> {
    const network = this.defaultBridge();
    const hasRunning = this.usersOf(network).some((c) => isActive(c.state.status));
    await withSubnetLock(async () => {
      const exists = network.bridge ? await linkExists(network.bridge) : false;
      if (this.config.bip) {
        const cidr = mustParseCidr(this.config.bip, 'bip');
        const gateway = this.config.bip.split('/')[0]!;
        network.ipam = [{ Subnet: formatCidr(cidr), Gateway: gateway }];
      } else if (!exists && !hasRunning) {
        const current = network.ipam[0] ? parseCidr(network.ipam[0].Subnet) : undefined;
        const taken = [...(await hostSubnets()), ...this.otherSubnets(network)];
        if (!current || taken.some((t) => overlaps(t, current))) {
          const subnet = pickSubnet(this.config.defaultAddressPools.length ? this.config.defaultAddressPools : DEFAULT_POOLS, taken);
          network.ipam = [{ Subnet: subnet, Gateway: defaultGateway(parseCidr(subnet)!) }];
          network.allocations = {};
        }
      }
      await this.store.save(network);
      if (!exists) await this.createBridgeFor(network);
    });
    await this.bridgeSettings(network);
  }

  private otherSubnets(except: NetworkRecord): ReturnType<typeof mustParseCidr>[] {
    return this.store
      .all()
      .filter((n) => n.id !== except.id && n.ipam[0])
      .map((n) => parseCidr(n.ipam[0]!.Subnet)!)
      .filter(Boolean);
  }

  private async createBridgeFor(network: NetworkRecord): Promise<void> {
    const pool = network.ipam[0]!;
    await createBridge(network.bridge!, `${pool.Gateway}/${parseCidr(pool.Subnet)!.prefix}`, this.alias);
  }

  /** route_localnet lets DNAT send 127.0.0.1 traffic out to a container (see firewall.ts). */
  private async bridgeSettings(network: NetworkRecord): Promise<void> {
    await ensureSysctl(`net.ipv4.conf.${network.bridge}.route_localnet`, '1').catch((err) => this.debug(`route_localnet: ${errorMessage(err)}`));
    if (!network.isDefaultBridge && !this.dnsListeners.has(network.id)) {
      try {
        this.dnsListeners.set(network.id, await listenDns(network.ipam[0]!.Gateway, this.dnsResolver()));
      } catch (err) {
        this.debug(`embedded DNS for ${network.name}: ${errorMessage(err)}`);
      }
    }
  }

  async ensureBridge(network: NetworkRecord): Promise<void> {
    if (network.driver === 'overlay') await this.overlayService().ensureDataPlane(network);
    else if (!(await linkExists(network.bridge!))) await this.createBridgeFor(network);
    await this.bridgeSettings(network);
  }

  dnsListener(networkId: string): DnsListener | undefined {
    return this.dnsListeners.get(networkId);
  }

  private overlayService(): OverlayNetworks {
    if (!this.overlay) throw invalidParameter('overlay networks need a cluster store: start berthd with --cluster-store etcd://HOST:PORT and --cluster-advertise IP:PORT');
    return this.overlay;
  }

  /** After the last local endpoint of an overlay network left: its bridge, vxlan device and DNS listener go. */
  async releaseOverlayIfUnused(network: NetworkRecord): Promise<void> {
    if (network.driver !== 'overlay' || !this.overlay?.isDataPlaneActive(network.id)) return;
    if (this.usersOf(network).some((c) => isActive(c.state.status) && c.network?.sandboxKey)) return;
    this.dnsListeners.get(network.id)?.close();
    this.dnsListeners.delete(network.id);
    await this.overlay.releaseDataPlane(network.id).catch((err) => this.debug(`release overlay ${network.name}: ${errorMessage(err)}`));
  }

  /** Containers that have an endpoint on the network (any state). */
  usersOf(network: NetworkRecord): ContainerRecord[] {
    return this.containers.all().filter((c) => Object.values(c.network?.endpoints ?? {}).some((e) => e.NetworkID === network.id));
  }

  /** Rewrites the rules from the bridge networks and the ports held now. */
  async syncFirewall(): Promise<void> {
    const networks = this.store
      .all()
      .filter((n) => (n.driver === 'bridge' || n.driver === 'overlay') && n.bridge && n.ipam[0])
      // Overlay bridges are internal: traffic stays between the network's containers, unNATed.
      .map((n) => ({ bridge: n.bridge!, subnet: n.ipam[0]!.Subnet, internal: n.internal || n.driver === 'overlay' }));
    const ports = [...this.heldPorts.values()].flatMap((h) => h.rules);
    await this.firewall.sync({ networks, ports });
  }

  // ---- the Engine API's network operations ----

  async create(body: Record<string, unknown>): Promise<{ Id: string; Warning: string }> {
    const name = typeof body.Name === 'string' ? body.Name : '';
    if (!name) throw invalidParameter('network name is required');
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidParameter(`invalid network name "${name}"`);
    if (this.store.all().some((n) => n.name === name)) throw conflict(`network with name ${name} already exists`);
    const driver = typeof body.Driver === 'string' && body.Driver ? body.Driver : 'bridge';
    if (driver === 'host' || driver === 'null') throw forbidden(`only one instance of "${driver}" network is allowed`);
    if (driver === 'overlay') return this.createOverlay(name, body);
    if (driver !== 'bridge') throw notFound(`plugin "${driver}" not found`);
    const { subnetText, gatewayText, rangeText, ipamOptions } = poolRequest(body);
    const options = stringMap(body.Options, 'Options');
    const labels = stringMap(body.Labels, 'Labels');
    const record = this.newRecord(name, 'bridge', {
      internal: body.Internal === true,
      attachable: body.Attachable === true,
      options,
      labels,
      ipamOptions,
    });
    const bridge = options[BRIDGE_NAME_OPTION] || `br-${record.id.slice(0, 12)}`;
    if (bridge.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) throw invalidParameter(`invalid bridge name "${bridge}"`);
    if (this.store.all().some((n) => n.bridge === bridge)) throw conflict(`bridge name ${bridge} is already used by another network`);
    record.bridge = bridge;
    await withSubnetLock(async () => {
      let subnet: string;
      if (subnetText) {
        const cidr = parseCidr(subnetText);
        if (!cidr) throw invalidParameter(`invalid subnet ${subnetText}: invalid CIDR block notation`);
        if (formatCidr(cidr) !== subnetText) throw invalidParameter(`invalid subnet ${subnetText}: it should be ${formatCidr(cidr)}`);
        if (this.otherSubnets(record).some((t) => overlaps(t, cidr))) throw forbidden('invalid pool request: Pool overlaps with other one on this address space');
        subnet = subnetText;
      } else {
        const taken = [...(await hostSubnets()), ...this.otherSubnets(record)];
        subnet = pickSubnet(this.config.defaultAddressPools.length ? this.config.defaultAddressPools : DEFAULT_POOLS, taken);
      }
      const cidr = parseCidr(subnet)!;
      if (rangeText) {
        const range = parseCidr(rangeText);
        if (!range) throw invalidParameter(`invalid ip-range ${rangeText}: invalid CIDR block notation`);
        if (range.prefix < cidr.prefix) throw invalidParameter(`invalid ip-range ${rangeText}: CIDR block is bigger than its parent subnet ${subnet}`);
        if (!overlaps(range, cidr)) throw invalidParameter(`invalid ip-range ${rangeText}: parent subnet ${subnet} doesn't contain ip-range`);
      }
      if (gatewayText) {
        const gw = parseIp(gatewayText);
        if (gw === undefined) throw invalidParameter(`invalid gateway ${gatewayText}: invalid address`);
        if (!contains(cidr, gw)) throw invalidParameter(`invalid gateway ${gatewayText}: parent subnet ${subnet} doesn't contain this address`);
      }
      record.ipam = [{ Subnet: subnet, Gateway: gatewayText || defaultGateway(cidr), ...(rangeText ? { IPRange: rangeText } : {}) }];
      if (await linkExists(bridge)) throw conflict(`bridge name ${bridge} is already in use on this host`);
      await this.store.save(record);
      try {
        await this.createBridgeFor(record);
      } catch (err) {
        await this.store.delete(record.id);
        throw err;
      }
    });
    await this.bridgeSettings(record);
    await this.syncFirewall();
    return { Id: record.id, Warning: '' };
  }

  /** `network create -d overlay`: claimed in the cluster store, so every node sharing it sees the network. */
  private async createOverlay(name: string, body: Record<string, unknown>): Promise<{ Id: string; Warning: string }> {
    const overlay = this.overlayService();
    const { subnetText, gatewayText, rangeText, ipamOptions } = poolRequest(body);
    const local = this.store.all().filter((n) => n.driver !== 'overlay' && n.ipam[0]).map((n) => n.ipam[0]!.Subnet);
    if (subnetText) {
      const cidr = parseCidr(subnetText);
      if (!cidr) throw invalidParameter(`invalid subnet ${subnetText}: invalid CIDR block notation`);
      if (formatCidr(cidr) !== subnetText) throw invalidParameter(`invalid subnet ${subnetText}: it should be ${formatCidr(cidr)}`);
      if (cidr.prefix > 29) throw invalidParameter(`invalid subnet ${subnetText}: too small for an overlay network`);
      if (local.some((s) => overlaps(parseCidr(s)!, cidr))) throw forbidden('invalid pool request: Pool overlaps with other one on this address space');
      if (rangeText) {
        const range = parseCidr(rangeText);
        if (!range) throw invalidParameter(`invalid ip-range ${rangeText}: invalid CIDR block notation`);
        if (range.prefix < cidr.prefix || !overlaps(range, cidr)) throw invalidParameter(`invalid ip-range ${rangeText}: parent subnet ${subnetText} doesn't contain ip-range`);
      }
      if (gatewayText) {
        const gw = parseIp(gatewayText);
        if (gw === undefined) throw invalidParameter(`invalid gateway ${gatewayText}: invalid address`);
        if (!contains(cidr, gw)) throw invalidParameter(`invalid gateway ${gatewayText}: parent subnet ${subnetText} doesn't contain this address`);
      }
    }
    const hostRoutes = subnetText ? [] : (await hostSubnets()).map((c) => formatCidr(c));
    const record = await overlay.createNetwork({
      name,
      ...(subnetText ? { subnet: subnetText } : {}),
      ...(gatewayText ? { gateway: gatewayText } : {}),
      ...(rangeText ? { ipRange: rangeText } : {}),
      attachable: body.Attachable === true,
      internal: body.Internal === true,
      labels: stringMap(body.Labels, 'Labels'),
      options: stringMap(body.Options, 'Options'),
      ipamOptions,
      localSubnets: [...local, ...hostRoutes],
    });
    await this.store.save(record);
    await this.syncFirewall();
    return { Id: record.id, Warning: '' };
  }

  async remove(ref: string): Promise<void> {
    const network = this.store.get(ref);
    if (network.predefined) throw forbidden(`${network.name} is a pre-defined network and cannot be removed`);
    if (network.driver === 'overlay') {
      await this.overlayService().removeNetwork(network);
      this.dnsListeners.get(network.id)?.close();
      this.dnsListeners.delete(network.id);
      await this.overlay!.releaseDataPlane(network.id).catch((err) => this.debug(`release overlay ${network.name}: ${errorMessage(err)}`));
      await this.store.delete(network.id);
      await this.syncFirewall();
      return;
    }
    if (this.usersOf(network).some((c) => isActive(c.state.status))) {
      throw conflict(`error while removing network: network ${network.name} id ${network.id} has active endpoints`);
    }
    this.dnsListeners.get(network.id)?.close();
    this.dnsListeners.delete(network.id);
    await this.store.delete(network.id);
    if (network.bridge) await deleteLink(network.bridge).catch((err) => this.debug(`delete ${network.bridge}: ${errorMessage(err)}`));
    await this.syncFirewall();
  }

  /** Removes user networks no container refers to (docker's prune). */
  async prune(keep: (n: NetworkRecord) => boolean): Promise<string[]> {
    const deleted: string[] = [];
    for (const network of this.store.all()) {
      // Overlay networks belong to the cluster: another node's containers may use one, so this
      // node's prune leaves them to an explicit `network rm`.
      if (network.predefined || network.driver === 'overlay' || keep(network) || this.usersOf(network).length > 0) continue;
      try {
        await this.remove(network.id);
        deleted.push(network.name);
      } catch (err) {
        if (!(err instanceof BerthError)) throw err;
      }
    }
    return deleted;
  }

  /**
   * Clean shutdown: with no container running, nothing of berth's stays on the host (bridges,
   * chains, listeners); they come back at the next start. With containers running they stay,
   * because those containers keep serving (live restore).
   */
  async shutdown(): Promise<void> {
    await this.store.flush();
    for (const listener of this.dnsListeners.values()) listener.close();
    this.dnsListeners.clear();
    for (const { held } of this.heldPorts.values()) for (const h of held) h.close();
    // Revoking the node lease withdraws this node's endpoints from the other nodes at once.
    await this.overlay?.close().catch((err) => this.debug(`cluster store: ${errorMessage(err)}`));
    if (this.containers.all().some((c) => isActive(c.state.status))) return;
    await this.firewall.removeAll().catch((err) => this.debug(`remove rules: ${errorMessage(err)}`));
    for (const name of await linksWithAlias(this.alias).catch(() => [] as string[])) {
      await deleteLink(name).catch((err) => this.debug(`delete ${name}: ${errorMessage(err)}`));
    }
  }

  // ---- embedded DNS ----

  private dnsResolver(): { resolve: (asker: string, name: string) => Resolution; upstreams: () => string[] } {
    return {
      resolve: (asker, name) => this.resolveName(asker, name),
      upstreams: () => (this.config.dns.length ? this.config.dns : this.hostResolv.nameservers),
    };
  }

  /** Names the asking container may see: containers, aliases and its links on the user networks it shares. */
  resolveName(askerIp: string, rawName: string): Resolution {
    const name = rawName.replace(/\.$/, '').toLowerCase();
    const running = this.containers.all().filter((c) => c.state.status === 'running' || c.state.status === 'paused');
    const asker = running.find((c) => Object.values(c.network?.endpoints ?? {}).some((e) => e.IPAddress === askerIp));
    if (!asker) return { kind: 'forward' };
    const addresses: string[] = [];
    for (const endpoint of Object.values(asker.network!.endpoints)) {
      const network = this.store.tryGet(endpoint.NetworkID);
      if (!network || network.isDefaultBridge) continue;
      for (const other of running) {
        const theirs = Object.values(other.network?.endpoints ?? {}).find((e) => e.NetworkID === network.id);
        if (!theirs?.IPAddress) continue;
        const names = [other.name, other.id.slice(0, 12), ...(theirs.Aliases ?? [])].map((n) => n.toLowerCase());
        if (names.includes(name) && !addresses.includes(theirs.IPAddress)) addresses.push(theirs.IPAddress);
      }
      for (const link of endpoint.Links ?? []) {
        const [target, alias] = link.split(':') as [string, string | undefined];
        if ((alias ?? target).toLowerCase() !== name) continue;
        const linked = running.find((c) => c.name === target || c.id === target);
        const theirs = Object.values(linked?.network?.endpoints ?? {}).find((e) => e.NetworkID === network.id);
        if (theirs?.IPAddress && !addresses.includes(theirs.IPAddress)) addresses.push(theirs.IPAddress);
      }
      if (network.driver === 'overlay' && this.overlay) {
        for (const a of this.overlay.resolve(network.id, name)) if (!addresses.includes(a)) addresses.push(a);
      }
    }
    if (addresses.length) return { kind: 'local', addresses };
    return { kind: 'forward' };
  }

  /** The container's endpoint settings, as docker shows them for a network. */
  prefixOf(network: NetworkRecord): number {
    return prefixLength(network);
  }

  poolOf(network: NetworkRecord): ReturnType<typeof poolOf> {
    return poolOf(network);
  }
}

function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalidParameter(`invalid ${field}: expected a map of strings`);
  }
  return { ...(value as Record<string, string>) };
}

/** The one IPv4 pool a create body asks for (all empty: let IPAM choose), refusing what berth can't do. */
function poolRequest(body: Record<string, unknown>): { subnetText: string; gatewayText: string; rangeText: string; ipamOptions: Record<string, string> } {
  if (body.EnableIPv6 === true) throw invalidParameter('IPv6 networks are not supported by berth');
  const ipamBody = (body.IPAM ?? {}) as { Driver?: string; Config?: Array<Record<string, unknown>> | null; Options?: Record<string, string> | null };
  if (ipamBody.Driver && ipamBody.Driver !== 'default') throw notFound(`plugin "${ipamBody.Driver}" not found`);
  const configs = ipamBody.Config ?? [];
  if (configs.length > 1) throw invalidParameter('berth supports one IPv4 pool per network');
  const wanted = configs[0] ?? {};
  const subnetText = typeof wanted.Subnet === 'string' ? wanted.Subnet : '';
  const gatewayText = typeof wanted.Gateway === 'string' ? wanted.Gateway : '';
  const rangeText = typeof wanted.IPRange === 'string' ? wanted.IPRange : '';
  if (!subnetText && (gatewayText || rangeText)) throw invalidParameter('invalid pool request: a gateway or ip-range needs a subnet');
  return { subnetText, gatewayText, rangeText, ipamOptions: ipamBody.Options ?? {} };
}
