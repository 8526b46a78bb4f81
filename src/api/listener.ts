/**
 * What every Engine API endpoint berth serves shares, berthd's and the swarm manager's alike:
 * the `/vX.Y` prefix check, and an HTTP or HTTPS server fit for hijacked streams.
 */
import http from 'node:http';
import https from 'node:https';
import { API_VERSION, MIN_API_VERSION, compareVersions } from './version.js';
import { invalidParameter } from '../util/errors.js';

const VERSION_PREFIX = /^\/v(\d+\.\d+)(\/.*)$/;

/** The API version a path asks for (the current one when unversioned) and the path without it. */
export function splitVersion(pathname: string): { version: string; path: string } {
  const m = VERSION_PREFIX.exec(pathname);
  if (!m) return { version: API_VERSION, path: pathname };
  const version = m[1]!;
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw invalidParameter(`client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  if (compareVersions(version, API_VERSION) > 0) {
    throw invalidParameter(`client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  return { version, path: m[2]! };
}

/** PEM material for a TLS listener; with `verify` a client must present a cert signed by `ca`. */
export interface ServerTls {
  cert: Buffer | string;
  key: Buffer | string;
  ca?: Buffer | string;
  verify: boolean;
}

/**
 * A plain or TLS server. https.Server is a tls.Server that emits the same request/upgrade events,
 * so attach and exec hijack a TLSSocket exactly as a plain one. With verify, a client without a
 * cert the CA signed fails in the handshake and never reaches a handler. allowHalfOpen, which
 * http.Server sets and https.Server does not: the docker CLI closes its write side (a TLS
 * close_notify) as soon as it has no stdin to send, and the output must still flow back.
 */
export function createListener(tls: ServerTls | undefined): http.Server | https.Server {
  return tls
    ? https.createServer({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.verify, rejectUnauthorized: tls.verify, minVersion: 'TLSv1.2', allowHalfOpen: true })
    : http.createServer();
}
