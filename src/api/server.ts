/**
 * The Engine API over HTTP on unix sockets and TCP (plain or TLS): version-prefix handling,
 * routing, the single error mapping, and connection hijacking for attach.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Router } from './router.js';
import { createListener, splitVersion, type ServerTls } from './listener.js';
import { statusOf } from './errors.js';
import { API_VERSION, BERTH_VERSION } from './version.js';
import { errorMessage, isBerthError, notFound } from '../util/errors.js';
import type { Daemon } from '../daemon/daemon.js';
import { systemRoutes } from './routes/system.js';
import { containerRoutes } from './routes/containers.js';
import { imageRoutes } from './routes/images.js';
import { distributionRoutes } from './routes/distribution.js';
import { buildRoutes } from './routes/build.js';
import { interactiveRoutes } from './routes/exec.js';
import { opsRoutes } from './routes/ops.js';
import { dataRoutes } from './routes/data.js';
import { networkRoutes } from './routes/networks.js';
import { volumeRoutes } from './routes/volumes.js';
import { archiveRoutes } from './routes/archive.js';

function commonHeaders(res: ServerResponse): void {
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Docker-Experimental', 'false');
  res.setHeader('Ostype', 'linux');
  res.setHeader('Server', `Berth/${BERTH_VERSION} (linux)`);
}

export function buildRouter(daemon: Daemon): Router {
  const router = new Router();
  systemRoutes(router, daemon);
  containerRoutes(router, daemon);
  imageRoutes(router, daemon);
  distributionRoutes(router, daemon);
  buildRoutes(router, daemon);
  interactiveRoutes(router, daemon);
  opsRoutes(router, daemon);
  dataRoutes(router, daemon);
  networkRoutes(router, daemon);
  volumeRoutes(router, daemon);
  archiveRoutes(router, daemon);
  return router;
}

export function createApiServer(daemon: Daemon, debug: (message: string) => void, tls?: ServerTls): ReturnType<typeof createListener> {
  const router = buildRouter(daemon);

  const fail = (res: ServerResponse, err: unknown): void => {
    const status = statusOf(err);
    if (status >= 500) debug(`error: ${errorMessage(err)}${err instanceof Error && err.stack ? `\n${err.stack}` : ''}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (status === 304) {
      res.writeHead(304);
      res.end();
      return;
    }
    const body = JSON.stringify({ message: errorMessage(err) });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const hijack = async (req: IncomingMessage, socket: Duplex, head: Buffer, upgrade: boolean): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://berth');
    let version: string;
    let path: string;
    try {
      ({ version, path } = splitVersion(url.pathname));
    } catch {
      return false;
    }
    const { route, params } = router.match(req.method ?? 'GET', path);
    if (!route?.hijack) return false;
    debug(`${req.method} ${req.url} (hijacked)`);
    try {
      await route.hijack({ req, socket, head, params, query: url.searchParams, apiVersion: version, upgrade });
    } catch (err) {
      debug(`hijack ${path}: ${errorMessage(err)}`);
      socket.destroy();
    }
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    commonHeaders(res);
    const url = new URL(req.url ?? '/', 'http://berth');
    try {
      const { version, path } = splitVersion(url.pathname);
      const { route, params, pathKnown } = router.match(req.method ?? 'GET', path);
      if (route?.hijack) {
        // Old clients attach without an Upgrade header: take the socket over all the same.
        res.detachSocket(req.socket);
        await hijack(req, req.socket, Buffer.alloc(0), false);
        return;
      }
      if (!route?.handler) {
        if (pathKnown) {
          res.writeHead(405, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ message: `method ${req.method} not allowed for ${path}` }));
          return;
        }
        throw notFound(`page not found`);
      }
      debug(`${req.method} ${req.url}`);
      await route.handler({ req, res, params, query: url.searchParams, apiVersion: version });
    } catch (err) {
      if (!isBerthError(err)) debug(`unexpected: ${err instanceof Error ? err.stack : String(err)}`);
      fail(res, err);
    }
  };
  const server = createListener(tls);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => void handle(req, res));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void hijack(req, socket, head, true).then((handled) => {
      if (!handled) socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n{"message":"page not found"}');
    });
  });
  // Streams (logs -f, events, wait) may stay open for a long time.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  return server;
}
