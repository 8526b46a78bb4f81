/**
 * The one entry point for discovery: a URL in, a Discovery out (see ./url.ts for the forms,
 * ./etcd.ts for the key layout in etcd).
 */
import type { Discovery } from '../types.js';
import type { BackoffOptions } from '../backoff.js';
import { EtcdDiscovery } from './etcd.js';
import { FileDiscovery, NodesDiscovery } from './static.js';
import { parseDiscoveryUrl } from './url.js';

export { parseDiscoveryUrl, expandRanges, parseNodesFile, DEFAULT_ETCD_PREFIX, type DiscoveryUrl } from './url.js';
export { swarmKeys, EtcdDiscovery } from './etcd.js';

export interface DiscoveryOptions {
  /** Deadline of one etcd request, ms (default 5000). */
  callTimeoutMs?: number;
  /** Retry back-off for etcd (default 250 ms doubling up to 8 s). */
  backoff?: BackoffOptions;
  /** Failures of background work (etcd lease renewal); that work keeps retrying. */
  onError?: (err: Error) => void;
  /** file:// polling interval, ms (default 2000). */
  pollMs?: number;
}

/** Opens etcd://HOST:PORT[,HOST:PORT]/PREFIX, file:///PATH or nodes://ADDR[,ADDR]; throws invalid-parameter on a bad URL. */
export function openDiscovery(url: string, options: DiscoveryOptions = {}): Discovery {
  const parsed = parseDiscoveryUrl(url);
  switch (parsed.kind) {
    case 'etcd':
      return new EtcdDiscovery(parsed.endpoints, parsed.prefix, options);
    case 'file':
      return new FileDiscovery(url, parsed.path, { pollMs: options.pollMs });
    case 'nodes':
      return new NodesDiscovery(url, parsed.addrs);
  }
}
