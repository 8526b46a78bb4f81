import { StatusError, type CommandSpec } from '../command.js';
import { eachTarget, errorText } from './common.js';
import { proxySignals } from './output.js';
import { enterRawMode, followWindowSize, pumpStream, stdinIsTerminal } from '../terminal.js';

export const command: CommandSpec = {
  use: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Start one or more stopped containers',
  aliases: ['berth container start', 'berth start'],
  flags: [
    { name: 'attach', short: 'a', type: 'bool', help: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'detach-keys', type: 'string', help: 'Override the key sequence for detaching a container' },
    { name: 'interactive', short: 'i', type: 'bool', help: "Attach container's STDIN" },
  ],
  args: { min: 1 },
  async run(ctx, args) {
    const client = ctx.client();
    if (!args.bool('attach') && !args.bool('interactive')) {
      return eachTarget(ctx, args.args, (id) => client.containerStart(id), 'failed to start containers');
    }
    if (args.args.length > 1) throw new StatusError('you cannot start and attach multiple containers at once', 1);
    const name = args.args[0] as string;
    try {
      const info = await client.containerInspect(name);
      const config = info.Config as { Tty?: boolean; OpenStdin?: boolean } | undefined;
      const tty = config?.Tty === true;
      const stdin = args.bool('interactive') && config?.OpenStdin === true;
      if (tty && stdin && !stdinIsTerminal(ctx)) throw new StatusError('the input device is not a TTY', 1);
      const detachKeys = args.string('detach-keys');
      // docker's order: attach, register the wait, then start, so no output and no exit is missed.
      const stream = await client.containerAttach(info.Id, { stdin, stdout: true, stderr: true, detachKeys });
      const waited = client.containerWait(info.Id, 'next-exit');
      waited.catch(() => undefined);
      const restore = tty && stdin ? enterRawMode(ctx) : () => undefined;
      let unwatch: () => void = () => undefined;
      const unproxy = tty ? () => undefined : proxySignals(client, info.Id);
      try {
        const pumped = pumpStream(ctx, stream.socket, { tty, stdin, detachKeys });
        await client.containerStart(info.Id);
        if (tty) unwatch = followWindowSize(ctx, (h, w) => client.containerResize(info.Id, h, w));
        if ((await pumped) === 'detached') return 0;
        return (await waited).StatusCode;
      } finally {
        unwatch();
        unproxy();
        restore();
      }
    } catch (err) {
      if (err instanceof StatusError) throw err;
      throw new StatusError(errorText(err), 1);
    }
  },
};
