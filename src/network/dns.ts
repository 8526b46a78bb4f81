/**
 * The embedded DNS server of user-defined networks. berthd listens (UDP and TCP) on each such
 * network's gateway address, on a port the kernel picks; inside every container of the network
 * a DNAT rule sends 127.0.0.11:53 there and an SNAT rule gives the query the container's own
 * address as source. So the asker is known by its source address, and answers are scoped to the
 * networks it shares with the names it asks for. Other names go to the upstream resolvers.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { buildReply, parseQuery, RCODE_NXDOMAIN, RCODE_SERVFAIL } from './dnsmsg.js';

export type Resolution = { kind: 'local'; addresses: string[] } | { kind: 'forward' };

export interface DnsResolver {
  /** What `asker` (a container address) should get for `name`. */
  resolve(asker: string, name: string): Resolution;
  upstreams(): string[];
}

export interface DnsListener {
  address: string;
  udpPort: number;
  tcpPort: number;
  close(): void;
}

const FORWARD_TIMEOUT_MS = 3_000;

/** Sends a query to the upstreams in turn over UDP; the first answer wins. */
async function forward(query: Buffer, upstreams: string[]): Promise<Buffer | undefined> {
  for (const upstream of upstreams) {
    const [host, portText] = upstream.includes(':') && !upstream.includes('::') ? upstream.split(':') : [upstream, '53'];
    const reply = await new Promise<Buffer | undefined>((resolve) => {
      const socket = dgram.createSocket(net.isIPv6(host!) ? 'udp6' : 'udp4');
      const done = (value: Buffer | undefined): void => {
        clearTimeout(timer);
        socket.close();
        resolve(value);
      };
      const timer = setTimeout(() => done(undefined), FORWARD_TIMEOUT_MS);
      socket.on('error', () => done(undefined));
      socket.on('message', (msg) => done(msg));
      socket.send(query, Number(portText), host!);
    });
    if (reply) return reply;
  }
  return undefined;
}

async function answer(resolver: DnsResolver, asker: string, query: Buffer): Promise<Buffer | undefined> {
  const q = parseQuery(query);
  if (!q) return undefined;
  const result = resolver.resolve(asker, q.name);
  if (result.kind === 'local') return buildReply(query, q, 0, result.addresses);
  const upstreams = resolver.upstreams();
  if (upstreams.length === 0) return buildReply(query, q, RCODE_NXDOMAIN, []);
  return (await forward(query, upstreams)) ?? buildReply(query, q, RCODE_SERVFAIL, []);
}

export async function listenDns(address: string, resolver: DnsResolver): Promise<DnsListener> {
  const udp = dgram.createSocket('udp4');
  // A forwarded query can outlive the listener (closed when its network goes from this node):
  // its late answer is dropped rather than sent on a closed socket, which would throw.
  let closed = false;
  udp.on('message', (msg, rinfo) => {
    void answer(resolver, rinfo.address, msg).then((reply) => {
      if (reply && !closed) udp.send(reply, rinfo.port, rinfo.address, () => undefined);
    });
  });
  udp.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind({ address, port: 0 }, () => resolve());
  });
  const tcp = net.createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const len = buffered.readUInt16BE(0);
        const query = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        void answer(resolver, socket.remoteAddress?.replace(/^::ffff:/, '') ?? '', query).then((reply) => {
          if (!reply || socket.destroyed) return;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([prefix, reply]));
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen({ host: address, port: 0 }, () => resolve());
  });
  return {
    address,
    udpPort: udp.address().port,
    tcpPort: (tcp.address() as net.AddressInfo).port,
    close: () => {
      if (closed) return;
      closed = true;
      udp.close();
      tcp.close();
    },
  };
}
