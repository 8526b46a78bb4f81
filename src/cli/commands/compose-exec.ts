/** `compose exec` (through the exec API) and `compose run` (a one-off container). */
import { Demuxer, StreamType } from '../../client/stdcopy.js';
import { startExec } from '../../compose/hijack.js';
import { StatusError } from '../command.js';
import { copyLogs } from './output.js';
import { checkServices, type ComposeCommand } from './compose.js';

function envList(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq < 0) {
      const from = process.env[v];
      if (from !== undefined) out[v] = from;
    } else out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

export const exec: ComposeCommand = {
  use: 'exec [OPTIONS] SERVICE COMMAND [ARGS...]',
  short: 'Execute a command in a running container',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', help: 'Detached mode: Run command in the background' },
    { name: 'env', short: 'e', type: 'stringArray', help: 'Set environment variables' },
    { name: 'index', type: 'int', help: 'Index of the container if service has multiple replicas', default: 1 },
    { name: 'no-TTY', short: 'T', type: 'bool', help: 'Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY.' },
    { name: 'privileged', type: 'bool', help: 'Give extended privileges to the process' },
    { name: 'user', short: 'u', type: 'string', help: 'Run the command as this user' },
    { name: 'workdir', short: 'w', type: 'string', help: 'Path to workdir directory for this command' },
    { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached', default: true, hidden: true },
  ],
  args: { min: 2 },
  async run(ctx, args) {
    const [service, ...cmd] = args.args as [string, ...string[]];
    const loaded = ctx.load();
    checkServices(loaded, [service]);
    const ex = ctx.executor(loaded);
    const index = args.int('index') ?? 1;
    const c = (await ex.containers({ services: [service] })).find((x) => x.number === index);
    if (!c || c.state !== 'running') throw new StatusError(`service "${service}" is not running`, 1);
    // A TTY only when asked for and both ends are terminals, as compose does.
    const tty = !args.bool('no-TTY') && (process.stdin as NodeJS.ReadStream).isTTY === true && (ctx.stdout as NodeJS.WriteStream).isTTY === true;
    const interactive = args.bool('interactive');
    const env = envList(args.list('env'));
    const { Id } = await ex.engine.execCreate(c.id, {
      Cmd: cmd,
      AttachStdin: interactive && !args.bool('detach'),
      AttachStdout: !args.bool('detach'),
      AttachStderr: !args.bool('detach'),
      Tty: tty,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      User: args.string('user'),
      WorkingDir: args.string('workdir'),
      Privileged: args.bool('privileged'),
    });
    const stream = await startExec(ctx.address(), Id, tty);
    if (args.bool('detach')) {
      stream.output.destroy();
      return 0;
    }
    if (stream.input && interactive) {
      const input = stream.input;
      // Closing our write half tells the process its stdin ended.
      ctx.stdin.on('data', (d: Buffer) => input.write(d));
      ctx.stdin.on('end', () => input.end());
    }
    const demux = new Demuxer((s, payload) => (s === StreamType.Stderr ? ctx.stderr : ctx.stdout).write(Buffer.from(payload)));
    for await (const chunk of stream.output) {
      if (tty) ctx.stdout.write(chunk as Buffer);
      else demux.push(chunk as Buffer);
    }
    (ctx.stdin as NodeJS.ReadStream).pause?.();
    const info = await ex.engine.execInspect(Id);
    return info.ExitCode ?? 0;
  },
};

export const run: ComposeCommand = {
  use: 'run [OPTIONS] SERVICE [COMMAND] [ARGS...]',
  short: 'Run a one-off command on a service',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' },
    { name: 'rm', type: 'bool', help: 'Automatically remove the container when it exits' },
    { name: 'env', short: 'e', type: 'stringArray', help: 'Set environment variables' },
    { name: 'name', type: 'string', help: 'Assign a name to the container' },
    { name: 'no-deps', type: 'bool', help: "Don't start linked services" },
    { name: 'service-ports', type: 'bool', help: "Run command with all service's ports enabled and mapped to the host" },
    { name: 'user', short: 'u', type: 'string', help: 'Run as specified username or uid' },
    { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
    { name: 'entrypoint', type: 'string', help: 'Override the entrypoint of the image' },
    { name: 'no-TTY', short: 'T', type: 'bool', help: 'Disable pseudo-TTY allocation (default: auto-detected)' },
    { name: 'build', type: 'bool', help: 'Build image before starting container' },
  ],
  args: { min: 1 },
  async run(ctx, args) {
    const [service, ...cmd] = args.args as [string, ...string[]];
    const loaded = ctx.load([service]);
    checkServices(loaded, [service]);
    const svc = loaded.project.services[service];
    if (!svc) throw new StatusError(`no such service: ${service}`, 1);
    const ex = ctx.executor(loaded);
    const deps = Object.keys(svc.depends_on);
    if (!args.bool('no-deps') && deps.length) await ex.up({ services: deps, build: args.bool('build') ? 'always' : 'missing' });
    await ex.ensureImages([service], args.bool('build') ? 'always' : 'missing');
    await ex.ensureNetworks([service]);
    await ex.ensureVolumes([service]);
    const entry = args.string('entrypoint');
    const plan = ex.oneoffPlan(svc, {
      command: cmd.length ? cmd : undefined,
      env: envList(args.list('env')),
      servicePorts: args.bool('service-ports'),
      user: args.string('user'),
      workdir: args.string('workdir'),
      entrypoint: entry === undefined ? undefined : entry === '' ? [] : [entry],
      name: args.string('name'),
    });
    plan.body.Tty = false;
    if (args.bool('rm') && args.bool('detach')) plan.body.HostConfig.AutoRemove = true;
    const id = await ex.createContainer(plan);
    // Wait is registered before start so a fast exit is never missed.
    const waiting = args.bool('detach') ? undefined : ex.client.containerWait(id, 'next-exit');
    await ex.client.containerStart(id);
    if (!waiting) {
      ctx.stdout.write(`${plan.name}\n`);
      return 0;
    }
    await copyLogs(ctx, ex.client, id, { follow: true }, false);
    const res = await waiting;
    if (args.bool('rm')) await ex.client.containerRemove(id, { force: true });
    return res.StatusCode;
  },
};
