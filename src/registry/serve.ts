/** Starts a registry process's server: bind, load auth, announce where it listens. */
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { createHttpServer, RegistryServer } from './server.js';
import { serverOptions, splitAddr, type RegistryConfig } from './config.js';

export interface RunningRegistry {
  server: http.Server;
  registry: RegistryServer;
  /** host:port actually bound (port 0 picks a free one). */
  address: string;
  close(): Promise<void>;
}

export async function startRegistry(config: RegistryConfig, log?: (line: string) => void): Promise<RunningRegistry> {
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) throw new Error('--tls-cert and --tls-key go together');
  const tls = config.tlsCert && config.tlsKey ? { cert: await readFile(config.tlsCert), key: await readFile(config.tlsKey) } : undefined;
  const { host, port } = splitAddr(config.addr);
  // The token realm names the bound port, so bind first. A client probing the port may connect
  // before the registry is initialised: its requests wait in a queue rather than being dropped
  // by a server with no request listener (which leaves the client hanging).
  const server = createHttpServer(tls);
  let handle: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;
  const early: Array<[http.IncomingMessage, http.ServerResponse]> = [];
  server.on('request', (req, res) => (handle ? handle(req, res) : early.push([req, res])));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const registry = new RegistryServer(await serverOptions(config, bound, log));
  await registry.init();
  handle = registry.listener;
  for (const [req, res] of early.splice(0)) handle(req, res);
  return {
    server,
    registry,
    address: `${host}:${bound}`,
    close: async () => {
      registry.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
