/**
 * berthd: parse dockerd-style flags, take the data-root lock, open the stores, recover the
 * containers that outlived the previous daemon, and serve the Engine API until SIGTERM/SIGINT.
 * Containers keep running when berthd stops: each has its own monitor.
 */
import { mkdirSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import { USAGE, loadConfig, parseDaemonArgs } from './config.js';
import { acquirePidLock, claimSocketPath } from './lock.js';
import { openDaemon } from './wire.js';
import { createApiServer } from '../api/server.js';
import { BERTH_VERSION } from '../api/version.js';
import { errorMessage, invalidParameter } from '../util/errors.js';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

function socketPathOf(host: string): string {
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw invalidParameter(`unsupported host ${host}: berthd listens on unix://PATH sockets`);
}

async function main(): Promise<void> {
  const parsed = parseDaemonArgs(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`Berth version ${BERTH_VERSION}\n`);
    return;
  }
  const config = await loadConfig(parsed.flags);
  const debug = config.debug ? (m: string) => log(`debug: ${m}`) : () => undefined;
  mkdirSync(config.dataRoot, { recursive: true, mode: 0o710 });
  mkdirSync(config.execRoot, { recursive: true, mode: 0o700 });

  const releaseLock = acquirePidLock(join(config.dataRoot, 'berthd.lock'), `data-root ${config.dataRoot}`);
  mkdirSync(dirname(config.pidfile), { recursive: true });
  const releasePidfile = acquirePidLock(config.pidfile, `pid file ${config.pidfile}`);
  const socketPaths = config.hosts.map(socketPathOf);
  const servers: Server[] = [];
  let daemonClose: (() => Promise<void>) | undefined;

  const shutdown = (signal: string): void => {
    log(`received ${signal}, shutting down (containers keep running)`);
    const closing = daemonClose?.() ?? Promise.resolve();
    for (const server of servers) {
      server.close();
      server.closeAllConnections();
    }
    // Networking removes its bridges and rules when no container runs; never wait long for it.
    const deadline = new Promise((resolve) => setTimeout(resolve, 5_000));
    void Promise.race([closing.catch((err: unknown) => log(`shutdown: ${errorMessage(err)}`)), deadline]).finally(() => {
      releasePidfile();
      releaseLock();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    for (const path of socketPaths) await claimSocketPath(path);
    const daemon = await openDaemon(config, debug);
    daemonClose = async () => {
      daemon.containers.close();
      await daemon.networks?.shutdown();
    };
    for (const path of socketPaths) {
      mkdirSync(dirname(path), { recursive: true });
      const server = createApiServer(daemon, debug);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => resolve());
      });
      chmodSync(path, 0o660);
      servers.push(server);
      log(`API listening on ${path}`);
    }
    log(`berthd ${BERTH_VERSION} started: data-root ${config.dataRoot}, exec-root ${config.execRoot}`);
  } catch (err) {
    releasePidfile();
    releaseLock();
    throw err;
  }
}

main().catch((err: unknown) => {
  log(`failed to start daemon: ${errorMessage(err)}`);
  process.exit(1);
});
