/**
 * Networks as berthd keeps them (persisted one file per network) and a container's attachment
 * to them (kept on the container record, so inspect and restarts see the same addresses).
 */

export type NetworkDriver = 'bridge' | 'host' | 'null' | 'overlay';

export interface IpamPool {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: NetworkDriver;
  created: string;
  internal: boolean;
  attachable: boolean;
  /** The daemon's own bridge/host/none networks: cannot be removed. */
  predefined: boolean;
  /** The default `bridge` network: legacy links, no embedded DNS. */
  isDefaultBridge: boolean;
  ipam: IpamPool[];
  /** The user's --ipam options and driver options (-o), echoed by inspect. */
  ipamOptions: Record<string, string>;
  options: Record<string, string>;
  labels: Record<string, string>;
  /** Linux bridge name (bridge and overlay drivers). */
  bridge?: string;
  /** IPv4 address -> container id; the gateway is never in here. Overlay networks keep theirs in the cluster store. */
  allocations: Record<string, string>;
}

/** One container's attachment to one network (docker's EndpointSettings, kept as it shows). */
export interface EndpointState {
  NetworkID: string;
  EndpointID: string;
  Gateway: string;
  IPAddress: string;
  IPPrefixLen: number;
  MacAddress: string;
  Aliases: string[] | null;
  /** "name:alias" as given to --link on a user network. */
  Links: string[] | null;
  /** --ip asked for; the address stays fixed. */
  IPAMConfig: { IPv4Address?: string } | null;
  DNSNames: string[] | null;
}

export interface PortBinding {
  HostIp: string;
  HostPort: string;
}

/** What the network subsystem keeps on a container record. */
export interface ContainerNetworkState {
  /** Keyed by network name, as docker's NetworkSettings.Networks is. */
  endpoints: Record<string, EndpointState>;
  /** "80/tcp" -> bindings actually in force (null when exposed only); set while running. */
  ports: Record<string, PortBinding[] | null>;
  /** The pinned namespace of the current run ('' when not running or not ours). */
  sandboxKey: string;
  /** Host-side veth names of the current run, for teardown. */
  hostVeths: string[];
  /** Network id -> interface name inside the namespace (eth0, eth1, ...) for this run. */
  interfaces: Record<string, string>;
  /**
   * Endpoints asked for at create on networks that didn't exist then. dockerd looks networks up
   * at start, not create: the container is created and its start fails with "network X not
   * found" (404) until the network exists.
   */
  pending?: { requested: Record<string, EndpointRequest | null>; mac: string };
}

/** An entry of NetworkingConfig.EndpointsConfig (create) or a connect request. */
export interface EndpointRequest {
  Aliases?: string[] | null;
  Links?: string[] | null;
  IPAMConfig?: { IPv4Address?: string } | null;
  MacAddress?: string;
  NetworkID?: string;
}
