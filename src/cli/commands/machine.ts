/**
 * `berth machine create|ls|inspect|ip|url|env|start|stop|rm|ssh`: docker-machine's verbs over
 * the machine library (src/cluster/machine). These commands never dial the CLI's own daemon.
 */
import { createInterface } from 'node:readline/promises';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import type { FlagSpec, ParsedArgs } from '../flags.js';
import { HeaderMap, renderList, renderOne } from '../render/formatter.js';
import { Machines, envScript, type Shell } from '../../cluster/machine/machines.js';
import { machineCertPaths, storeCertPaths } from '../../cluster/machine/certs.js';
import type { MachineConfig } from '../../cluster/machine/store.js';
import { EngineClient } from '../../client/client.js';

const STORAGE: FlagSpec = { name: 'storage-path', short: 's', type: 'string', help: 'Configures storage path (env BERTH_MACHINE_STORAGE_PATH, MACHINE_STORAGE_PATH; default ~/.berth/machine)' };

const machinesOf = (args: ParsedArgs): Machines => new Machines(args.string('storage-path'));

function fail(message: string, status = 1): never {
  throw new StatusError(message, status);
}

export const machineCreate: CommandSpec = {
  use: 'machine create [OPTIONS] NAME',
  short: 'Create a machine',
  flags: [
    STORAGE,
    { name: 'driver', short: 'd', type: 'string', default: 'netns', help: 'Driver to create machine with (netns, ssh)' },
    { name: 'engine-label', type: 'stringArray', typeName: 'list', help: 'Specify labels for the created engine (key=value)' },
    { name: 'netns-bridge', type: 'string', help: 'netns: host bridge the machine joins (default "berthm0")' },
    { name: 'netns-subnet', type: 'string', help: 'netns: subnet of that bridge; the bridge gets .1 (default "192.168.99.0/24")' },
    { name: 'ssh-host', type: 'string', help: 'ssh: address of the host to provision' },
    { name: 'ssh-user', type: 'string', default: 'root', help: 'ssh: user to log in as' },
    { name: 'ssh-key', type: 'string', help: 'ssh: private key file' },
    { name: 'ssh-port', type: 'int', default: 22, help: 'ssh: port' },
    { name: 'ssh-berth-path', type: 'string', default: '/opt/berth', help: 'ssh: where berth is (or gets) installed on the host' },
    { name: 'ssh-remote-dir', type: 'string', help: 'ssh: the engine\'s directory on the host (default /var/lib/berth-machine/NAME)' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const name = args.args[0]!;
    const driver = args.string('driver') ?? 'netns';
    const machines = machinesOf(args);
    const ssh = {
      host: args.string('ssh-host'),
      user: args.changed.has('ssh-user') ? args.string('ssh-user') : undefined,
      keyPath: args.string('ssh-key'),
      port: args.changed.has('ssh-port') ? args.int('ssh-port') : undefined,
      berthPath: args.changed.has('ssh-berth-path') ? args.string('ssh-berth-path') : undefined,
      remoteDir: args.string('ssh-remote-dir'),
    };
    const config = await machines.create({
      name,
      driver,
      labels: args.list('engine-label'),
      bridge: args.string('netns-bridge'),
      subnet: args.string('netns-subnet'),
      ssh: driver === 'ssh' || Object.values(ssh).some((v) => v !== undefined) ? ssh : undefined,
    });
    ctx.stdout.write(
      `Berth is up and running on ${machines.url(config)}!\n` +
        `To see how to connect your Docker Client to the Berth Engine running on this machine, run: berth machine env ${name}\n`,
    );
    return 0;
  },
};

interface LsRow {
  Name: string;
  Active: string;
  DriverName: string;
  State: string;
  URL: string;
  DockerVersion: string;
  Error: string;
}

const LS_TABLE = '{{.Name}}\t{{.Active}}\t{{.DriverName}}\t{{.State}}\t{{.URL}}\t{{.DockerVersion}}\t{{.Error}}';
const LS_HEADERS = new HeaderMap([
  ['Name', 'NAME'],
  ['Active', 'ACTIVE'],
  ['DriverName', 'DRIVER'],
  ['State', 'STATE'],
  ['URL', 'URL'],
  ['DockerVersion', 'DOCKER'],
  ['Error', 'ERRORS'],
]);

async function lsRow(machines: Machines, config: MachineConfig): Promise<LsRow> {
  const state = await machines.state(config);
  const url = machines.url(config);
  const active = (process.env.BERTH_HOST || process.env.DOCKER_HOST) === url ? '*' : '-';
  let version = 'Unknown';
  let error = '';
  if (state === 'Running') {
    try {
      version = `v${(await new EngineClient(machines.address(config)).version()).Version}`;
    } catch (err) {
      error = (err as Error).message;
    }
  }
  return { Name: config.name, Active: active, DriverName: config.driver, State: state, URL: state === 'Running' ? url : '', DockerVersion: version, Error: error };
}

export const machineLs: CommandSpec = {
  use: 'machine ls [OPTIONS]',
  short: 'List machines',
  flags: [
    STORAGE,
    { name: 'quiet', short: 'q', type: 'bool', help: 'Enable quiet mode' },
    { name: 'format', short: 'f', type: 'string', help: 'Pretty-print machines using a Go template' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const machines = machinesOf(args);
    const configs = await machines.list();
    if (args.bool('quiet')) {
      ctx.stdout.write(configs.map((c) => `${c.name}\n`).join(''));
      return 0;
    }
    const rows = await Promise.all(configs.map((c) => lsRow(machines, c)));
    ctx.stdout.write(renderList(args.string('format') || 'table', LS_TABLE, rows, LS_HEADERS));
    return 0;
  },
};

/** docker-machine's inspect shape, as far as these drivers have the fields. */
function inspectView(machines: Machines, config: MachineConfig): Record<string, unknown> {
  const dir = machines.store.machineDir(config.name);
  const mc = machineCertPaths(dir);
  const sc = storeCertPaths(machines.store.certDir);
  return {
    ConfigVersion: 3,
    Driver: {
      IPAddress: config.ip,
      MachineName: config.name,
      StorePath: machines.store.root,
      EnginePort: config.port,
      ...(config.netns ? { Netns: config.netns.netns, Bridge: config.netns.bridge, Subnet: config.netns.subnet, Gateway: config.netns.gateway, HostVeth: config.netns.hostVeth, ExecRoot: config.execRoot } : {}),
      ...(config.ssh ? { SSHUser: config.ssh.user, SSHPort: config.ssh.port, SSHKeyPath: config.ssh.keyPath, BerthPath: config.ssh.berthPath, RemoteDir: config.ssh.remoteDir } : {}),
    },
    DriverName: config.driver,
    HostOptions: {
      EngineOptions: { Labels: config.labels, TlsVerify: true },
      AuthOptions: {
        CertDir: machines.store.certDir,
        CaCertPath: sc.caCert,
        CaPrivateKeyPath: sc.caKey,
        ClientKeyPath: sc.clientKey,
        ClientCertPath: sc.clientCert,
        ServerCertPath: mc.serverCert,
        ServerKeyPath: mc.serverKey,
        StorePath: dir,
      },
    },
    Name: config.name,
    Created: config.created,
  };
}

export const machineInspect: CommandSpec = {
  use: 'machine inspect [OPTIONS] NAME',
  short: 'Inspect information about a machine',
  flags: [STORAGE, { name: 'format', short: 'f', type: 'string', help: 'Format the output using the given Go template' }],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const machines = machinesOf(args);
    const view = inspectView(machines, await machines.get(args.args[0]!));
    const format = args.string('format');
    ctx.stdout.write(format ? renderOne(format, view) : `${JSON.stringify(view, null, 4)}\n`);
    return 0;
  },
};

export const machineIp: CommandSpec = {
  use: 'machine ip NAME...',
  short: 'Get the IP address of a machine',
  flags: [STORAGE],
  args: { min: 1 },
  async run(ctx, args) {
    const machines = machinesOf(args);
    for (const name of args.args) ctx.stdout.write(`${(await machines.get(name)).ip}\n`);
    return 0;
  },
};

export const machineUrl: CommandSpec = {
  use: 'machine url NAME',
  short: 'Get the URL of a machine',
  flags: [STORAGE],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const machines = machinesOf(args);
    ctx.stdout.write(`${machines.url(await machines.get(args.args[0]!))}\n`);
    return 0;
  },
};

const SHELLS: Shell[] = ['bash', 'sh', 'zsh', 'fish', 'powershell', 'cmd'];

export const machineEnv: CommandSpec = {
  use: 'machine env [OPTIONS] NAME',
  short: 'Display the commands to set up the environment for the Docker client',
  flags: [
    STORAGE,
    { name: 'shell', type: 'string', help: 'Force environment to be configured for a specified shell: [fish, cmd, powershell, bash, sh, zsh], default is auto-detect' },
    { name: 'unset', short: 'u', type: 'bool', help: 'Unset variables instead of setting them' },
  ],
  args: { max: 1 },
  async run(ctx, args) {
    const machines = machinesOf(args);
    const shellFlag = args.string('shell');
    const detected = (process.env.SHELL ?? '').split('/').pop() ?? '';
    const shell = (shellFlag ?? (SHELLS.includes(detected as Shell) ? detected : 'bash')) as Shell;
    if (!SHELLS.includes(shell)) fail(`Error: Unknown shell: ${shell} (use one of ${SHELLS.join(', ')})`);
    const unset = args.bool('unset');
    const name = args.args[0];
    if (!name && !unset) fail('Error: Expected one machine name as an argument');
    const storage = args.string('storage-path');
    const invocation = `berth machine env${storage ? ` -s ${storage}` : ''}${unset ? ' -u' : ''}${shellFlag ? ` --shell ${shell}` : ''}${name ? ` ${name}` : ''}`;
    const config = name ? await machines.get(name) : ({ name: '', driver: 'netns', ip: '', port: 2376, labels: [], created: '' } satisfies MachineConfig);
    if (name && !unset && (await machines.state(config)) !== 'Running') fail(`Error checking TLS connection: Host is not running`);
    ctx.stdout.write(envScript(machines, config, shell, unset, invocation));
    return 0;
  },
};

function eachMachine(verb: string, short: string, fn: (m: Machines, name: string, ctx: CliContext) => Promise<void>): CommandSpec {
  return {
    use: `machine ${verb} NAME...`,
    short,
    flags: [STORAGE],
    args: { min: 1 },
    async run(ctx, args) {
      const machines = machinesOf(args);
      let status = 0;
      for (const name of args.args) {
        try {
          await fn(machines, name, ctx);
        } catch (err) {
          ctx.stderr.write(`${(err as Error).message}\n`);
          status = 1;
        }
      }
      return status;
    },
  };
}

export const machineStart = eachMachine('start', 'Start a machine', async (m, name, ctx) => {
  ctx.stdout.write(`Starting "${name}"...\n`);
  await m.start(name);
  ctx.stdout.write(`Machine "${name}" was started.\n`);
});

export const machineStop = eachMachine('stop', "Stop a machine's engine", async (m, name, ctx) => {
  ctx.stdout.write(`Stopping "${name}"...\n`);
  await m.stop(name);
  ctx.stdout.write(`Machine "${name}" was stopped.\n`);
});

export const machineRm: CommandSpec = {
  use: 'machine rm [OPTIONS] NAME...',
  short: 'Remove a machine',
  flags: [
    STORAGE,
    { name: 'force', short: 'f', type: 'bool', help: 'Remove local configuration even if machine cannot be removed, also implies an automatic yes (`-y`)' },
    { name: 'y', short: 'y', type: 'bool', help: 'Assumes automatic yes to proceed with remove, without prompting further user confirmation' },
  ],
  args: { min: 1 },
  async run(ctx, args) {
    const machines = machinesOf(args);
    const force = args.bool('force');
    for (const name of args.args) await machines.get(name);
    if (!force && !args.bool('y') && process.stdin.isTTY) {
      ctx.stdout.write(`About to remove ${args.args.join(', ')}\nWARNING: This action will delete both local reference and remote instance.\n`);
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      const answer = (await rl.question('Are you sure? (y/n): ')).trim().toLowerCase();
      rl.close();
      if (answer !== 'y' && answer !== 'yes') return 0;
    }
    let status = 0;
    for (const name of args.args) {
      try {
        await machines.remove(name, force);
        ctx.stdout.write(`Successfully removed ${name}\n`);
      } catch (err) {
        ctx.stderr.write(`${(err as Error).message}\n`);
        status = 1;
      }
    }
    return status;
  },
};

export const machineSsh: CommandSpec = {
  use: 'machine ssh NAME [COMMAND...]',
  short: 'Log into or run a command on a machine (netns: inside its network namespace)',
  flags: [STORAGE],
  args: { min: 1 },
  stopAtPositional: true,
  async run(_ctx, args) {
    const machines = machinesOf(args);
    const [name, ...argv] = args.args as [string, ...string[]];
    return machines.ssh(await machines.get(name), argv);
  },
};
