/**
 * The manager's HTTP(S) server: the API version prefix, the manager's router, the one error
 * mapping (src/api/errors.ts), hijacked attach/exec, and, on a backup manager, forwarding of
 * every call to the primary through the generic proxy.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { statusOf } from '../../api/errors.js';
import { API_VERSION, BERTH_VERSION } from '../../api/version.js';
import { createListener, splitVersion, type ServerTls } from '../../api/listener.js';
import { BerthError, errorMessage, isBerthError, notImplemented } from '../../util/errors.js';
import { matchUpgrade, type UpgradeHandler } from './routes.js';
import type { Router } from '../../api/router.js';
import { proxyHijack, proxyHttp } from './proxy.js';
import type { Upstream } from './upstream.js';

/** Where a request goes: served here, or forwarded to the primary (a backup manager). */
export type Forwarding = { kind: 'serve' } | { kind: 'forward'; to: Upstream } | { kind: 'unavailable'; message: string };

/** Calls a backup still answers itself: liveness, its version and its own view with its role. */
const LOCAL_ON_BACKUP = new Set(['/_ping', '/version', '/info']);


export interface ManagerServerOptions {
  router: Router;
  upgrade: Record<'attach' | 'exec', UpgradeHandler>;
  forwarding: () => Forwarding;
  tls?: ServerTls;
  log: (message: string) => void;
}

function errorBody(err: unknown): { status: number; body: string } {
  return { status: statusOf(err), body: JSON.stringify({ message: errorMessage(err) }) };
}

export function createManagerServer(options: ManagerServerOptions): ReturnType<typeof createListener> {
  const { router, log } = options;

  const fail = (res: ServerResponse, err: unknown): void => {
    const { status, body } = errorBody(err);
    if (status >= 500 && !isBerthError(err)) log(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };

  const failSocket = (socket: Duplex, err: unknown): void => {
    const { status, body } = errorBody(err);
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    res.setHeader('Server', `Berth-Swarm/${BERTH_VERSION} (linux)`);
    const url = new URL(req.url ?? '/', 'http://manager');
    try {
      const { version, path } = splitVersion(url.pathname);
      const where = options.forwarding();
      if (where.kind !== 'serve' && !LOCAL_ON_BACKUP.has(path)) {
        if (where.kind === 'unavailable') throw new BerthError('unavailable', where.message);
        await proxyHttp(where.to, req, res);
        return;
      }
      const { route, params, pathKnown } = router.match(req.method ?? 'GET', path);
      if (!route?.handler) {
        if (pathKnown) {
          res.writeHead(405, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ message: `method ${req.method} not allowed for ${path}` }));
          return;
        }
        throw notImplemented(`the cluster manager does not support ${req.method} ${path}: it serves containers, images, events, info and version`);
      }
      await route.handler({ req, res, params, query: url.searchParams, apiVersion: version });
    } catch (err) {
      fail(res, err);
    }
  };

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://manager');
    try {
      const { version, path } = splitVersion(url.pathname);
      const where = options.forwarding();
      if (where.kind === 'unavailable') throw new BerthError('unavailable', where.message);
      if (where.kind === 'forward') {
        await proxyHijack(where.to, req, socket, head);
        return;
      }
      const found = matchUpgrade(path);
      if (!found) throw notImplemented(`the cluster manager cannot upgrade ${req.method} ${path}`);
      await options.upgrade[found.kind]({ req, socket, head, params: found.params, query: url.searchParams, apiVersion: version });
    } catch (err) {
      failSocket(socket, err);
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => void onRequest(req, res);
  const server = createListener(options.tls);
  server.on('request', handler);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => void onUpgrade(req, socket, head));
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  return server;
}
