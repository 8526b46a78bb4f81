import { ClientError } from '../../client/errors.js';
import { StatusError, type CommandSpec } from '../command.js';
import { errorText } from './common.js';
import { proxySignals } from './output.js';
import { enterRawMode, followWindowSize, pumpStream, stdinIsTerminal } from '../terminal.js';

export const command: CommandSpec = {
  use: 'attach [OPTIONS] CONTAINER',
  short: "Attach local standard input, output, and error streams to a running container",
  aliases: ['berth container attach', 'berth attach'],
  flags: [
    { name: 'detach-keys', type: 'string', help: 'Override the key sequence for detaching a container' },
    { name: 'no-stdin', type: 'bool', help: 'Do not attach STDIN' },
    { name: 'sig-proxy', type: 'bool', default: true, help: 'Proxy all received signals to the process' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const client = ctx.client();
    try {
      const info = await client.containerInspect(args.args[0] as string);
      const state = info.State as { Running?: boolean; Paused?: boolean } | undefined;
      if (!state?.Running) throw new StatusError('You cannot attach to a stopped container, start it first', 1);
      if (state.Paused) throw new StatusError('You cannot attach to a paused container, unpause it first', 1);
      const config = info.Config as { Tty?: boolean; OpenStdin?: boolean } | undefined;
      const tty = config?.Tty === true;
      const stdin = config?.OpenStdin === true && !args.bool('no-stdin');
      if (tty && stdin && !stdinIsTerminal(ctx)) throw new StatusError('the input device is not a TTY', 1);
      const detachKeys = args.string('detach-keys');
      const stream = await client.containerAttach(info.Id, { stdin, stdout: true, stderr: true, detachKeys });
      const waited = client.containerWait(info.Id, 'not-running');
      waited.catch(() => undefined);
      const restore = tty && stdin ? enterRawMode(ctx) : () => undefined;
      const unwatch = tty ? followWindowSize(ctx, (h, w) => client.containerResize(info.Id, h, w)) : () => undefined;
      const unproxy = !tty && args.bool('sig-proxy') ? proxySignals(client, info.Id) : () => undefined;
      try {
        const how = await pumpStream(ctx, stream.socket, { tty, stdin, detachKeys });
        if (how === 'detached') return 0;
        return (await waited).StatusCode;
      } finally {
        unproxy();
        unwatch();
        restore();
      }
    } catch (err) {
      if (err instanceof StatusError) throw err;
      if (err instanceof ClientError) throw new StatusError(errorText(err), 1);
      throw err;
    }
  },
};
