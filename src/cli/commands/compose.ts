/**
 * `berth compose ...`: the compose global flags (-f, -p, --project-directory, --env-file,
 * --profile), then a subcommand. The global flags are also accepted after the subcommand, as
 * cobra's persistent flags are. Subcommand modules load on demand.
 */
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import { FlagError, formatFlagUsages, parseFlags, type FlagSpec, type ParsedArgs } from '../flags.js';
import { ComposeEngine } from '../../compose/engine.js';
import { ComposeError } from '../../compose/errors.js';
import { ProjectExecutor } from '../../compose/executor.js';
import { loadProject, type LoadedProject } from '../../compose/loader.js';

export const COMPOSE_FLAGS: FlagSpec[] = [
  { name: 'file', short: 'f', type: 'stringArray', typeName: 'stringArray', help: 'Compose configuration files' },
  { name: 'project-name', short: 'p', type: 'string', help: 'Project name' },
  { name: 'project-directory', type: 'string', help: 'Specify an alternate working directory\n(default: the path of the, first specified, Compose file)' },
  { name: 'env-file', type: 'stringArray', typeName: 'stringArray', help: 'Specify an alternate environment file' },
  { name: 'profile', type: 'stringArray', typeName: 'stringArray', help: 'Specify a profile to enable' },
  { name: 'ansi', type: 'string', help: 'Control when to print ANSI control characters ("never"|"always"|"auto")', default: 'auto' },
  { name: 'progress', type: 'string', help: 'Set type of progress output (auto, tty, plain, quiet)', hidden: true },
];

export interface ComposeCommand {
  use: string;
  short: string;
  flags: FlagSpec[];
  args?: { min?: number; max?: number };
  run(ctx: ComposeContext, args: ParsedArgs): Promise<number>;
}

/** What a compose subcommand gets: the CLI context plus the project, loaded on demand. */
export interface ComposeContext extends CliContext {
  global: ParsedArgs;
  /** Loads the project; `services` enables services named on the command line past their profiles. */
  load(services?: string[]): LoadedProject;
  engine(): ComposeEngine;
  executor(loaded: LoadedProject): ProjectExecutor;
  /** Whether to colour output (--ansi, and a terminal). */
  color(): boolean;
}

type Loader = () => Promise<ComposeCommand>;
const lazy = (mod: () => Promise<Record<string, ComposeCommand>>, name: string): Loader => async () => (await mod())[name] as ComposeCommand;
const up = (): Promise<Record<string, ComposeCommand>> => import('./compose-up.js') as Promise<Record<string, ComposeCommand>>;
const life = (): Promise<Record<string, ComposeCommand>> => import('./compose-lifecycle.js') as Promise<Record<string, ComposeCommand>>;
const info = (): Promise<Record<string, ComposeCommand>> => import('./compose-info.js') as Promise<Record<string, ComposeCommand>>;
const exec = (): Promise<Record<string, ComposeCommand>> => import('./compose-exec.js') as Promise<Record<string, ComposeCommand>>;

const SUBCOMMANDS: Record<string, { short: string; load: Loader }> = {
  build: { short: 'Build or rebuild services', load: lazy(info, 'build') },
  config: { short: 'Parse, resolve and render compose file in canonical format', load: lazy(info, 'config') },
  create: { short: 'Creates containers for a service', load: lazy(up, 'create') },
  down: { short: 'Stop and remove containers, networks', load: lazy(life, 'down') },
  exec: { short: 'Execute a command in a running container', load: lazy(exec, 'exec') },
  images: { short: 'List images used by the created containers', load: lazy(info, 'images') },
  kill: { short: 'Force stop service containers', load: lazy(life, 'kill') },
  logs: { short: 'View output from containers', load: lazy(info, 'logs') },
  ls: { short: 'List running compose projects', load: lazy(info, 'ls') },
  pause: { short: 'Pause services', load: lazy(life, 'pause') },
  port: { short: 'Print the public port for a port binding', load: lazy(info, 'port') },
  ps: { short: 'List containers', load: lazy(info, 'ps') },
  pull: { short: 'Pull service images', load: lazy(info, 'pull') },
  push: { short: 'Push service images', load: lazy(info, 'push') },
  restart: { short: 'Restart service containers', load: lazy(life, 'restart') },
  rm: { short: 'Removes stopped service containers', load: lazy(life, 'rm') },
  run: { short: 'Run a one-off command on a service', load: lazy(exec, 'run') },
  start: { short: 'Start services', load: lazy(life, 'start') },
  stop: { short: 'Stop services', load: lazy(life, 'stop') },
  top: { short: 'Display the running processes', load: lazy(info, 'top') },
  unpause: { short: 'Unpause services', load: lazy(life, 'unpause') },
  up: { short: 'Create and start containers', load: lazy(up, 'up') },
  version: { short: 'Show the Berth Compose version information', load: lazy(info, 'version') },
};

function topUsage(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  const cmds = Object.entries(SUBCOMMANDS).map(([k, v]) => `  ${k.padEnd(width)}   ${v.short}`).join('\n');
  return `\nUsage:  berth compose [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Berth\n\nOptions:\n${formatFlagUsages(COMPOSE_FLAGS)}\n\nCommands:\n${cmds}\n\nRun 'berth compose COMMAND --help' for more information on a command.\n`;
}

export const command: CommandSpec = {
  use: 'compose [OPTIONS] COMMAND',
  short: 'Define and run multi-container applications',
  flags: COMPOSE_FLAGS,
  stopAtPositional: true,
  async run(ctx, global) {
    const [sub, ...rest] = global.args;
    if (!sub || global.help) {
      ctx.stdout.write(topUsage());
      return 0;
    }
    const entry = SUBCOMMANDS[sub];
    if (!entry) {
      ctx.stderr.write(`berth: 'compose ${sub}' is not a berth command.\nSee 'berth compose --help'\n`);
      return 1;
    }
    const cmd = await entry.load();
    const path = `berth compose ${sub}`;
    let args: ParsedArgs;
    try {
      args = parseFlags(rest, [...cmd.flags, ...COMPOSE_FLAGS], { stopAtPositional: sub === 'run' || sub === 'exec' });
    } catch (e) {
      if (e instanceof FlagError) throw new StatusError(`${e.message}\nSee '${path} --help'.`, 125);
      throw e;
    }
    if (args.help) {
      ctx.stdout.write(`\nUsage:  berth compose ${cmd.use}\n\n${cmd.short}\n\nOptions:\n${formatFlagUsages(cmd.flags)}\n`);
      return 0;
    }
    const n = args.args.length;
    if ((cmd.args?.min !== undefined && n < cmd.args.min) || (cmd.args?.max !== undefined && n > cmd.args.max)) {
      throw new StatusError(`"${path}" requires ${cmd.args.min === cmd.args.max ? `exactly ${cmd.args.min}` : cmd.args.max === undefined ? `at least ${cmd.args.min}` : `at most ${cmd.args.max}`} argument(s).\nSee '${path} --help'.\n\nUsage:  berth compose ${cmd.use}`, 1);
    }
    // A global flag given after the subcommand counts as if given before it.
    const pick = (name: string): ParsedArgs => (args.changed.has(name) ? args : global);
    let engine: ComposeEngine | undefined;
    const cctx: ComposeContext = {
      ...ctx,
      client: ctx.client,
      global,
      load: (services) => {
        const files = [...global.list('file'), ...args.list('file')];
        return loadProject({
          files,
          projectName: pick('project-name').string('project-name'),
          projectDirectory: pick('project-directory').string('project-directory'),
          envFiles: [...global.list('env-file'), ...args.list('env-file')],
          profiles: [...global.list('profile'), ...args.list('profile')],
          services,
        });
      },
      engine: () => (engine ??= new ComposeEngine(ctx.client())),
      executor: (loaded) => new ProjectExecutor(cctx.engine(), loaded.project, (line) => ctx.stderr.write(` ${line}\n`)),
      color: () => {
        const ansi = pick('ansi').string('ansi') ?? 'auto';
        if (ansi === 'never' || process.env.NO_COLOR) return false;
        return ansi === 'always' || (ctx.stdout as NodeJS.WriteStream).isTTY === true;
      },
    };
    try {
      return await cmd.run(cctx, args);
    } catch (e) {
      if (e instanceof ComposeError) throw new StatusError(e.message, 1);
      throw e;
    }
  },
};

/** Parses "--scale web=3" values. */
export function parseScale(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m) throw new StatusError(`invalid --scale value "${v}": expected SERVICE=NUM`, 1);
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** The services named on the command line must exist in the project. */
export function checkServices(loaded: LoadedProject, names: string[]): void {
  const p = loaded.project;
  for (const n of names) if (!p.services[n] && !p.disabled[n]) throw new StatusError(`no such service: ${n}`, 1);
}
