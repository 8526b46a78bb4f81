/**
 * berthd's configuration: dockerd's flags, overlaid on daemon.json (--config-file). As dockerd
 * does, a key given both as a flag and in the file is an error rather than a silent override.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidParameter, isErrno } from '../util/errors.js';

export interface DaemonConfig {
  dataRoot: string;
  execRoot: string;
  hosts: string[];
  pidfile: string;
  configFile: string;
  debug: boolean;
  labels: string[];
  /** TLS on TCP listeners (dockerd's names): --tls serves TLS, --tlsverify also demands a client cert signed by tlscacert. */
  tls: boolean;
  tlsVerify: boolean;
  tlsCaCert: string;
  tlsCert: string;
  tlsKey: string;
  runcPath: string;
  /** The per-container monitor: berth-monitor (built with berthd) or conmon; both speak conmon's protocol. */
  conmonPath: string;
  /** daemon.json "init": containers without HostConfig.Init run docker-init too. */
  init: boolean;
  /** daemon.json "init-path": the init bind-mounted at /sbin/docker-init. */
  initPath: string;
  /** Networking (dockerd's names): the default bridge's name and address, pools, DNS. */
  bridge: string;
  bip: string;
  defaultAddressPools: Array<{ base: string; size: number }>;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** Registries (dockerd's names): plain-http/unverified hosts, Docker Hub mirrors, transfer concurrency. */
  insecureRegistries: string[];
  registryMirrors: string[];
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  /** Overlay networks (dockerd 20.10's classic names): the shared store, this node's address, store options. */
  clusterStore: string;
  clusterAdvertise: string;
  clusterStoreOpts: string[];
}

const DEFAULT_CONFIG_FILE = '/etc/berth/daemon.json';
export const CONMON_PATH = '/usr/bin/conmon';
export const DEFAULT_INIT_PATH = '/usr/bin/tini-static';
/** dockerd's default for --tlscacert/--tlscert/--tlskey. */
const DOCKER_CERT_DIR = join(homedir(), '.docker');

interface FlagSpec {
  key: keyof DaemonConfig;
  names: string[];
  kind: 'string' | 'bool' | 'list' | 'int';
  /** daemon.json key, as dockerd names it. */
  fileKey: string;
}

const FLAGS: FlagSpec[] = [
  { key: 'dataRoot', names: ['--data-root', '-g', '--graph'], kind: 'string', fileKey: 'data-root' },
  { key: 'execRoot', names: ['--exec-root'], kind: 'string', fileKey: 'exec-root' },
  { key: 'hosts', names: ['-H', '--host'], kind: 'list', fileKey: 'hosts' },
  { key: 'pidfile', names: ['-p', '--pidfile'], kind: 'string', fileKey: 'pidfile' },
  { key: 'configFile', names: ['--config-file'], kind: 'string', fileKey: '' },
  { key: 'debug', names: ['-D', '--debug'], kind: 'bool', fileKey: 'debug' },
  { key: 'labels', names: ['--label'], kind: 'list', fileKey: 'labels' },
  { key: 'tls', names: ['--tls'], kind: 'bool', fileKey: 'tls' },
  { key: 'tlsVerify', names: ['--tlsverify'], kind: 'bool', fileKey: 'tlsverify' },
  { key: 'tlsCaCert', names: ['--tlscacert'], kind: 'string', fileKey: 'tlscacert' },
  { key: 'tlsCert', names: ['--tlscert'], kind: 'string', fileKey: 'tlscert' },
  { key: 'tlsKey', names: ['--tlskey'], kind: 'string', fileKey: 'tlskey' },
  { key: 'runcPath', names: ['--runc'], kind: 'string', fileKey: 'runc-path' },
  { key: 'conmonPath', names: ['--monitor'], kind: 'string', fileKey: 'monitor-path' },
  // The older name, from when conmon was the only monitor.
  { key: 'conmonPath', names: ['--conmon'], kind: 'string', fileKey: 'conmon-path' },
  { key: 'init', names: ['--init'], kind: 'bool', fileKey: 'init' },
  { key: 'initPath', names: ['--init-path'], kind: 'string', fileKey: 'init-path' },
  { key: 'bridge', names: ['-b', '--bridge'], kind: 'string', fileKey: 'bridge' },
  { key: 'bip', names: ['--bip'], kind: 'string', fileKey: 'bip' },
  { key: 'dns', names: ['--dns'], kind: 'list', fileKey: 'dns' },
  { key: 'dnsSearch', names: ['--dns-search'], kind: 'list', fileKey: 'dns-search' },
  { key: 'dnsOptions', names: ['--dns-opt'], kind: 'list', fileKey: 'dns-opts' },
  { key: 'insecureRegistries', names: ['--insecure-registry'], kind: 'list', fileKey: 'insecure-registries' },
  { key: 'registryMirrors', names: ['--registry-mirror'], kind: 'list', fileKey: 'registry-mirrors' },
  { key: 'maxConcurrentDownloads', names: ['--max-concurrent-downloads'], kind: 'int', fileKey: 'max-concurrent-downloads' },
  { key: 'maxConcurrentUploads', names: ['--max-concurrent-uploads'], kind: 'int', fileKey: 'max-concurrent-uploads' },
  { key: 'clusterStore', names: ['--cluster-store'], kind: 'string', fileKey: 'cluster-store' },
  { key: 'clusterAdvertise', names: ['--cluster-advertise'], kind: 'string', fileKey: 'cluster-advertise' },
  { key: 'clusterStoreOpts', names: ['--cluster-store-opt'], kind: 'list', fileKey: 'cluster-store-opts' },
];

export const USAGE = `Usage:	berthd [OPTIONS]

A self-sufficient runtime for containers, speaking the Docker Engine API.

Options:
      --config-file string   Daemon configuration file (default "${DEFAULT_CONFIG_FILE}")
      --data-root string     Root directory of persistent Berth state (default "/var/lib/berth")
  -D, --debug                Enable debug mode
      --exec-root string     Root directory for execution state files (default "/run/berth")
  -H, --host list            Daemon socket(s) to connect to (default unix:///run/berth/berth.sock)
      --label list           Set key=value labels to the daemon
      --tls                  Use TLS; implied by --tlsverify
      --tlscacert string     Trust certs signed only by this CA (default "~/.docker/ca.pem")
      --tlscert string       Path to TLS certificate file (default "~/.docker/cert.pem")
      --tlskey string        Path to TLS key file (default "~/.docker/key.pem")
      --tlsverify            Use TLS and verify the remote
  -p, --pidfile string       Path to use for daemon PID file (default "/run/berth.pid")
      --runc string          Path of the runc binary (default "/usr/sbin/runc")
      --monitor string       Per-container monitor binary: berth-monitor or conmon (default: the
                             berth-monitor built with berthd, else "/usr/bin/conmon")
      --init                 Run an init in the containers to forward signals and reap processes
      --init-path string     Path to the docker-init binary (default "/usr/bin/tini-static")
  -b, --bridge string        Attach containers to a network bridge (default "berth0")
      --bip string           Network bridge IP (default: the first free /16 of 172.17-31.0.0)
      --dns list             DNS server to use
      --dns-search list      DNS search domains to use
      --dns-opt list         DNS options to use
      --insecure-registry list           Enable insecure registry communication
      --registry-mirror list             Preferred Docker registry mirror
      --max-concurrent-downloads int     Set the max concurrent downloads (default 3)
      --max-concurrent-uploads int       Set the max concurrent uploads (default 3)
      --cluster-store string             URL of the distributed storage backend (etcd://HOST:PORT[,HOST:PORT][/prefix])
      --cluster-advertise string         Address or interface name to advertise (IP:PORT or INTERFACE:PORT)
      --cluster-store-opt list           Set cluster store options (vxlan.port=4789)
  -v, --version              Print version information and quit
`;

export type ParsedArgs = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; flags: Partial<DaemonConfig> };

export function parseDaemonArgs(argv: string[]): ParsedArgs {
  const flags: Partial<Record<keyof DaemonConfig, unknown>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--version' || arg === '-v') return { kind: 'version' };
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS.find((f) => f.names.includes(name));
    if (!spec) throw invalidParameter(`unknown flag: ${name}`);
    if (spec.kind === 'bool') {
      const value = eq > 0 ? arg.slice(eq + 1) : 'true';
      if (!['true', 'false', '1', '0'].includes(value)) throw invalidParameter(`invalid argument "${value}" for "${name}" flag: parse error`);
      flags[spec.key] = value === 'true' || value === '1';
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else value = argv[++i];
    if (value === undefined) throw invalidParameter(`flag needs an argument: ${name}`);
    if (spec.kind === 'list') flags[spec.key] = [...((flags[spec.key] as string[] | undefined) ?? []), value];
    else if (spec.kind === 'int') {
      if (!/^\d+$/.test(value) || Number(value) < 1) throw invalidParameter(`invalid argument "${value}" for "${name}" flag: must be a positive integer`);
      flags[spec.key] = Number(value);
    } else flags[spec.key] = value;
  }
  return { kind: 'run', flags: flags as Partial<DaemonConfig> };
}

export async function loadConfig(flags: Partial<DaemonConfig>): Promise<DaemonConfig> {
  const configFile = flags.configFile ?? DEFAULT_CONFIG_FILE;
  let file: Record<string, unknown> = {};
  try {
    const text = await readFile(configFile, 'utf8');
    try {
      file = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw invalidParameter(`unable to configure the Berth daemon with file ${configFile}: ${(err as Error).message}`);
    }
    if (typeof file !== 'object' || file === null || Array.isArray(file)) throw invalidParameter(`unable to configure the Berth daemon with file ${configFile}: not a JSON object`);
  } catch (err) {
    // The default file is optional; one named explicitly must exist.
    if (!(isErrno(err, 'ENOENT') && flags.configFile === undefined)) {
      if (isErrno(err, 'ENOENT')) throw invalidParameter(`unable to configure the Berth daemon with file ${configFile}: no such file`);
      throw err;
    }
  }
  if ('monitor-path' in file && 'conmon-path' in file) {
    throw invalidParameter(`unable to configure the Berth daemon with file ${configFile}: "monitor-path" and "conmon-path" name the same setting; keep one`);
  }
  const merged: Partial<Record<keyof DaemonConfig, unknown>> = {};
  for (const spec of FLAGS) {
    if (!spec.fileKey || !(spec.fileKey in file)) continue;
    if (flags[spec.key] !== undefined) {
      throw invalidParameter(
        `unable to configure the Berth daemon with file ${configFile}: the following directives are specified both as a flag and in the configuration file: ${spec.fileKey}`,
      );
    }
    const value = file[spec.fileKey];
    const ok = spec.kind === 'int' ? Number.isSafeInteger(value) && (value as number) >= 1 : spec.kind === 'bool' ? typeof value === 'boolean' : spec.kind === 'list' ? Array.isArray(value) && value.every((v) => typeof v === 'string') : typeof value === 'string';
    if (!ok) throw invalidParameter(`unable to configure the Berth daemon with file ${configFile}: "${spec.fileKey}" has the wrong type`);
    merged[spec.key] = value;
  }
  const pick = <K extends keyof DaemonConfig>(key: K, fallback: DaemonConfig[K]): DaemonConfig[K] =>
    (flags[key] ?? (merged[key] as DaemonConfig[K] | undefined) ?? fallback) as DaemonConfig[K];
  return {
    dataRoot: pick('dataRoot', '/var/lib/berth'),
    execRoot: pick('execRoot', '/run/berth'),
    hosts: pick('hosts', ['unix:///run/berth/berth.sock']),
    pidfile: pick('pidfile', '/run/berth.pid'),
    configFile,
    debug: pick('debug', false),
    labels: engineLabels(pick('labels', [])),
    tls: pick('tls', false),
    tlsVerify: pick('tlsVerify', false),
    tlsCaCert: pick('tlsCaCert', join(DOCKER_CERT_DIR, 'ca.pem')),
    tlsCert: pick('tlsCert', join(DOCKER_CERT_DIR, 'cert.pem')),
    tlsKey: pick('tlsKey', join(DOCKER_CERT_DIR, 'key.pem')),
    runcPath: pick('runcPath', '/usr/sbin/runc'),
    conmonPath: pick('conmonPath', defaultMonitorPath()),
    init: pick('init', false),
    // docker ships tini as docker-init; Debian's tini package has a static build of it, which
    // runs in any image (no libc needed inside).
    initPath: pick('initPath', DEFAULT_INIT_PATH),
    bridge: pick('bridge', ''),
    bip: pick('bip', ''),
    defaultAddressPools: addressPools(file['default-address-pools'], configFile),
    dns: pick('dns', []),
    dnsSearch: pick('dnsSearch', []),
    dnsOptions: pick('dnsOptions', []),
    insecureRegistries: pick('insecureRegistries', []),
    registryMirrors: pick('registryMirrors', []),
    maxConcurrentDownloads: pick('maxConcurrentDownloads', 3),
    maxConcurrentUploads: pick('maxConcurrentUploads', 3),
    clusterStore: pick('clusterStore', ''),
    clusterAdvertise: pick('clusterAdvertise', ''),
    clusterStoreOpts: pick('clusterStoreOpts', []),
  };
}

/**
 * berth-monitor as built next to berthd (DIST/native/berth-monitor; this module runs from the
 * bundle DIST/berthd.mjs or from tsc's DIST/src/daemon/config.js), else Debian's conmon.
 */
export function defaultMonitorPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'native', 'berth-monitor');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return CONMON_PATH;
}

/** daemon.json "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}, ...]. */
function addressPools(value: unknown, configFile: string): Array<{ base: string; size: number }> {
  if (value === undefined) return [];
  const ok =
    Array.isArray(value) &&
    value.every((p) => typeof p === 'object' && p !== null && typeof (p as { base?: unknown }).base === 'string' && Number.isInteger((p as { size?: unknown }).size));
  if (!ok) throw invalidParameter(`unable to configure the Berth daemon with file ${configFile}: "default-address-pools" has the wrong type`);
  return value as Array<{ base: string; size: number }>;
}

/** Engine labels are key=value, as dockerd insists; a bare key or an empty key is refused. */
function engineLabels(labels: string[]): string[] {
  for (const label of labels) {
    const eq = label.indexOf('=');
    if (eq <= 0) throw invalidParameter(`bad attribute format: ${label}: engine labels are key=value`);
  }
  return labels;
}
