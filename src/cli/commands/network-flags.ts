/**
 * run/create's networking flags and docker's -p grammar: [ip:][hostPort:]containerPort[/proto],
 * with ranges on either side ("8080-8081:80-81", "8000-8010:80") and IPv6 hosts in brackets.
 */
import net from 'node:net';
import { FlagError, type FlagSpec, type ParsedArgs } from '../flags.js';

export const NETWORK_FLAGS: FlagSpec[] = [
  { name: 'publish', short: 'p', type: 'stringArray', typeName: 'list', help: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', help: 'Publish all exposed ports to random ports' },
  { name: 'expose', type: 'stringArray', typeName: 'list', help: 'Expose a port or a range of ports' },
  { name: 'network', type: 'string', help: 'Connect a container to a network' },
  { name: 'net', type: 'string', help: 'Connect a container to a network', hidden: true },
  { name: 'network-alias', type: 'stringArray', typeName: 'list', help: 'Add network-scoped alias for the container' },
  { name: 'net-alias', type: 'stringArray', typeName: 'list', help: 'Add network-scoped alias for the container', hidden: true },
  { name: 'add-host', type: 'stringArray', typeName: 'list', help: 'Add a custom host-to-IP mapping (host:ip)' },
  { name: 'dns', type: 'stringArray', typeName: 'list', help: 'Set custom DNS servers' },
  { name: 'dns-search', type: 'stringArray', typeName: 'list', help: 'Set custom DNS search domains' },
  { name: 'dns-option', type: 'stringArray', typeName: 'list', help: 'Set DNS options' },
  { name: 'mac-address', type: 'string', help: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'ip', type: 'string', help: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'link', type: 'stringArray', typeName: 'list', help: 'Add link to another container' },
];

export interface PortMapping {
  /** "80/tcp" */
  key: string;
  hostIp: string;
  hostPort: string;
}

function parseRange(text: string, what: 'containerPort' | 'hostPort'): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const end = m && m[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < (what === 'containerPort' ? 1 : 0) || end > 65535 || end < start) throw new FlagError(`invalid ${what}: ${text}`);
  return [start, end];
}

/** One -p value -> its expanded mappings (docker's nat.ParsePortSpec). */
export function parsePublish(spec: string): PortMapping[] {
  let rest = spec;
  let proto = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    proto = rest.slice(slash + 1).toLowerCase();
    rest = rest.slice(0, slash);
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new FlagError(`invalid proto: ${spec.slice(slash + 1)}`);
  }
  let hostIp = '';
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new FlagError(`invalid IP address: ${rest}`);
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
    if (!net.isIPv6(hostIp)) throw new FlagError(`invalid IP address: ${hostIp}`);
  }
  const parts = rest.split(':');
  let hostPart = '';
  let containerPart: string;
  if (parts.length === 1) containerPart = parts[0]!;
  else if (parts.length === 2) [hostPart, containerPart] = parts as [string, string];
  else if (parts.length === 3 && !hostIp) {
    [hostIp, hostPart, containerPart] = parts as [string, string, string];
    if (!net.isIPv4(hostIp)) throw new FlagError(`invalid IP address: ${hostIp}`);
  } else throw new FlagError(`invalid port format for --publish: ${spec}`);
  if (!containerPart) throw new FlagError(`no port specified: ${spec}<empty>`);
  const [cStart, cEnd] = parseRange(containerPart, 'containerPort');
  let hStart = 0;
  let hEnd = 0;
  if (hostPart) [hStart, hEnd] = parseRange(hostPart, 'hostPort');
  const count = cEnd - cStart + 1;
  if (hostPart && hEnd - hStart + 1 !== count && count !== 1) {
    throw new FlagError(`invalid ranges specified for container and host Ports: ${containerPart} and ${hostPart}`);
  }
  const out: PortMapping[] = [];
  for (let i = 0; i < count; i++) {
    let hostPort = '';
    if (hostPart) hostPort = count === 1 ? (hStart === hEnd ? String(hStart) : `${hStart}-${hEnd}`) : String(hStart + i);
    out.push({ key: `${cStart + i}/${proto}`, hostIp, hostPort });
  }
  return out;
}

/** --expose 80, 80/udp, 8000-8010. */
function parseExpose(spec: string): string[] {
  const [ports, proto = 'tcp'] = spec.split('/') as [string, string | undefined];
  const [start, end] = parseRange(ports, 'containerPort');
  const keys: string[] = [];
  for (let p = start; p <= end; p++) keys.push(`${p}/${proto.toLowerCase()}`);
  return keys;
}

/** Adds the networking fields of a /containers/create body from the flags. */
export function applyNetworkFlags(args: ParsedArgs, body: Record<string, unknown>): void {
  const hostConfig = (body.HostConfig ??= {}) as Record<string, unknown>;
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const spec of args.list('expose')) for (const key of parseExpose(spec)) exposed[key] = {};
  for (const spec of args.list('publish')) {
    for (const m of parsePublish(spec)) {
      exposed[m.key] = {};
      (bindings[m.key] ??= []).push({ HostIp: m.hostIp, HostPort: m.hostPort });
    }
  }
  if (Object.keys(exposed).length) body.ExposedPorts = { ...((body.ExposedPorts as object | undefined) ?? {}), ...exposed };
  if (Object.keys(bindings).length) hostConfig.PortBindings = bindings;
  if (args.bool('publish-all')) hostConfig.PublishAllPorts = true;
  const network = args.string('network') ?? args.string('net');
  if (network) hostConfig.NetworkMode = network;
  const setList = (flag: string, field: string): void => {
    const values = args.list(flag);
    if (values.length) hostConfig[field] = values;
  };
  setList('add-host', 'ExtraHosts');
  setList('dns', 'Dns');
  setList('dns-search', 'DnsSearch');
  setList('dns-option', 'DnsOptions');
  setList('link', 'Links');
  const mac = args.string('mac-address');
  if (mac) body.MacAddress = mac;
  const aliases = [...args.list('network-alias'), ...args.list('net-alias')];
  const ip = args.string('ip');
  if (aliases.length || ip) {
    const endpoint: Record<string, unknown> = {};
    if (aliases.length) endpoint.Aliases = aliases;
    if (ip) endpoint.IPAMConfig = { IPv4Address: ip };
    body.NetworkingConfig = { EndpointsConfig: { [network || 'default']: endpoint } };
  }
}
