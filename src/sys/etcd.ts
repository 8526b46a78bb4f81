/**
 * Runs the system's etcd (/usr/bin/etcd from Debian's etcd-server) as a single-member store for
 * `berth swarm etcd`. Only this room spawns it; production clusters run etcd themselves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';

export const ETCD_BINARY = process.env.BERTH_ETCD ?? '/usr/bin/etcd';

export interface EtcdMemberOptions {
  name: string;
  dataDir: string;
  /** host:port for clients; the peer port is the next one up. */
  clientHost: string;
  clientPort: number;
  /** The address clients are told to use (differs from clientHost when listening on 0.0.0.0). */
  advertiseHost: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** Starts one etcd member whose output goes to our stderr; the caller waits with etcdHealthy(). */
export function spawnEtcdMember(options: EtcdMemberOptions): ChildProcess {
  const host = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  const client = `http://${host(options.clientHost)}:${options.clientPort}`;
  const peer = `http://${host(options.clientHost)}:${options.clientPort + 1}`;
  const advertisePeer = `http://${host(options.advertiseHost)}:${options.clientPort + 1}`;
  return spawn(
    ETCD_BINARY,
    [
      '--name', options.name,
      '--data-dir', options.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', `http://${host(options.advertiseHost)}:${options.clientPort}`,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', advertisePeer,
      '--initial-cluster', `${options.name}=${advertisePeer}`,
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      '--log-level', options.logLevel ?? 'warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
}

/** GET /health on the client URL: true once the member has a leader and serves requests. */
export function etcdHealthy(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/health', timeout: 1_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(Buffer.concat(chunks).toString())));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
