/**
 * What berthd listens on: dockerd's -H forms, parsed apart from main so they can be tested.
 */
import { invalidParameter } from '../util/errors.js';

export type Listener = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** dockerd's -H forms: unix://PATH (or a bare /path) and tcp://ADDR:PORT (2376 with TLS, else 2375). */
export function parseListener(host: string, tls: boolean): Listener {
  if (host.startsWith('unix://')) {
    const path = host.slice('unix://'.length);
    if (!path) throw invalidParameter(`invalid host ${host}: the unix socket path is empty`);
    return { kind: 'unix', path };
  }
  if (host.startsWith('/')) return { kind: 'unix', path: host };
  if (host.startsWith('tcp://')) {
    const m = /^(\[[^\]]*\]|[^:/]*)(?::(\d+))?\/?$/.exec(host.slice('tcp://'.length));
    const port = m?.[2] === undefined ? (tls ? 2376 : 2375) : Number(m[2]);
    if (!m || port < 1 || port > 65535) throw invalidParameter(`invalid host ${host}: want tcp://ADDR:PORT`);
    return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0', port };
  }
  throw invalidParameter(`unsupported host ${host}: berthd listens on unix://PATH and tcp://ADDR:PORT`);
}
