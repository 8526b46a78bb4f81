/**
 * Published ports. The daemon receives docker's HostConfig.PortBindings ("80/tcp" ->
 * [{HostIp, HostPort}]) plus PublishAllPorts; the CLI has already expanded -p ranges. Each
 * binding is backed by a socket berthd holds on the host address: it makes "port is already
 * allocated" true for any other user of the port (another container, another daemon, a host
 * service) and picks ephemeral ports the way the kernel would. The traffic itself never
 * reaches that socket: iptables DNAT sends it to the container first.
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { invalidParameter, systemError } from '../util/errors.js';
import type { PortBinding } from './types.js';

export type Proto = 'tcp' | 'udp' | 'sctp';

export interface PortKey {
  port: number;
  proto: Proto;
}

export interface WantedBinding extends PortKey {
  hostIp: string;
  /** Inclusive range; [0, 0] for an ephemeral port. */
  hostRange: [number, number];
}

/** "80", "80/tcp", "53/udp" -> key; docker's "invalid port specification" otherwise. */
export function parsePortKey(text: string): PortKey {
  const [portText, protoText = 'tcp'] = text.split('/') as [string, string | undefined];
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw invalidParameter(`invalid port specification: "${text}"`);
  const proto = protoText.toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') throw invalidParameter(`invalid proto: ${protoText}`);
  return { port, proto };
}

function parseHostPort(text: string): [number, number] {
  if (text === '' || text === '0') return [0, 0];
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const start = m ? Number(m[1]) : NaN;
  const end = m && m[2] !== undefined ? Number(m[2]) : start;
  if (!m || start < 1 || end > 65535 || end < start) throw invalidParameter(`invalid port specification: "${text}"`);
  return [start, end];
}

/** Validates the create body's port fields; returns what start will bind. */
export function wantedBindings(
  portBindings: Record<string, PortBinding[] | null> | undefined,
  exposed: Record<string, unknown> | undefined,
  publishAll: boolean,
): WantedBinding[] {
  const out: WantedBinding[] = [];
  const seen = new Set<string>();
  for (const [key, list] of Object.entries(portBindings ?? {})) {
    const parsed = parsePortKey(key);
    seen.add(`${parsed.port}/${parsed.proto}`);
    for (const b of list ?? [{ HostIp: '', HostPort: '' }]) {
      const hostIp = b.HostIp || '0.0.0.0';
      if (net.isIPv4(hostIp) === false) {
        if (net.isIPv6(hostIp)) continue; // IPv6 bindings: not supported, skipped like docker without ip6tables
        throw invalidParameter(`invalid IP address: ${b.HostIp}`);
      }
      out.push({ ...parsed, hostIp, hostRange: parseHostPort(b.HostPort ?? '') });
    }
  }
  if (publishAll) {
    for (const key of Object.keys(exposed ?? {})) {
      const parsed = parsePortKey(key);
      if (seen.has(`${parsed.port}/${parsed.proto}`)) continue;
      out.push({ ...parsed, hostIp: '0.0.0.0', hostRange: [0, 0] });
    }
  }
  return out;
}

export interface HeldPort {
  hostIp: string;
  hostPort: number;
  proto: Proto;
  close(): void;
}

function portTaken(hostIp: string, port: number): Error {
  return systemError(`Bind for ${hostIp}:${port} failed: port is already allocated`);
}

async function holdTcp(hostIp: string, port: number): Promise<HeldPort> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: hostIp, port, exclusive: true, backlog: 1 }, () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return { hostIp, hostPort: actual, proto: 'tcp', close: () => server.close() };
}

async function holdUdp(hostIp: string, port: number): Promise<HeldPort> {
  const socket = dgram.createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: hostIp, port, exclusive: true }, () => resolve());
  });
  socket.on('message', () => undefined);
  return { hostIp, hostPort: socket.address().port, proto: 'udp', close: () => socket.close() };
}

/** Holds a host port for one binding: the first free port of its range, or an ephemeral one. */
export async function holdPort(wanted: WantedBinding): Promise<HeldPort> {
  const [start, end] = wanted.hostRange;
  const hold = wanted.proto === 'udp' ? holdUdp : holdTcp;
  // sctp is reserved through a TCP socket: Node has no SCTP sockets, and the number space is shared in practice.
  let lastError: unknown;
  for (let port = start; port <= end; port++) {
    try {
      const held = await hold(wanted.hostIp, port);
      return wanted.proto === 'sctp' ? { ...held, proto: 'sctp' } : held;
    } catch (err) {
      lastError = err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') break;
    }
  }
  const code = (lastError as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRNOTAVAIL') throw systemError(`listen ${wanted.proto} ${wanted.hostIp}:${start}: bind: cannot assign requested address`);
  throw portTaken(wanted.hostIp, start);
}
