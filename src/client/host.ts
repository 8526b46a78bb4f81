/**
 * Where the daemon listens. Precedence follows docker: the -H flag, then the environment
 * (BERTH_HOST first so berth and docker can point at different daemons), then the default socket.
 */
export const DEFAULT_HOST = 'unix:///run/berth/berth.sock';

/** PEM material for a TLS connection; `verify` checks the daemon's cert against `ca` (else any cert is taken). */
export interface ClientTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  verify: boolean;
}

export type DaemonAddress =
  | { kind: 'unix'; url: string; socketPath: string }
  | { kind: 'tcp'; url: string; host: string; port: number; tls?: ClientTls };

export function chooseHost(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env.BERTH_HOST || env.DOCKER_HOST || DEFAULT_HOST;
}

export function parseHost(url: string): DaemonAddress {
  if (url.startsWith('unix://')) {
    const socketPath = url.slice('unix://'.length);
    if (!socketPath) throw new Error(`invalid host: ${url}: unix socket path is empty`);
    return { kind: 'unix', url, socketPath };
  }
  // A bare "host:port" is docker's shorthand for tcp.
  const rest = url.startsWith('tcp://') ? url.slice(6) : url.startsWith('http://') ? url.slice(7) : url.startsWith('https://') ? url.slice(8) : url.includes('://') ? null : url;
  if (rest === null) throw new Error(`invalid host: ${url}: unsupported protocol`);
  const hostPort = rest.replace(/\/+$/, '');
  const m = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(hostPort);
  if (!m) throw new Error(`invalid host: ${url}`);
  const host = (m[1] || '127.0.0.1').replace(/^\[|\]$/g, '');
  const port = m[2] ? Number(m[2]) : 2375;
  return { kind: 'tcp', url: `tcp://${m[1] || '127.0.0.1'}:${port}`, host, port };
}
