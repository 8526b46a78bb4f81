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
  // The token realm names the bound port, so bind first; the listener is attached before
  // anyone is told the address.
  const server = createHttpServer(tls);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const registry = new RegistryServer(await serverOptions(config, bound, log));
  await registry.init();
  server.on('request', registry.listener);
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
