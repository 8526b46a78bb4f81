import { ClientError } from '../../client/errors.js';
import { StatusError, type CommandSpec } from '../command.js';
import { errorText } from './common.js';
import { enterRawMode, followWindowSize, pumpStream, stdinIsTerminal } from '../terminal.js';

/** `-e NAME` without a value takes NAME from our own environment, as docker does. */
function envEntry(e: string): string {
  if (e.includes('=')) return e;
  const v = process.env[e];
  return v === undefined ? e : `${e}=${v}`;
}

export const command: CommandSpec = {
  use: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
  short: 'Execute a command in a running container',
  aliases: ['berth container exec', 'berth exec'],
  flags: [
    { name: 'detach', short: 'd', type: 'bool', help: 'Detached mode: run command in the background' },
    { name: 'detach-keys', type: 'string', help: 'Override the key sequence for detaching a container' },
    { name: 'env', short: 'e', type: 'stringArray', typeName: 'list', help: 'Set environment variables' },
    { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
    { name: 'privileged', type: 'bool', help: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', type: 'string', help: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  ],
  args: { min: 2 },
  stopAtPositional: true,
  async run(ctx, args) {
    const [container, ...cmd] = args.args as [string, ...string[]];
    const detach = args.bool('detach');
    const interactive = args.bool('interactive');
    const tty = args.bool('tty');
    if (tty && interactive && !detach && !stdinIsTerminal(ctx)) throw new StatusError('the input device is not a TTY', 1);
    const client = ctx.client();
    try {
      const { Id } = await client.execCreate(container, {
        Cmd: cmd,
        Env: args.list('env').map(envEntry),
        User: args.string('user') ?? '',
        WorkingDir: args.string('workdir') ?? '',
        Tty: tty,
        AttachStdin: interactive && !detach,
        AttachStdout: !detach,
        AttachStderr: !detach,
        Privileged: args.bool('privileged'),
        DetachKeys: args.string('detach-keys') ?? '',
      });
      if (detach) {
        const started = await client.execStart(Id, { Detach: true, Tty: tty });
        started.socket.destroy();
        return 0;
      }
      const stream = await client.execStart(Id, { Detach: false, Tty: tty });
      const restore = tty && interactive ? enterRawMode(ctx) : () => undefined;
      const unwatch = tty ? followWindowSize(ctx, (h, w) => client.execResize(Id, h, w)) : () => undefined;
      try {
        const how = await pumpStream(ctx, stream.socket, { tty, stdin: interactive, detachKeys: args.string('detach-keys') });
        if (how === 'detached') return 0;
      } finally {
        unwatch();
        restore();
      }
      const info = await client.execInspect(Id);
      return info.ExitCode ?? 0;
    } catch (err) {
      if (err instanceof ClientError) throw new StatusError(errorText(err), 1);
      throw err;
    }
  },
};
