import { isNotFound } from '../../client/errors.js';
import { StatusError, type CommandSpec } from '../command.js';
import { eachTarget, errorText } from './common.js';
import { copyLogs, proxySignals } from './output.js';

export const command: CommandSpec = {
  use: 'start [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Start one or more stopped containers',
  aliases: ['berth container start', 'berth start'],
  flags: [
    { name: 'attach', short: 'a', type: 'bool', help: 'Attach STDOUT/STDERR and forward signals' },
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
      const tty = info.Config?.Tty === true;
      // Output written before we connect is still in the log, so nothing is lost by starting
      // first; `since` hides what earlier runs wrote, as attaching would.
      const since = (Date.now() / 1000).toFixed(9);
      await client.containerStart(info.Id);
      const unproxy = tty ? () => undefined : proxySignals(client, info.Id);
      try {
        await copyLogs(ctx, client, info.Id, { follow: true, since }, tty).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
        const res = await client.containerWait(info.Id);
        return res.StatusCode;
      } finally {
        unproxy();
      }
    } catch (err) {
      if (err instanceof StatusError) throw err;
      throw new StatusError(errorText(err), 1);
    }
  },
};
