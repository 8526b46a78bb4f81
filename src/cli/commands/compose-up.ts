/** `compose up` and `compose create`. */
import { StatusError } from '../command.js';
import type { ActualContainer } from '../../compose/planner.js';
import { LogPrinter, printContainerLogs } from '../../compose/logs.js';
import type { BuildMode, ProjectExecutor } from '../../compose/executor.js';
import { selectedServices } from '../../compose/planner.js';
import { checkServices, parseScale, type ComposeCommand, type ComposeContext } from './compose.js';
import type { ParsedArgs } from '../flags.js';

const CREATE_FLAGS = [
  { name: 'build', type: 'bool' as const, help: 'Build images before starting containers' },
  { name: 'no-build', type: 'bool' as const, help: "Don't build an image, even if it's policy" },
  { name: 'force-recreate', type: 'bool' as const, help: "Recreate containers even if their configuration and image haven't changed" },
  { name: 'no-recreate', type: 'bool' as const, help: "If containers already exist, don't recreate them. Incompatible with --force-recreate." },
  { name: 'remove-orphans', type: 'bool' as const, help: "Remove containers for services not defined in the Compose file" },
  { name: 'scale', type: 'stringArray' as const, typeName: 'scale', help: 'Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file if present.' },
];

function buildMode(args: ParsedArgs): BuildMode {
  if (args.bool('build') && args.bool('no-build')) throw new StatusError('--build and --no-build are incompatible', 1);
  return args.bool('build') ? 'always' : args.bool('no-build') ? 'never' : 'missing';
}

function recreateFlags(args: ParsedArgs): { forceRecreate: boolean; noRecreate: boolean } {
  if (args.bool('force-recreate') && args.bool('no-recreate')) throw new StatusError('--force-recreate and --no-recreate are incompatible', 1);
  return { forceRecreate: args.bool('force-recreate'), noRecreate: args.bool('no-recreate') };
}

export const create: ComposeCommand = {
  use: 'create [OPTIONS] [SERVICE...]',
  short: 'Creates containers for a service',
  flags: CREATE_FLAGS,
  async run(ctx, args) {
    const loaded = ctx.load(args.args);
    checkServices(loaded, args.args);
    await ctx.executor(loaded).up({ services: args.args, build: buildMode(args), ...recreateFlags(args), scale: parseScale(args.list('scale')), removeOrphans: args.bool('remove-orphans') }, false);
    return 0;
  },
};

export const up: ComposeCommand = {
  use: 'up [OPTIONS] [SERVICE...]',
  short: 'Create and start containers',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', help: 'Detached mode: Run containers in the background' },
    ...CREATE_FLAGS,
    { name: 'no-deps', type: 'bool', help: "Don't start linked services" },
    { name: 'wait', type: 'bool', help: 'Wait for services to be running|healthy. Implies detached mode.' },
    { name: 'wait-timeout', type: 'int', help: 'Maximum duration to wait for the project to be running|healthy' },
    { name: 'abort-on-container-exit', type: 'bool', help: 'Stops all containers if any container was stopped. Incompatible with -d' },
    { name: 'exit-code-from', type: 'string', help: 'Return the exit code of the selected service container. Implies --abort-on-container-exit' },
    { name: 'timeout', short: 't', type: 'int', help: 'Use this timeout in seconds for container shutdown when attached or when containers are already running' },
    { name: 'no-color', type: 'bool', help: 'Produce monochrome output' },
    { name: 'no-log-prefix', type: 'bool', help: "Don't print prefix in logs" },
  ],
  async run(ctx, args) {
    const detach = args.bool('detach') || args.bool('wait');
    const exitFrom = args.string('exit-code-from');
    const abort = args.bool('abort-on-container-exit') || exitFrom !== undefined;
    if (detach && abort) throw new StatusError('--abort-on-container-exit and --detach are incompatible', 1);
    const loaded = ctx.load(args.args);
    checkServices(loaded, args.args);
    if (exitFrom && !loaded.project.services[exitFrom]) throw new StatusError(`no such service: ${exitFrom}`, 1);
    const exec = ctx.executor(loaded);
    const timeout = args.int('timeout');
    await exec.up({
      services: args.args,
      noDeps: args.bool('no-deps'),
      build: buildMode(args),
      ...recreateFlags(args),
      scale: parseScale(args.list('scale')),
      removeOrphans: args.bool('remove-orphans'),
      timeout,
    });
    const selected = selectedServices(loaded.project, args.args, args.bool('no-deps'));
    if (args.bool('wait')) {
      const secs = args.int('wait-timeout');
      await exec.waitRunningOrHealthy(selected, secs ? secs * 1000 : undefined);
      return 0;
    }
    if (detach) return 0;
    const containers = await exec.containers({ services: [...selected] });
    return attach(ctx, exec, containers, { abort, exitFrom, timeout, color: ctx.color() && !args.bool('no-color') });
  },
};

/**
 * Foreground `up`: follow every container's log with its prefix until all have exited (or, with
 * --abort-on-container-exit, until the first one does). Ctrl-C stops the project's containers;
 * a second Ctrl-C kills them.
 */
async function attach(ctx: ComposeContext, exec: ProjectExecutor, containers: ActualContainer[], o: { abort: boolean; exitFrom?: string; timeout?: number; color: boolean }): Promise<number> {
  const printer = new LogPrinter(ctx.stdout, o.color);
  for (const c of containers) printer.add(c.name);
  const client = exec.client;
  let stopping: Promise<void> | undefined;
  let interrupts = 0;
  const stopAll = (): Promise<void> => (stopping ??= (async () => {
    ctx.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
    await exec.stopInOrder(await exec.containers({ services: [...new Set(containers.map((c) => c.service))] }), o.timeout);
  })());
  const onSignal = (): void => {
    interrupts++;
    if (interrupts === 1) void stopAll().catch(() => undefined);
    else for (const c of containers) client.containerKill(c.id).catch(() => undefined);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let firstExit: { service: string; code: number } | undefined;
  const codes = new Map<string, number>();
  try {
    await Promise.all(
      containers.map(async (c) => {
        const tty = (await client.containerInspect(c.id)).Config?.Tty === true;
        const logs = printContainerLogs(exec.engine, printer, { id: c.id, name: c.name, tty }, { follow: true }).catch(() => undefined);
        const res = await client.containerWait(c.id, 'not-running');
        await logs;
        codes.set(c.service, res.StatusCode);
        ctx.stdout.write(`${c.name} exited with code ${res.StatusCode}\n`);
        if (o.abort && !firstExit) {
          firstExit = { service: c.service, code: res.StatusCode };
          await stopAll();
        }
      }),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (stopping) await stopping;
  if (o.exitFrom) return codes.get(o.exitFrom) ?? 0;
  if (o.abort) return firstExit?.code ?? 0;
  return interrupts ? 130 : 0;
}
