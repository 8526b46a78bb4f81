/**
 * berthd: parse dockerd-style flags, take the data-root lock, open the stores, recover the
 * containers that outlived the previous daemon, and serve the Engine API until SIGTERM/SIGINT.
 * Containers keep running when berthd stops: each has its own monitor.
 */
import { mkdirSync, chmodSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import type { Server as TlsHttpServer } from 'node:https';
import { USAGE, loadConfig, parseDaemonArgs, type DaemonConfig } from './config.js';
import { parseListener } from './listeners.js';
import { acquirePidLock, claimSocketPath } from './lock.js';
import { openDaemon } from './wire.js';
import { createApiServer } from '../api/server.js';
import type { ServerTls } from '../api/listener.js';
import { BERTH_VERSION } from '../api/version.js';
import { errorMessage, invalidParameter } from '../util/errors.js';
import { drainTrash } from '../sys/trash.js';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

/** The TLS material for TCP listeners, read once at start so a bad path fails the start, not the first client. */
function serverTls(config: DaemonConfig): ServerTls | undefined {
  if (!config.tls && !config.tlsVerify) return undefined;
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw invalidParameter(`could not load the TLS ${what} ${path}: ${errorMessage(err)}`);
    }
  };
  return {
    cert: read('certificate', config.tlsCert),
    key: read('key', config.tlsKey),
    ca: config.tlsVerify ? read('CA certificate', config.tlsCaCert) : undefined,
    verify: config.tlsVerify,
  };
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
  const tls = serverTls(config);
  const listeners = config.hosts.map((h) => parseListener(h, tls !== undefined));
  const socketPaths = listeners.flatMap((l) => (l.kind === 'unix' ? [l.path] : []));
  const servers: Array<Server | TlsHttpServer> = [];
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
      await daemon.containers.drain();
      await drainTrash();
      await daemon.networks?.shutdown();
    };
    for (const listener of listeners) {
      const onTcp = listener.kind === 'tcp';
      const server = createApiServer(daemon, debug, onTcp ? tls : undefined);
      if (onTcp && tls) server.on('tlsClientError', (err: Error) => debug(`TLS handshake refused: ${err.message}`));
      if (listener.kind === 'unix') mkdirSync(dirname(listener.path), { recursive: true });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        if (listener.kind === 'unix') server.listen(listener.path, () => resolve());
        else server.listen(listener.port, listener.host, () => resolve());
      });
      servers.push(server);
      if (listener.kind === 'unix') {
        chmodSync(listener.path, 0o660);
        log(`API listening on ${listener.path}`);
      } else {
        if (!tls) log(`warning: API listening on tcp://${listener.host}:${listener.port} without TLS: anyone who reaches it controls this host`);
        else if (!tls.verify) log(`warning: API on tcp://${listener.host}:${listener.port} uses TLS without client verification (--tlsverify)`);
        log(`API listening on ${tls ? 'tls' : 'tcp'}://${listener.host}:${listener.port}`);
      }
    }
    log(`berthd ${BERTH_VERSION} started: data-root ${config.dataRoot}, exec-root ${config.execRoot}`);
  } catch (err) {
    // A listener that fails (address in use, no such address) after networking came up must
    // not leave the default bridge and its iptables chains behind.
    for (const server of servers) server.close();
    await daemonClose?.().catch(() => undefined);
    releasePidfile();
    releaseLock();
    throw err;
  }
}

main().catch((err: unknown) => {
  log(`failed to start daemon: ${errorMessage(err)}`);
  process.exit(1);
});
