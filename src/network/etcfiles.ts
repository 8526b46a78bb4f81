/**
 * The per-container /etc/hosts and /etc/resolv.conf, as dockerd writes them. The container
 * manager bind-mounts the files; the network hook rewrites their content for each run.
 */

export const DEFAULT_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

export interface HostsInput {
  /** "ip\tnames..." lines for --add-host and links, in order. */
  extra: string[];
  /** The container's own address on its first network ('' for none). */
  selfIp: string;
  hostname: string;
  domainname: string;
}

export function hostsFile(input: HostsInput): string {
  const lines = [...DEFAULT_HOSTS, ...input.extra];
  if (input.selfIp) {
    const fqdn = input.domainname ? `${input.hostname}.${input.domainname} ` : '';
    lines.push(`${input.selfIp}\t${fqdn}${input.hostname}`);
  }
  return lines.join('\n') + '\n';
}

/** --add-host "name:ip" (docker also takes "name=ip"); "host-gateway" is the bridge gateway. */
export function extraHostLine(entry: string, hostGateway: string): string | undefined {
  const sep = entry.includes('=') ? entry.indexOf('=') : entry.indexOf(':');
  if (sep <= 0) return undefined;
  const name = entry.slice(0, sep);
  let ip = entry.slice(sep + 1);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') ip = hostGateway;
  return `${ip}\t${name}`;
}

export interface ResolvConf {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const [key, ...values] = line.split(/\s+/);
    if (key === 'nameserver' && values[0]) out.nameservers.push(values[0]);
    else if (key === 'search' || key === 'domain') out.search = values;
    else if (key === 'options') out.options.push(...values);
  }
  return out;
}

export interface ResolvInput {
  host: ResolvConf;
  /** --dns, --dns-search, --dns-option from the container's HostConfig. */
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** On user-defined networks the container asks the embedded server at 127.0.0.11. */
  embedded: boolean;
}

const isLoopback = (ns: string): boolean => ns.startsWith('127.') || ns === '::1';

export function resolvConfFile(input: ResolvInput): string {
  let nameservers: string[];
  let options = input.dnsOptions.length ? input.dnsOptions : input.host.options;
  if (input.embedded) {
    nameservers = ['127.0.0.11'];
    // docker's embedded resolver: names without dots go to it first, not to search domains.
    if (!options.some((o) => o.startsWith('ndots:'))) options = [...options, 'ndots:0'];
  } else {
    nameservers = input.dns.length ? input.dns : input.host.nameservers.filter((ns) => !isLoopback(ns));
    // What dockerd falls back to when the host only has a loopback resolver.
    if (nameservers.length === 0) nameservers = ['8.8.8.8', '8.8.4.4'];
  }
  const search = input.dnsSearch.length ? input.dnsSearch.filter((s) => s !== '.') : input.host.search;
  const lines = nameservers.map((ns) => `nameserver ${ns}`);
  if (search.length) lines.push(`search ${search.join(' ')}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}
