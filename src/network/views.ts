/** Docker's JSON for networks (GET /networks, /networks/{id}) and a container's NetworkSettings. */
import { isActive, type ContainerRecord } from '../container/model.js';
import type { NetworkService } from './service.js';
import type { NetworkRecord, PortBinding } from './types.js';

export function networkDocument(service: NetworkService, network: NetworkRecord, withContainers: boolean): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  if (withContainers) {
    for (const c of service.usersOf(network)) {
      if (!isActive(c.state.status)) continue;
      const e = Object.values(c.network!.endpoints).find((x) => x.NetworkID === network.id)!;
      containers[c.id] = {
        Name: c.name,
        EndpointID: e.EndpointID,
        MacAddress: e.MacAddress,
        IPv4Address: `${e.IPAddress}/${e.IPPrefixLen}`,
        IPv6Address: '',
      };
    }
  }
  return {
    Name: network.name,
    Id: network.id,
    Created: network.created,
    // Overlay networks live in the cluster store, shared by every node: docker's "global" scope.
    Scope: network.driver === 'overlay' ? 'global' : 'local',
    Driver: network.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: network.predefined ? null : network.ipamOptions,
      Config: network.ipam.map((p) => ({ Subnet: p.Subnet, Gateway: p.Gateway, ...(p.IPRange ? { IPRange: p.IPRange } : {}) })),
    },
    Internal: network.internal,
    Attachable: network.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: network.options,
    Labels: network.labels,
  };
}

function endpointsView(record: ContainerRecord): Record<string, unknown> {
  const running = isActive(record.state.status);
  const out: Record<string, unknown> = {};
  for (const [name, e] of Object.entries(record.network?.endpoints ?? {})) {
    if (!e.IPAddress) {
      out[name] = emptyEndpoint(e.NetworkID);
      continue;
    }
    // docker shows addresses only while the container runs; ids and config always.
    out[name] = {
      IPAMConfig: e.IPAMConfig,
      Links: e.Links,
      Aliases: e.Aliases,
      MacAddress: running ? e.MacAddress : '',
      NetworkID: e.NetworkID,
      EndpointID: running ? e.EndpointID : '',
      Gateway: running ? e.Gateway : '',
      IPAddress: running ? e.IPAddress : '',
      IPPrefixLen: running ? e.IPPrefixLen : 0,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DriverOpts: null,
      DNSNames: e.DNSNames,
    };
  }
  return out;
}

function emptyEndpoint(networkId: string): Record<string, unknown> {
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: '',
    NetworkID: networkId,
    EndpointID: '',
    Gateway: '',
    IPAddress: '',
    IPPrefixLen: 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DriverOpts: null,
    DNSNames: null,
  };
}

/** Inspect's NetworkSettings; the top-level address fields mirror the default bridge endpoint. */
export function networkSettings(record: ContainerRecord): Record<string, unknown> {
  const running = isActive(record.state.status);
  const state = record.network;
  // The default network is the one named "bridge": user networks can't take that name.
  const bridgeEndpoint = state?.endpoints['bridge'];
  const shown = running ? bridgeEndpoint : undefined;
  const ports: Record<string, PortBinding[] | null> = running ? { ...(state?.ports ?? {}) } : {};
  return {
    Bridge: '',
    SandboxID: running && state?.sandboxKey ? record.id : '',
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    Ports: ports,
    SandboxKey: running ? state?.sandboxKey || (record.state.pid > 0 ? `/proc/${record.state.pid}/ns/net` : '') : '',
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: shown?.EndpointID ?? '',
    Gateway: shown?.Gateway ?? '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: shown?.IPAddress ?? '',
    IPPrefixLen: shown?.IPPrefixLen ?? 0,
    IPv6Gateway: '',
    MacAddress: shown?.MacAddress ?? '',
    Networks: endpointsView(record),
  };
}

/** The list view's Ports (docker's types.Port) and NetworkSettings.Networks. */
export function listPorts(record: ContainerRecord): Array<Record<string, unknown>> {
  if (!isActive(record.state.status)) return [];
  const out: Array<Record<string, unknown>> = [];
  for (const [key, bindings] of Object.entries(record.network?.ports ?? {})) {
    const [port, proto] = key.split('/') as [string, string];
    if (!bindings) {
      out.push({ PrivatePort: Number(port), Type: proto });
      continue;
    }
    for (const b of bindings) out.push({ IP: b.HostIp, PrivatePort: Number(port), PublicPort: Number(b.HostPort), Type: proto });
  }
  return out;
}

export function listNetworks(record: ContainerRecord): Record<string, unknown> {
  return endpointsView(record);
}
