/**
 * berth's entry point. Kept small on purpose: it parses global flags, picks a command from the
 * registry and loads only that command's module, so start-up stays close to bare node.
 */
import { EngineClient } from '../client/client.js';
import { ClientError, DaemonUnreachableError } from '../client/errors.js';
import { chooseHost, parseHost, type DaemonAddress } from '../client/host.js';
import type { resolveClientAddress } from '../client/tls.js';
import { StatusError, type CliContext, type CommandSpec } from './command.js';
import { FlagError, parseFlags } from './flags.js';
import { commandHelp, GLOBAL_FLAGS, groupHelp, topHelp, useLine } from './help.js';
import { CLI_VERSION, GIT_COMMIT } from './meta.js';
import { GROUPS, TOP, type Entry } from './registry.js';
import { FormatError } from './render/formatter.js';

function argError(path: string, spec: CommandSpec, count: number): string | null {
  const { min, max } = spec.args ?? {};
  const plural = (n: number): string => `${n} argument${n === 1 ? '' : 's'}`;
  let msg: string | null = null;
  if (min !== undefined && max !== undefined && min === max && count !== min) {
    msg = min === 0 ? `"${path}" accepts no arguments.` : `"${path}" requires exactly ${plural(min)}.`;
  } else if (min !== undefined && count < min) msg = `"${path}" requires at least ${plural(min)}.`;
  else if (max !== undefined && count > max) msg = max === 0 ? `"${path}" accepts no arguments.` : `"${path}" requires at most ${plural(max)}.`;
  return msg && `${msg}\nSee '${path} --help'.\n\nUsage:  ${useLine(path, spec)}\n\n${spec.short}`;
}

function resolve(args: string[]): { entry: Entry; words: string[]; rest: string[] } | { help: string } | { error: string } {
  const [first, ...tail] = args as [string, ...string[]];
  const group = GROUPS[first];
  if (group) {
    const sub = tail[0];
    if (sub === undefined || sub === '--help' || sub === '-h') return { help: groupHelp(first) };
    const entry = group.commands[sub];
    if (!entry) return { error: `berth: '${first} ${sub}' is not a berth command.\nSee 'berth ${first} --help'` };
    return { entry, words: [first, sub], rest: tail.slice(1) };
  }
  const entry = TOP[first];
  if (!entry) return { error: `berth: '${first}' is not a berth command.\nSee 'berth --help'` };
  return { entry, words: [first], rest: tail };
}

export async function main(argv: string[]): Promise<number> {
  const out = process.stdout;
  const err = process.stderr;
  // A reader that went away (`berth events | head`): end as the docker CLI does, killed by
  // SIGPIPE (status 141), rather than with an unhandled EPIPE and a stack trace.
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });
  let global;
  try {
    global = parseFlags(argv, GLOBAL_FLAGS, { stopAtPositional: true });
  } catch (e) {
    if (e instanceof FlagError) {
      err.write(`${e.message}\nSee 'berth --help'.\n`);
      return 125;
    }
    throw e;
  }
  if (global.bool('version')) {
    out.write(`Berth version ${CLI_VERSION}, build ${GIT_COMMIT}\n`);
    return 0;
  }
  if (global.help || global.args.length === 0) {
    out.write(topHelp());
    return 0;
  }
  const found = resolve(global.args);
  if ('help' in found) {
    out.write(found.help);
    return 0;
  }
  if ('error' in found) {
    err.write(`${found.error}\n`);
    return 1;
  }
  const path = `berth ${found.words.join(' ')}`;
  const spec = await found.entry.load();
  let parsed;
  try {
    parsed = parseFlags(found.rest, spec.flags, { stopAtPositional: spec.stopAtPositional });
  } catch (e) {
    if (e instanceof FlagError) {
      err.write(`${e.message}\nSee '${path} --help'.\n`);
      return 125;
    }
    throw e;
  }
  if (parsed.help) {
    out.write(commandHelp(path, spec));
    return 0;
  }
  const bad = argError(path, spec, parsed.args.length);
  if (bad) {
    err.write(`${bad}\n`);
    return 1;
  }
  const hosts = global.list('host');
  const host = chooseHost(hosts[hosts.length - 1]);
  // A unix socket never uses TLS: the TLS settings (and the node:fs and node:os imports that read
  // them, ~1 ms) are loaded only for other hosts.
  const resolveAddress: typeof resolveClientAddress = host.startsWith('unix://') ? (h) => parseHost(h) : (await import('../client/tls.js')).resolveClientAddress;
  // Built on first use: commands that never dial (machine, registry serve) must not fail on certs.
  let address: DaemonAddress | undefined;
  const dial = (): DaemonAddress =>
    (address ??= resolveAddress(host, {
      tls: global.bool('tls'),
      tlsVerify: global.changed.has('tlsverify') ? global.bool('tlsverify') : undefined,
      tlsCaCert: global.changed.has('tlscacert') ? global.string('tlscacert') : undefined,
      tlsCert: global.changed.has('tlscert') ? global.string('tlscert') : undefined,
      tlsKey: global.changed.has('tlskey') ? global.string('tlskey') : undefined,
    }));
  let client: EngineClient | undefined;
  const ctx: CliContext = {
    stdout: out,
    stderr: err,
    // A getter: node builds process.stdin on first touch (~0.6 ms), and most commands never read it.
    get stdin() {
      return process.stdin;
    },
    host,
    debug: global.bool('debug'),
    commandPath: path,
    address: dial,
    client: () => (client ??= new EngineClient(dial())),
  };
  try {
    return await spec.run(ctx, parsed);
  } catch (e) {
    return report(e, ctx, path);
  }
}

function report(e: unknown, ctx: CliContext, path: string): number {
  const err = ctx.stderr;
  if (e instanceof StatusError) {
    if (e.message) err.write(`${e.message}\n`);
    return e.status;
  }
  if (e instanceof FlagError) {
    err.write(`${e.message}\nSee '${path} --help'.\n`);
    return 125;
  }
  if (e instanceof ClientError) err.write(`Error response from daemon: ${e.message}\n`);
  else if (e instanceof DaemonUnreachableError || e instanceof FormatError) err.write(`${e.message}\n`);
  else if (e instanceof Error) err.write(ctx.debug && e.stack ? `${e.stack}\n` : `${e.message}\n`);
  else err.write(`${String(e)}\n`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
