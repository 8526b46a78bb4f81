/**
 * Networking's part in a container's life (the ContainerHook the lifecycle calls):
 * - create: resolve the network mode and NetworkingConfig, validate ports and links, allocate
 *   an address on every network (kept until the container is removed);
 * - prepare: a pinned netns under <exec-root>/netns/<id>, one veth per network, published ports
 *   held and DNATed, the embedded DNS redirect, /etc/hosts and /etc/resolv.conf; runc then
 *   joins that namespace by path. A namespace of berth's own (rather than runc's) means eth0 is
 *   up before the entrypoint runs, and teardown doesn't depend on the process being alive;
 * - stopped: ports released, veths deleted, the namespace unpinned;
 * - removed: addresses returned to their networks.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, errorMessage, forbidden, invalidParameter, isBerthError, notFound, systemError } from '../util/errors.js';
import { addVeth, deleteLink, deleteLinkInNetns, detachLink, linkExists } from '../sys/ip.js';
import { createNetns, removeNetns } from '../sys/netns.js';
import { restoreChains, ensureJumpInNetns } from '../sys/iptables.js';
import { setSysctlInNetns } from '../sys/sysctl.js';
import { isActive, type ContainerRecord } from '../container/model.js';
import type { ContainerHook, HookContribution } from '../container/manager.js';
import type { NetworkService } from './service.js';
import { allocate, release } from './ipam.js';
import { isValidMac, macForIp, parseIp } from './ipv4.js';
import { holdPort, parsePortKey, wantedBindings, type HeldPort } from './ports.js';
import { extraHostLine, hostsFile, resolvConfFile } from './etcfiles.js';
import { linkEnv, parseLink } from './links.js';
import type { ContainerNetworkState, EndpointRequest, EndpointState, NetworkRecord, PortBinding } from './types.js';
import type { FirewallPort } from './firewall.js';

export type NetworkMode = { kind: 'host' } | { kind: 'none' } | { kind: 'container'; ref: string } | { kind: 'network'; ref: string };

export function parseNetworkMode(mode: string | undefined): NetworkMode {
  if (!mode || mode === 'default' || mode === 'bridge') return { kind: 'network', ref: 'bridge' };
  if (mode === 'host') return { kind: 'host' };
  if (mode === 'none') return { kind: 'none' };
  if (mode.startsWith('container:')) {
    const ref = mode.slice('container:'.length);
    if (!ref) throw invalidParameter(`invalid network mode: ${mode}`);
    return { kind: 'container', ref };
  }
  return { kind: 'network', ref: mode };
}

const DNS_OUT = 'BERTH-DNS-OUTPUT';
const DNS_POST = 'BERTH-DNS-POSTROUTING';

/** dockerd (API < 1.45) adds the container's short ID to its aliases on user-defined networks. */
function withShortId(aliases: string[], id: string): string[] {
  const short = id.slice(0, 12);
  return aliases.includes(short) ? [...aliases] : [...aliases, short];
}

export class NetworkHook implements ContainerHook {
  /** prepare writes /etc/hosts and /etc/resolv.conf for every network mode. */
  readonly ownsEtcFiles = true;

  constructor(private readonly net: NetworkService) {}

  private get store(): NetworkService['store'] {
    return this.net.store;
  }

  async create(record: ContainerRecord, body: Record<string, unknown> = {}): Promise<void> {
    const mode = parseNetworkMode(record.hostConfig.NetworkMode);
    const hc = record.hostConfig;
    wantedBindings(hc.PortBindings as Record<string, PortBinding[] | null> | undefined, record.config.ExposedPorts, hc.PublishAllPorts === true);
    for (const key of Object.keys(record.config.ExposedPorts ?? {})) parsePortKey(key);
    const mac = typeof body.MacAddress === 'string' ? body.MacAddress : '';
    if (mac && !isValidMac(mac)) throw invalidParameter(`invalid MAC address: ${mac}`);
    if (mac) record.config.MacAddress = mac;
    const networking = (body.NetworkingConfig ?? {}) as { EndpointsConfig?: Record<string, EndpointRequest | null> | null };
    const requested = networking.EndpointsConfig ?? {};
    record.network = { endpoints: {}, ports: {}, sandboxKey: '', hostVeths: [], interfaces: {} };
    if (mode.kind === 'container') {
      const target = this.net.containers.get(mode.ref);
      if (target.id === record.id) throw invalidParameter('cannot join own network');
      return;
    }
    if (mode.kind === 'host' || mode.kind === 'none') {
      this.predefinedEndpoint(record, mode.kind);
      return;
    }
    for (const link of (hc.Links as string[] | null | undefined) ?? []) {
      const parsed = parseLink(link);
      if (!parsed) throw invalidParameter(`invalid link: ${link}`);
      this.net.containers.get(parsed.name);
    }
    const missing = [mode.ref, ...Object.keys(requested)].some((ref) => !this.store.tryGet(ref === 'default' ? 'bridge' : ref));
    if (missing) {
      record.network.pending = { requested, mac };
      return;
    }
    await this.allocateEndpoints(record, mode.ref, requested, mac);
  }

  /** The endpoints of a bridge/overlay container on its networks (store.get: 404 for a missing one). */
  private async allocateEndpoints(record: ContainerRecord, primaryRef: string, requested: Record<string, EndpointRequest | null>, mac: string): Promise<void> {
    const primary = this.store.get(primaryRef);
    if (primary.driver !== 'bridge' && primary.driver !== 'overlay') {
      // `--network host` spelled as a network name: the predefined host/none networks.
      const predefined = primary.driver === 'null' ? 'none' : 'host';
      record.hostConfig.NetworkMode = predefined;
      this.predefinedEndpoint(record, predefined);
      return;
    }
    const order: Array<[NetworkRecord, EndpointRequest]> = [[primary, findRequest(requested, primary) ?? {}]];
    for (const [ref, req] of Object.entries(requested)) {
      const network = this.store.get(ref === 'default' ? 'bridge' : ref);
      if (network.id !== primary.id) order.push([network, req ?? {}]);
    }
    const allocated: NetworkRecord[] = [];
    try {
      for (const [network, req] of order) {
        // Overlay addresses are claimed in the cluster store, so no two nodes hand out one twice.
        const clusterIp = await this.overlayAddress(network, record.id, req);
        if (network.driver === 'overlay') allocated.push(network);
        const endpoint = this.newEndpoint(record, network, req, order.length === 1 || network.id === primary.id ? mac : '', clusterIp);
        if (network.driver !== 'overlay') allocated.push(network);
        record.network!.endpoints[network.name] = endpoint;
      }
      for (const network of allocated) await this.store.save(network);
    } catch (err) {
      for (const network of allocated) await this.releaseAddress(network, record.id);
      throw err;
    }
  }

  private async overlayAddress(network: NetworkRecord, owner: string, req: EndpointRequest): Promise<string | undefined> {
    if (network.driver !== 'overlay') return undefined;
    if (!this.net.overlay) throw invalidParameter(`network ${network.name} is an overlay network and this daemon has no cluster store`);
    return this.net.overlay.allocateAddress(network, owner, req.IPAMConfig?.IPv4Address || undefined);
  }

  private async releaseAddress(network: NetworkRecord, owner: string, waitForDisk = true): Promise<void> {
    if (network.driver === 'overlay') {
      await this.net.overlay?.releaseAddresses(network, owner);
      return;
    }
    if (!release(network, owner)) return;
    // A release lost to a power cut is harmless: start-up drops addresses whose container is
    // gone. So the file is never torn, but its rename isn't waited for (one fsync fewer on the
    // path every `run --rm` waits on).
    const saved = this.store.save(network, 'contents');
    if (waitForDisk) await saved;
    else saved.catch((err) => this.net.debug(`network ${network.name}: ${errorMessage(err)}`));
  }

  /** host/none containers show their predefined network in inspect, without an address. */
  private predefinedEndpoint(record: ContainerRecord, name: 'host' | 'none'): void {
    const network = this.store.all().find((n) => n.predefined && n.name === name);
    if (!network) return;
    record.network!.endpoints[name] = {
      NetworkID: network.id,
      EndpointID: '',
      Gateway: '',
      IPAddress: '',
      IPPrefixLen: 0,
      MacAddress: '',
      Aliases: null,
      Links: null,
      IPAMConfig: null,
      DNSNames: null,
    };
  }

  private newEndpoint(record: ContainerRecord, network: NetworkRecord, req: EndpointRequest, mac: string, clusterIp?: string): EndpointState {
    if (network.driver !== 'bridge' && network.driver !== 'overlay') throw invalidParameter(`container cannot be connected to the ${network.name} network and another one`);
    const wantedIp = req.IPAMConfig?.IPv4Address || '';
    if (network.isDefaultBridge && wantedIp) throw invalidParameter('user specified IP address is supported on user defined networks only');
    if (network.isDefaultBridge && (req.Aliases ?? []).length) throw invalidParameter('network-scoped alias is supported only for containers in user defined networks');
    const macAddress = mac || req.MacAddress || '';
    if (macAddress && !isValidMac(macAddress)) throw invalidParameter(`invalid MAC address: ${macAddress}`);
    const ip = clusterIp ?? allocate(network, record.id, wantedIp || undefined);
    const pool = this.net.poolOf(network)!;
    return {
      NetworkID: network.id,
      EndpointID: randomBytes(32).toString('hex'),
      Gateway: ipText(pool.gateway),
      IPAddress: ip,
      IPPrefixLen: pool.subnet.prefix,
      MacAddress: macAddress || macForIp(parseIp(ip)!),
      Aliases: network.isDefaultBridge ? (req.Aliases?.length ? [...req.Aliases] : null) : withShortId(req.Aliases ?? [], record.id),
      Links: req.Links?.length ? [...req.Links] : null,
      IPAMConfig: wantedIp ? { IPv4Address: wantedIp } : null,
      DNSNames: network.isDefaultBridge ? null : [record.name, record.id.slice(0, 12), ...(req.Aliases ?? [])],
    };
  }

  async prepare(record: ContainerRecord): Promise<HookContribution> {
    const mode = parseNetworkMode(record.hostConfig.NetworkMode);
    const state = (record.network ??= { endpoints: {}, ports: {}, sandboxKey: '', hostVeths: [], interfaces: {} });
    if (state.pending && mode.kind === 'network') {
      // Networks named at create are looked up now, as dockerd does (404 while still missing).
      await this.allocateEndpoints(record, mode.ref, state.pending.requested, state.pending.mac);
      delete state.pending;
      if (parseNetworkMode(record.hostConfig.NetworkMode).kind !== 'network') return this.prepare(record);
    }
    if (mode.kind === 'host') {
      const files = this.net.hostFiles();
      await writeFile(record.hostsPath, files.hosts);
      await writeFile(record.resolvConfPath, files.resolv);
      return { network: 'host' };
    }
    if (mode.kind === 'container') {
      const target = this.net.containers.get(mode.ref);
      if (!isActive(target.state.status) || target.state.pid <= 0) throw conflict(`cannot join network of a non running container: ${target.id}`);
      const { readFile } = await import('node:fs/promises');
      await writeFile(record.hostsPath, await readFile(target.hostsPath));
      await writeFile(record.resolvConfPath, await readFile(target.resolvConfPath));
      return { network: { path: target.network?.sandboxKey || `/proc/${target.state.pid}/ns/net` } };
    }
    if (mode.kind === 'none') {
      await this.writeEtcFiles(record);
      return { network: 'new' };
    }
    const endpoints = Object.values(state.endpoints);
    const networks = endpoints.map((e) => {
      const network = this.store.tryGet(e.NetworkID);
      if (!network) throw notFound(`network ${e.NetworkID} not found`);
      return network;
    });
    const netns = join(this.net.netnsDir, record.id);
    const env: string[] = [];
    try {
      state.sandboxKey = netns;
      state.hostVeths = [];
      state.interfaces = {};
      // The namespace, the bridges and the /etc files don't depend on each other: made together,
      // and all settled before a failure is cleaned up.
      const settled = await Promise.allSettled([createNetns(netns), ...networks.map((network) => this.net.ensureBridge(network)), this.writeEtcFiles(record)]);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      let routed = false;
      for (let i = 0; i < endpoints.length; i++) {
        const endpoint = endpoints[i]!;
        const network = networks[i]!;
        const hostName = vethName(record.id, network.id);
        // Overlay networks carry traffic between their containers only: no default route there.
        const gateway = !routed && !network.internal && network.driver !== 'overlay' ? endpoint.Gateway : undefined;
        if (gateway) routed = true;
        // A leftover from a crash would block the name; normally there is none to remove.
        if (await linkExists(hostName)) await deleteLink(hostName).catch(() => undefined);
        state.interfaces[network.id] = `eth${i}`;
        await addVeth(netns, { inside: `eth${i}`, hostName, bridge: network.bridge!, mac: endpoint.MacAddress, cidr: `${endpoint.IPAddress}/${endpoint.IPPrefixLen}`, defaultGateway: gateway, hostPid: process.pid, mtu: this.mtuOf(network) }, i === 0);
        state.hostVeths.push(hostName);
        await this.publishOverlay(record, network, endpoint);
      }
      await this.setupDns(record, netns, true);
      await this.publishPorts(record, endpoints, networks);
      env.push(...this.linkEnvironment(record));
    } catch (err) {
      await this.stopped(record);
      if (isBerthError(err)) throw err;
      throw systemError(errorMessage(err));
    }
    return { network: { path: netns }, env };
  }

  private mtuOf(network: NetworkRecord): number | undefined {
    return network.driver === 'overlay' ? this.net.overlay?.mtu : undefined;
  }

  /** Tells every node sharing the cluster store where this endpoint lives. */
  private async publishOverlay(record: ContainerRecord, network: NetworkRecord, endpoint: EndpointState): Promise<void> {
    if (network.driver !== 'overlay' || !this.net.overlay) return;
    await this.net.overlay.publishEndpoint({
      networkId: network.id,
      endpointId: endpoint.EndpointID,
      containerId: record.id,
      name: record.name,
      aliases: endpoint.Aliases ?? [],
      ip: endpoint.IPAddress,
      mac: endpoint.MacAddress,
    });
  }

  private async withdrawOverlay(endpoint: EndpointState): Promise<NetworkRecord | undefined> {
    const network = this.store.tryGet(endpoint.NetworkID);
    if (network?.driver !== 'overlay' || !this.net.overlay) return undefined;
    await this.net.overlay.withdrawEndpoint(network.id, endpoint.EndpointID);
    return network;
  }

  /** 127.0.0.11:53 inside the namespace -> berthd's listener on the first user network's gateway. */
  async setupDns(record: ContainerRecord, netns: string, fresh: boolean): Promise<void> {
    const endpoint = Object.values(record.network?.endpoints ?? {}).find((e) => {
      const network = this.store.tryGet(e.NetworkID);
      return network && !network.isDefaultBridge;
    });
    if (!endpoint) return;
    const listener = this.net.dnsListener(endpoint.NetworkID);
    if (!listener) return;
    if (fresh) await setSysctlInNetns(netns, 'net.ipv4.conf.all.route_localnet', '1');
    await restoreChains(
      [
        {
          table: 'nat',
          chains: [DNS_OUT, DNS_POST],
          rules: [
            ['-A', DNS_OUT, '-d', '127.0.0.11/32', '-p', 'udp', '--dport', '53', '-j', 'DNAT', '--to-destination', `${listener.address}:${listener.udpPort}`],
            ['-A', DNS_OUT, '-d', '127.0.0.11/32', '-p', 'tcp', '--dport', '53', '-j', 'DNAT', '--to-destination', `${listener.address}:${listener.tcpPort}`],
            ['-A', DNS_POST, '-s', '127.0.0.0/8', '-d', `${listener.address}/32`, '-j', 'SNAT', '--to-source', endpoint.IPAddress],
          ],
        },
      ],
      netns,
    );
    if (fresh) {
      await ensureJumpInNetns(netns, 'nat', 'OUTPUT', ['-j', DNS_OUT]);
      await ensureJumpInNetns(netns, 'nat', 'POSTROUTING', ['-j', DNS_POST]);
    }
  }

  private async publishPorts(record: ContainerRecord, endpoints: EndpointState[], networks: NetworkRecord[]): Promise<void> {
    const hc = record.hostConfig;
    const state = record.network!;
    state.ports = {};
    for (const key of Object.keys(record.config.ExposedPorts ?? {})) {
      const k = parsePortKey(key);
      state.ports[`${k.port}/${k.proto}`] = null;
    }
    const wanted = wantedBindings(hc.PortBindings as Record<string, PortBinding[] | null> | undefined, record.config.ExposedPorts, hc.PublishAllPorts === true);
    if (wanted.length === 0) return;
    const index = networks.findIndex((n) => !n.internal);
    if (index < 0) return; // docker publishes nothing for containers only on internal networks
    const target = endpoints[index]!;
    const held: HeldPort[] = [];
    const rules: FirewallPort[] = [];
    try {
      for (const w of wanted) {
        let port: HeldPort;
        try {
          port = await holdPort(w);
        } catch (err) {
          throw systemError(`driver failed programming external connectivity on endpoint ${record.name} (${target.EndpointID}): ${errorMessage(err)}`);
        }
        held.push(port);
        rules.push({ proto: w.proto, hostIp: w.hostIp, hostPort: port.hostPort, containerIp: target.IPAddress, containerPort: w.port });
        const key = `${w.port}/${w.proto}`;
        state.ports[key] = [...(state.ports[key] ?? []), { HostIp: w.hostIp, HostPort: String(port.hostPort) }];
      }
    } catch (err) {
      for (const h of held) h.close();
      throw err;
    }
    this.net.heldPorts.set(record.id, { held, rules });
    await this.net.syncFirewall();
  }

  /** After a daemon restart: every running container's ports and DNS redirect again. */
  async recoverRunning(): Promise<void> {
    for (const record of this.net.containers.all()) {
      if (isActive(record.state.status)) await this.recover(record);
    }
    await this.net.syncFirewall();
  }

  /** Re-holds the ports of a container that kept running while berthd was down. */
  async recover(record: ContainerRecord): Promise<void> {
    const state = record.network;
    if (!state?.sandboxKey) return;
    for (const endpoint of Object.values(state.endpoints)) {
      const network = this.store.tryGet(endpoint.NetworkID);
      if (network?.driver !== 'overlay') continue;
      try {
        await this.net.ensureBridge(network);
        await this.publishOverlay(record, network, endpoint);
      } catch (err) {
        this.net.debug(`overlay endpoint of ${record.id.slice(0, 12)} on ${network.name}: ${errorMessage(err)}`);
      }
    }
    await this.setupDns(record, state.sandboxKey, false).catch((err) => this.net.debug(`dns for ${record.id}: ${errorMessage(err)}`));
    const target = Object.values(state.endpoints).find((e) => !this.store.tryGet(e.NetworkID)?.internal);
    if (!target) return;
    const held: HeldPort[] = [];
    const rules: FirewallPort[] = [];
    for (const [key, bindings] of Object.entries(state.ports)) {
      const k = parsePortKey(key);
      for (const b of bindings ?? []) {
        const port = Number(b.HostPort);
        rules.push({ proto: k.proto, hostIp: b.HostIp, hostPort: port, containerIp: target.IPAddress, containerPort: k.port });
        try {
          held.push(await holdPort({ ...k, hostIp: b.HostIp, hostRange: [port, port] }));
        } catch (err) {
          this.net.debug(`re-holding ${b.HostIp}:${port} for ${record.id}: ${errorMessage(err)}`);
        }
      }
    }
    this.net.heldPorts.set(record.id, { held, rules });
  }

  private linkEnvironment(record: ContainerRecord): string[] {
    const primary = this.primaryNetwork(record);
    if (!primary?.isDefaultBridge) return [];
    const env: string[] = [];
    for (const link of (record.hostConfig.Links as string[] | null | undefined) ?? []) {
      const parsed = parseLink(link)!;
      const target = this.net.containers.get(parsed.name);
      if (!isActive(target.state.status)) throw invalidParameter(`Cannot link to a non running container: /${target.name} AS /${record.name}/${parsed.alias}`);
      const ip = Object.values(target.network?.endpoints ?? {}).find((e) => e.NetworkID === primary.id)?.IPAddress ?? '';
      env.push(...linkEnv({ fullName: `/${record.name}/${parsed.alias}`, alias: parsed.alias, ip, exposed: Object.keys(target.config.ExposedPorts ?? {}), env: target.config.Env ?? [] }));
    }
    return env;
  }

  private primaryNetwork(record: ContainerRecord): NetworkRecord | undefined {
    const first = Object.values(record.network?.endpoints ?? {})[0];
    return first ? this.store.tryGet(first.NetworkID) : undefined;
  }

  async writeEtcFiles(record: ContainerRecord): Promise<void> {
    const endpoints = Object.values(record.network?.endpoints ?? {});
    const primary = this.primaryNetwork(record);
    const hc = record.hostConfig;
    const extra: string[] = [];
    for (const entry of (hc.ExtraHosts as string[] | null | undefined) ?? []) {
      const line = extraHostLine(entry, endpoints[0]?.Gateway ?? '');
      if (line) extra.push(line);
    }
    if (primary?.isDefaultBridge) {
      for (const link of (hc.Links as string[] | null | undefined) ?? []) {
        const parsed = parseLink(link)!;
        const target = this.net.containers.tryGet(parsed.name);
        const ip = Object.values(target?.network?.endpoints ?? {}).find((e) => e.NetworkID === primary.id)?.IPAddress;
        if (target && ip) extra.push(`${ip}\t${parsed.alias} ${target.id.slice(0, 12)} ${target.name}`);
      }
    }
    await writeFile(
      record.hostsPath,
      hostsFile({ extra, selfIp: endpoints[0]?.IPAddress ?? '', hostname: hostnameOf(record), domainname: (record.config.Domainname as string | undefined) ?? '' }),
    );
    // The embedded resolver serves user-defined networks (not the default bridge, nor none).
    const embedded = endpoints.some((e) => {
      const network = this.store.tryGet(e.NetworkID);
      return network !== undefined && !network.isDefaultBridge && (network.driver === 'bridge' || network.driver === 'overlay');
    });
    await writeFile(
      record.resolvConfPath,
      resolvConfFile({
        host: this.net.hostResolvConf(),
        dns: (hc.Dns as string[] | null | undefined) ?? this.net.config.dns,
        dnsSearch: (hc.DnsSearch as string[] | null | undefined) ?? this.net.config.dnsSearch,
        dnsOptions: (hc.DnsOptions as string[] | null | undefined) ?? this.net.config.dnsOptions,
        embedded,
      }),
    );
  }

  async stopped(record: ContainerRecord, options: { removing: boolean } = { removing: false }): Promise<void> {
    const state = record.network;
    const ports = this.net.heldPorts.get(record.id);
    if (ports) {
      for (const h of ports.held) h.close();
      this.net.heldPorts.delete(record.id);
      await this.net.syncFirewall().catch((err) => this.net.debug(`firewall: ${errorMessage(err)}`));
    }
    if (!state) return;
    state.ports = {};
    const overlays: NetworkRecord[] = [];
    if (state.sandboxKey) {
      for (const endpoint of Object.values(state.endpoints)) {
        const network = await this.withdrawOverlay(endpoint);
        if (network) overlays.push(network);
      }
    }
    // Unplugged and down, a host end carries no traffic at once; the pair goes with the
    // namespace (unpinned alongside) in the kernel's own cleanup. Deleting it here would wait for
    // RCU grace periods on the path `run --rm` waits on. A leftover that still has the name when
    // the container starts again is deleted then (prepare).
    const sandboxKey = state.sandboxKey;
    await Promise.all([
      ...(state.hostVeths ?? []).map((veth) => detachLink(veth).catch(() => undefined)),
      sandboxKey ? removeNetns(sandboxKey).catch((err) => this.net.debug(`netns ${sandboxKey}: ${errorMessage(err)}`)) : undefined,
      // An --rm container whose removal follows never runs again: its addresses go now, beside
      // the rest, rather than as one more step before the removal answers, and the removal
      // doesn't wait for the file (start-up drops addresses whose container is gone). The
      // address's MAC is derived from it, so a new container taking it at once meets no stale
      // neighbour entry.
      options.removing ? this.releaseAddresses(record, { waitForDisk: false }) : undefined,
    ]);
    state.hostVeths = [];
    state.interfaces = {};
    state.sandboxKey = '';
    for (const network of overlays) await this.net.releaseOverlayIfUnused(network);
  }

  async removed(record: ContainerRecord): Promise<void> {
    await this.releaseAddresses(record);
  }

  /**
   * Returns the container's addresses to their networks (none left: nothing is written). In
   * memory at once; without waitForDisk a bridge network's file is written behind (saves of one
   * network are ordered, and shutdown waits for them).
   */
  private async releaseAddresses(record: ContainerRecord, options: { waitForDisk: boolean } = { waitForDisk: true }): Promise<void> {
    for (const endpoint of Object.values(record.network?.endpoints ?? {})) {
      const network = this.store.tryGet(endpoint.NetworkID);
      if (network) await this.releaseAddress(network, record.id, options.waitForDisk);
    }
  }

  // ---- connect / disconnect (POST /networks/{id}/connect|disconnect) ----

  async connect(networkRef: string, containerRef: string, req: EndpointRequest): Promise<void> {
    const network = this.store.get(networkRef);
    const record = this.net.containers.get(containerRef);
    const mode = parseNetworkMode(record.hostConfig.NetworkMode);
    if (network.driver !== 'bridge' && network.driver !== 'overlay') throw forbidden(`container cannot be disconnected from host network or connected to host network`);
    if (mode.kind !== 'network') throw forbidden(`container sharing network namespace with another container or host cannot be connected to any other network`);
    const state = (record.network ??= { endpoints: {}, ports: {}, sandboxKey: '', hostVeths: [], interfaces: {} });
    if (Object.values(state.endpoints).some((e) => e.NetworkID === network.id)) {
      throw forbidden(`endpoint with name ${record.name} already exists in network ${network.name}`);
    }
    const clusterIp = await this.overlayAddress(network, record.id, req);
    let endpoint: EndpointState;
    try {
      endpoint = this.newEndpoint(record, network, req, '', clusterIp);
    } catch (err) {
      if (clusterIp) await this.releaseAddress(network, record.id);
      throw err;
    }
    try {
      if (state.sandboxKey && isActive(record.state.status)) {
        const used = new Set(Object.values(state.interfaces ?? {}));
        let index = 0;
        while (used.has(`eth${index}`)) index++;
        const hostName = vethName(record.id, network.id);
        await this.net.ensureBridge(network);
        (state.interfaces ??= {})[network.id] = `eth${index}`;
        await addVeth(state.sandboxKey, { inside: `eth${index}`, hostName, bridge: network.bridge!, mac: endpoint.MacAddress, cidr: `${endpoint.IPAddress}/${endpoint.IPPrefixLen}`, hostPid: process.pid, mtu: this.mtuOf(network) }, false);
        state.hostVeths.push(hostName);
        state.endpoints[network.name] = endpoint;
        await this.publishOverlay(record, network, endpoint);
        const usesDns = Object.values(state.endpoints).filter((e) => !this.store.tryGet(e.NetworkID)?.isDefaultBridge).length === 1 && !network.isDefaultBridge;
        if (usesDns) await this.setupDns(record, state.sandboxKey, true);
        await this.writeEtcFiles(record);
      } else {
        state.endpoints[network.name] = endpoint;
      }
    } catch (err) {
      delete state.endpoints[network.name];
      await this.releaseAddress(network, record.id);
      throw err;
    }
    await this.store.save(network);
    await this.net.containers.save(record);
  }

  async disconnect(networkRef: string, containerRef: string, force: boolean): Promise<void> {
    const network = this.store.tryGet(networkRef);
    if (!network && !force) throw notFound(`network ${networkRef} not found`);
    const record = this.net.containers.get(containerRef);
    const state = record.network;
    const name = Object.entries(state?.endpoints ?? {}).find(([, e]) => e.NetworkID === network?.id || e.NetworkID === networkRef)?.[0];
    if (!state || !name) {
      if (network && (network.driver === 'host' || network.driver === 'null')) throw forbidden('container cannot be disconnected from host network or connected to host network');
      throw forbidden(`container ${record.id} is not connected to network ${network?.name ?? networkRef}`);
    }
    const endpoint = state.endpoints[name]!;
    if (state.sandboxKey && isActive(record.state.status)) {
      const inside = state.interfaces?.[endpoint.NetworkID];
      if (inside) delete state.interfaces[endpoint.NetworkID];
      if (inside) await deleteLinkInNetns(state.sandboxKey, inside).catch((err) => this.net.debug(`disconnect: ${errorMessage(err)}`));
      state.hostVeths = state.hostVeths.filter((v) => v !== vethName(record.id, endpoint.NetworkID));
      await this.withdrawOverlay(endpoint);
    }
    delete state.endpoints[name];
    if (network) await this.releaseAddress(network, record.id);
    await this.net.containers.save(record);
    if (network) await this.net.releaseOverlayIfUnused(network);
  }
}

function findRequest(requested: Record<string, EndpointRequest | null>, network: NetworkRecord): EndpointRequest | undefined {
  for (const [ref, req] of Object.entries(requested)) {
    if (ref === network.name || ref === network.id || (ref === 'default' && network.isDefaultBridge) || (ref.length >= 12 && network.id.startsWith(ref))) return req ?? {};
  }
  return undefined;
}

function ipText(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function hostnameOf(record: ContainerRecord): string {
  return (record.config.Hostname as string | undefined) || record.id.slice(0, 12);
}

/** Host end of a container's veth on a network: stable, short (IFNAMSIZ) and unique. */
export function vethName(containerId: string, networkId: string): string {
  return `veth${createHash('sha256').update(`${containerId}/${networkId}`).digest('hex').slice(0, 7)}`;
}

export type { ContainerNetworkState };
