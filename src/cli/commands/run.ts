import { DaemonUnreachableError } from '../../client/errors.js';
import type { EngineClient } from '../../client/client.js';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import { CONTAINER_FLAGS, buildCreate, createContainer, runError } from './containeropts.js';
import { proxySignals } from './output.js';
import { FlagError, byName, type FlagSpec } from '../flags.js';
import { enterRawMode, followWindowSize, pumpStream, stdinIsTerminal } from '../terminal.js';
import { parseDetachKeys } from '../../util/detach-keys.js';

const RUN_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' },
  { name: 'attach', short: 'a', type: 'stringArray', typeName: 'list', help: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'detach-keys', type: 'string', help: 'Override the key sequence for detaching a container' },
  { name: 'sig-proxy', type: 'bool', default: true, help: 'Proxy received signals to the process' },
];

/** Which streams `-a` asks for; none given means stdout and stderr (and stdin with -i). */
export function attachStreams(list: string[], interactive: boolean): { stdin: boolean; stdout: boolean; stderr: boolean } {
  if (list.length === 0) return { stdin: interactive, stdout: true, stderr: true };
  const out = { stdin: false, stdout: false, stderr: false };
  for (const item of list) {
    const key = item.toLowerCase();
    if (key !== 'stdin' && key !== 'stdout' && key !== 'stderr') throw new FlagError(`invalid argument "${item}" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`);
    out[key] = true;
  }
  return out;
}

/**
 * docker's attached run: create, attach (hijacked), register the wait, start, copy until the
 * stream ends, exit with the container's code. With --rm the daemon removes the container
 * (HostConfig.AutoRemove) and the wait is for its removal.
 */
export const command: CommandSpec = {
  use: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create and run a new container from an image',
  aliases: ['berth container run', 'berth run'],
  flags: [...RUN_FLAGS, ...CONTAINER_FLAGS].sort(byName),
  args: { min: 1 },
  stopAtPositional: true,
  async run(ctx, args) {
    const detach = args.bool('detach');
    const autoRemove = args.bool('rm');
    const interactive = args.bool('interactive');
    const tty = args.bool('tty');
    if (detach && args.list('attach').length) throw new FlagError('Conflicting options: -a and -d');
    const streams = attachStreams(args.list('attach'), interactive);
    const detachKeys = args.string('detach-keys');
    if (detachKeys) {
      try {
        parseDetachKeys(detachKeys);
      } catch (err) {
        throw new FlagError((err as Error).message);
      }
    }
    if (tty && streams.stdin && !stdinIsTerminal(ctx)) throw new StatusError('berth: the input device is not a TTY', 1);
    const req = buildCreate(args, !detach);
    req.body.AttachStdin = !detach && streams.stdin;
    req.body.AttachStdout = !detach && streams.stdout;
    req.body.AttachStderr = !detach && streams.stderr;
    req.body.StdinOnce = !detach && streams.stdin;
    if (req.body.HostConfig) req.body.HostConfig.AutoRemove = autoRemove;
    const client = ctx.client();
    let id: string;
    try {
      id = await createContainer(ctx, req);
    } catch (err) {
      if (err instanceof DaemonUnreachableError) throw err;
      throw runError(err, 'run', true);
    }
    if (detach) {
      try {
        await client.containerStart(id);
      } catch (err) {
        throw runError(err, 'run', false);
      }
      ctx.stdout.write(`${id}\n`);
      return 0;
    }
    return runAttached(ctx, client, id, { tty, streams, detachKeys, autoRemove, sigProxy: args.bool('sig-proxy') });
  },
};

async function runAttached(
  ctx: CliContext,
  client: EngineClient,
  id: string,
  o: { tty: boolean; streams: { stdin: boolean; stdout: boolean; stderr: boolean }; detachKeys?: string; autoRemove: boolean; sigProxy: boolean },
): Promise<number> {
  let stream;
  try {
    stream = await client.containerAttach(id, { ...o.streams, detachKeys: o.detachKeys });
  } catch (err) {
    throw runError(err, 'run', false);
  }
  // Registered before start so even an instant exit (or removal) is seen.
  const waited = client.containerWait(id, o.autoRemove ? 'removed' : 'next-exit');
  waited.catch(() => undefined);
  const restore = o.tty && o.streams.stdin ? enterRawMode(ctx) : () => undefined;
  let unwatch: () => void = () => undefined;
  const unproxy = !o.tty && o.sigProxy ? proxySignals(client, id) : () => undefined;
  try {
    const pumped = pumpStream(ctx, stream.socket, { tty: o.tty, stdin: o.streams.stdin, detachKeys: o.detachKeys });
    try {
      await client.containerStart(id);
    } catch (err) {
      stream.socket.destroy();
      throw runError(err, 'run', false);
    }
    if (o.tty) unwatch = followWindowSize(ctx, (h, w) => client.containerResize(id, h, w));
    const how = await pumped;
    if (how === 'detached') return 0;
    const res = await waited;
    if (res.Error?.Message) ctx.stderr.write(`berth: ${res.Error.Message}\n`);
    return res.StatusCode;
  } finally {
    unwatch();
    unproxy();
    restore();
  }
}
