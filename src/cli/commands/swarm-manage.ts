/**
 * `berth swarm manage`: runs a cluster manager in the foreground until SIGINT/SIGTERM. It speaks
 * the Engine API on -H, finds nodes through the discovery URL, places containers with the
 * scheduler, and with --replication elects one primary among several managers.
 */
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { StatusError, type CommandSpec } from '../command.js';
import { FlagError } from '../flags.js';
import { parseHost } from '../../client/host.js';
import { errorMessage } from '../../util/errors.js';
import type { StrategyName } from '../../cluster/types.js';
import type { ServerTls, TlsMaterial } from '../../cluster/manager/index.js';
import type { Etcd3 } from 'etcd3';

const STRATEGIES: StrategyName[] = ['spread', 'binpack', 'random'];

function readPem(what: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new StatusError(`could not load the TLS ${what} ${path}: ${errorMessage(err)}`, 1);
  }
}

/** The machine store's CA and client cert (docker-machine's certs/ layout), if it has them. */
async function storeClientTls(flag: string | undefined): Promise<TlsMaterial | undefined> {
  const { storagePath } = await import('../../cluster/machine/store.js');
  const certDir = join(storagePath(flag), 'certs');
  const [ca, cert, key] = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => join(certDir, f)) as [string, string, string];
  if (!existsSync(ca) || !existsSync(cert) || !existsSync(key)) {
    if (flag !== undefined) throw new StatusError(`machine store ${flag} has no client certificate (${certDir}/{ca,cert,key}.pem)`, 1);
    return undefined;
  }
  return { ca: readPem('CA certificate', ca), cert: readPem('certificate', cert), key: readPem('key', key), verify: true };
}

export const command: CommandSpec = {
  use: 'swarm manage [OPTIONS] DISCOVERY_URL',
  short: 'Run a cluster manager that serves the Engine API for the nodes in DISCOVERY_URL',
  flags: [
    { name: 'host', short: 'H', type: 'string', help: 'Address to serve the Engine API on (tcp://ADDR:PORT or unix://PATH)', default: 'tcp://127.0.0.1:2375' },
    { name: 'strategy', type: 'string', help: 'Placement strategy: spread, binpack or random', default: 'spread' },
    { name: 'replication', type: 'bool', help: 'Elect a primary among managers (etcd:// discovery); backups forward to it' },
    { name: 'advertise', type: 'string', help: 'HOST:PORT at which other managers and clients reach this manager (with --replication)' },
    { name: 'replication-ttl', type: 'duration', help: 'Leader lease TTL: how long a dead primary keeps the role', default: '10s' },
    { name: 'engine-refresh-interval', type: 'duration', help: 'How often each node is re-read (events also trigger a read)', default: '30s' },
    { name: 'tls', type: 'bool', help: 'Serve TLS (implied by --tlsverify)' },
    { name: 'tlsverify', type: 'bool', help: 'Serve TLS and require client certificates signed by --tlscacert; dial nodes with --tlscert' },
    { name: 'tlscacert', type: 'string', help: 'Trust certs signed only by this CA' },
    { name: 'tlscert', type: 'string', help: 'TLS certificate (served, and presented to nodes)' },
    { name: 'tlskey', type: 'string', help: 'TLS key' },
    { name: 'reconcile-interval', type: 'duration', help: 'How often the primary compares services with their tasks (etcd:// discovery)', default: '1s' },
    { name: 'storage-path', type: 'string', help: 'Machine store whose client certificate dials the nodes: TLS nodes (port 2376) without --tls flags, every TCP node and the primary with them' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const discoveryUrl = args.args[0]!;
    const strategy = (args.string('strategy') ?? 'spread') as StrategyName;
    if (!STRATEGIES.includes(strategy)) throw new FlagError(`invalid argument "${strategy}" for "--strategy" flag: expected spread, binpack or random`);
    const listen = args.string('host') ?? 'tcp://127.0.0.1:2375';
    try {
      parseHost(listen);
    } catch (err) {
      throw new FlagError(`invalid argument "${listen}" for "-H, --host" flag: ${errorMessage(err)}`);
    }
    const replication = args.bool('replication');
    const advertise = args.string('advertise');
    if (replication && !advertise) throw new FlagError('--replication needs --advertise HOST:PORT (the address other managers and clients reach this manager at)');
    const refreshSecs = args.changed.has('engine-refresh-interval') ? args.int('engine-refresh-interval')! : 30;
    const ttlSecs = args.changed.has('replication-ttl') ? args.int('replication-ttl')! : 10;
    if (!(refreshSecs > 0)) throw new FlagError('--engine-refresh-interval must be positive');

    const verify = args.bool('tlsverify');
    const wantTls = verify || args.bool('tls');
    let serverTls: ServerTls | undefined;
    let clientTls: ((addr: string) => TlsMaterial | undefined) | undefined;
    if (wantTls || args.string('tlscert')) {
      const cert = args.string('tlscert');
      const key = args.string('tlskey');
      if (!cert || !key) throw new FlagError('TLS needs --tlscert and --tlskey');
      const ca = args.string('tlscacert');
      if (verify && !ca) throw new FlagError('--tlsverify needs --tlscacert');
      const material = { cert: readPem('certificate', cert), key: readPem('key', key), ca: ca ? readPem('CA certificate', ca) : undefined };
      if (wantTls) serverTls = { ...material, ca: material.ca, verify };
      // Classic swarm presents the same certificate to the nodes it dials. A machine store named
      // with --storage-path supplies its client cert instead: a machine's server cert (serverAuth
      // only) is refused as a client cert by the nodes and by a primary manager.
      const store = args.changed.has('storage-path') ? await storeClientTls(args.string('storage-path')) : undefined;
      clientTls = (addr) => (addr.startsWith('unix://') ? undefined : (store ?? { ...material, verify: material.ca !== undefined }));
    } else {
      const material = await storeClientTls(args.string('storage-path'));
      // docker's convention: 2376 is the TLS port, so machines made by `berth machine create` are dialed with the store's client cert.
      if (material) clientTls = (addr) => (/:2376$/.test(addr) ? material : undefined);
    }

    const log = (message: string): void => void ctx.stderr.write(`${new Date().toISOString()} ${message}\n`);
    const [{ startManager }, { openDiscovery }, scheduler] = await Promise.all([
      import('../../cluster/manager/index.js'),
      import('../../cluster/discovery/index.js'),
      import('../../cluster/scheduler/index.js'),
    ]);
    let discovery;
    try {
      discovery = openDiscovery(discoveryUrl, { onError: (err) => log(`discovery: ${err.message}`) });
    } catch (err) {
      throw new StatusError(errorMessage(err), 1);
    }
    // Swarm-mode services keep their desired state in the discovery etcd, through its client.
    let services: { store: { client: Etcd3; prefix: string }; reconcileIntervalMs: number } | undefined;
    const { EtcdDiscovery, parseDiscoveryUrl } = await import('../../cluster/discovery/index.js');
    if (discovery instanceof EtcdDiscovery) {
      const parsed = parseDiscoveryUrl(discoveryUrl);
      const reconcileSecs = args.changed.has('reconcile-interval') ? args.int('reconcile-interval')! : 1;
      if (!(reconcileSecs > 0)) throw new FlagError('--reconcile-interval must be positive');
      if (parsed.kind === 'etcd') services = { store: { client: discovery.conn.client, prefix: parsed.prefix }, reconcileIntervalMs: reconcileSecs * 1000 };
    }
    let election;
    if (replication) {
      const { openElection } = await import('../../cluster/election.js');
      try {
        election = openElection(discoveryUrl, { ttlSeconds: Math.max(1, Math.round(ttlSecs)), onError: (err) => log(`election: ${err.message}`) });
      } catch (err) {
        throw new StatusError(errorMessage(err), 1);
      }
    }
    const manager = await startManager({
      listen,
      discovery,
      placement: { schedule: scheduler.schedule, stripHints: (body) => scheduler.stripSchedulingHints(body).body },
      strategy,
      refreshIntervalMs: refreshSecs * 1000,
      replication: election && advertise ? { election, advertise } : undefined,
      serverTls,
      clientTls,
      log,
      services,
    }).catch((err: unknown) => {
      void discovery.close();
      throw new StatusError(`swarm manage: ${errorMessage(err)}`, 1);
    });
    log(`manager listening on ${manager.address}${serverTls ? ' (TLS)' : ''}, strategy ${strategy}, discovery ${discoveryUrl}`);
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    });
    log('shutting down');
    await manager.close();
    await (election as { close?: () => Promise<void> } | undefined)?.close?.().catch(() => undefined);
    await discovery.close().catch(() => undefined);
    return 0;
  },
};
