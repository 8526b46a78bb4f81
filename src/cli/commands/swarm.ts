/**
 * `berth swarm join|list|etcd`: the node agent, a look at what discovery holds, and a
 * single-member etcd for trials. (`swarm manage` lives in swarm-manage.ts.) Each command
 * imports its cluster code only when it runs, so the registry entry stays one line.
 */
import { homedir } from 'node:os';
import { join as joinPath } from 'node:path';
import { StatusError, type CommandSpec } from '../command.js';
import { FlagError } from '../flags.js';
import { errorMessage } from '../../util/errors.js';

function wholeSeconds(value: number | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(value > 0)) throw new FlagError(`invalid argument for "--${flag}" flag: must be positive`);
  return value;
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

export const join: CommandSpec = {
  use: 'swarm join [OPTIONS] DISCOVERY_URL',
  short: "Run a node agent: keep this engine registered in discovery while it answers",
  flags: [
    { name: 'advertise', type: 'string', help: 'HOST:PORT of the engine, as managers dial it (required)' },
    { name: 'ttl', type: 'duration', help: 'How long the entry outlives the last heartbeat', default: '20s' },
    { name: 'heartbeat', type: 'duration', help: 'How often the engine is checked and the entry refreshed', default: '5s' },
    { name: 'engine-host', type: 'string', help: 'Where the agent reaches the engine (default tcp://ADVERTISE; unix:// allowed)' },
    { name: 'tls', type: 'bool', help: 'Dial the engine over TLS (implied by --tlsverify)' },
    { name: 'tlsverify', type: 'bool', help: "Dial the engine over TLS and verify its certificate against --tlscacert" },
    { name: 'tlscacert', type: 'string', help: 'Trust engine certs signed only by this CA' },
    { name: 'tlscert', type: 'string', help: 'Client certificate presented to the engine' },
    { name: 'tlskey', type: 'string', help: 'Client key' },
    { name: 'cert-path', type: 'string', help: 'Directory with ca.pem, cert.pem and key.pem (default $DOCKER_CERT_PATH or ~/.docker)' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const advertise = args.string('advertise');
    if (!advertise) throw new FlagError('--advertise HOST:PORT is required: the engine address managers dial');
    const ttl = wholeSeconds(args.int('ttl'), 'ttl', 20);
    if (!Number.isInteger(ttl)) throw new FlagError(`invalid argument for "--ttl" flag: etcd leases count whole seconds`);
    const heartbeat = wholeSeconds(args.int('heartbeat'), 'heartbeat', 5);
    const { resolveClientAddress } = await import('../../client/tls.js');
    const env = { ...process.env };
    const certPath = args.string('cert-path');
    if (certPath) env.BERTH_CERT_PATH = certPath;
    const engine = resolveClientAddress(args.string('engine-host') ?? `tcp://${advertise}`, {
      tls: args.bool('tls'),
      tlsVerify: args.changed.has('tlsverify') ? args.bool('tlsverify') : undefined,
      tlsCaCert: args.string('tlscacert'),
      tlsCert: args.string('tlscert'),
      tlsKey: args.string('tlskey'),
    }, env);
    const { startAgent } = await import('../../cluster/agent.js');
    const log = (line: string): void => void ctx.stderr.write(`${new Date().toISOString()} ${line}\n`);
    let agent;
    try {
      agent = await startAgent({ advertise, discoveryUrl: args.args[0]!, engine, ttlSeconds: ttl, heartbeatSeconds: heartbeat, log });
    } catch (err) {
      throw new StatusError(`swarm join: ${errorMessage(err)}`, 1);
    }
    const signal = await untilSignal();
    log(`${signal}: deregistering ${advertise}`);
    await agent.stop();
    return 0;
  },
};

export const list: CommandSpec = {
  use: 'swarm list [OPTIONS] DISCOVERY_URL',
  short: 'List the engine addresses registered in DISCOVERY_URL',
  flags: [{ name: 'verbose', short: 'v', type: 'bool', help: 'Also print each entry: name, health, CPUs, memory, labels' }],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const { openDiscovery } = await import('../../cluster/discovery/index.js');
    // One attempt, short deadlines: a listing should fail fast when etcd is down.
    const discovery = openDiscovery(args.args[0]!, { callTimeoutMs: 3_000 });
    try {
      const entries = await discovery.list();
      for (const e of entries) {
        if (!args.bool('verbose')) {
          ctx.stdout.write(`${e.addr}\n`);
          continue;
        }
        const labels = Object.entries(e.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
        const health = e.healthy === undefined ? '-' : e.healthy ? 'healthy' : 'unhealthy';
        ctx.stdout.write(`${e.addr}\t${e.name ?? '-'}\t${health}\t${e.cpus ?? '-'} CPUs\t${e.memory ?? '-'} B\t${labels}\n`);
      }
    } catch (err) {
      throw new StatusError(`swarm list: ${errorMessage(err)}`, 1);
    } finally {
      await discovery.close();
    }
    return 0;
  },
};

export const etcd: CommandSpec = {
  use: 'swarm etcd [OPTIONS]',
  short: 'Run a single-member etcd for trying discovery out (not for production)',
  flags: [
    { name: 'data-dir', type: 'string', help: 'Where etcd keeps its data (default ~/.berth/etcd)' },
    { name: 'listen', type: 'string', help: 'ADDR:PORT for clients; peers use PORT+1', default: '127.0.0.1:2379' },
    { name: 'prefix', type: 'string', help: 'Key prefix shown in the discovery URL', default: 'berth' },
    { name: 'log-level', type: 'string', help: "etcd's log level: debug, info, warn, error", default: 'warn' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const listen = args.string('listen') ?? '127.0.0.1:2379';
    const m = /^(\[[0-9a-fA-F:]+\]|[0-9A-Za-z.-]+):(\d+)$/.exec(listen);
    const port = m ? Number(m[2]) : NaN;
    if (!m || !(port >= 1 && port < 65535)) throw new FlagError(`invalid argument "${listen}" for "--listen" flag: expected ADDR:PORT`);
    const host = m[1]!.replace(/^\[|\]$/g, '');
    const anyAddr = host === '0.0.0.0' || host === '::';
    const advertiseHost = anyAddr ? '127.0.0.1' : host;
    const level = args.string('log-level') ?? 'warn';
    if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new FlagError(`invalid argument "${level}" for "--log-level" flag`);
    const dataDir = args.string('data-dir') ?? joinPath(homedir(), '.berth', 'etcd');
    const { spawnEtcdMember, etcdHealthy, ETCD_BINARY } = await import('../../sys/etcd.js');
    const child = spawnEtcdMember({ name: 'berth', dataDir, clientHost: host, clientPort: port, advertiseHost, logLevel: level as 'warn' });
    const exited = new Promise<number>((resolve) => {
      child.on('error', (err) => {
        ctx.stderr.write(`swarm etcd: cannot run ${ETCD_BINARY}: ${err.message} (install etcd-server)\n`);
        resolve(127);
      });
      child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
    });
    let ready = false;
    const deadline = Date.now() + 30_000;
    let early: number | undefined;
    void exited.then((code) => {
      early = code;
    });
    while (!ready && early === undefined && Date.now() < deadline) {
      ready = await etcdHealthy(advertiseHost, port);
      if (!ready) await new Promise((r) => setTimeout(r, 200));
    }
    if (!ready) {
      child.kill('SIGTERM');
      const code = await exited;
      throw new StatusError(`swarm etcd: etcd ${early !== undefined ? `exited with status ${code}` : 'did not become healthy in 30 s'} (data dir ${dataDir}, listen ${listen})`, 1);
    }
    const urlHost = advertiseHost.includes(':') ? `[${advertiseHost}]` : advertiseHost;
    ctx.stdout.write(`etcd is serving on ${listen}, data in ${dataDir}\n`);
    ctx.stdout.write(`discovery URL: etcd://${urlHost}:${port}/${args.string('prefix') ?? 'berth'}\n`);
    if (anyAddr) ctx.stdout.write(`(agents and managers on other hosts use this host's address instead of ${advertiseHost})\n`);
    const outcome = await Promise.race([untilSignal().then(() => 'signal' as const), exited.then(() => 'exited' as const)]);
    if (outcome === 'exited') throw new StatusError(`swarm etcd: etcd exited with status ${await exited}`, 1);
    child.kill('SIGTERM');
    await exited;
    return 0;
  },
};
