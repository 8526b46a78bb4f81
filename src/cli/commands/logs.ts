import type { CommandSpec } from '../command.js';
import { parseGoDuration } from '../flags.js';
import { apiTimestamp } from '../render/human.js';
import { copyLogs } from './output.js';

export const command: CommandSpec = {
  use: 'logs [OPTIONS] CONTAINER',
  short: 'Fetch the logs of a container',
  aliases: ['berth container logs', 'berth logs'],
  flags: [
    { name: 'details', type: 'bool', help: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
    { name: 'since', type: 'string', help: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', help: 'Number of lines to show from the end of the logs', default: 'all' },
    { name: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
    { name: 'until', type: 'string', help: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const client = ctx.client();
    // The TTY setting decides whether the stream is framed, so look the container up first.
    const info = await client.containerInspect(args.args[0] as string);
    const now = Date.now();
    const since = args.string('since');
    const until = args.string('until');
    await copyLogs(
      ctx,
      client,
      info.Id,
      {
        follow: args.bool('follow'),
        since: since ? apiTimestamp(since, now, parseGoDuration) : undefined,
        until: until ? apiTimestamp(until, now, parseGoDuration) : undefined,
        timestamps: args.bool('timestamps'),
        tail: args.string('tail'),
      },
      info.Config?.Tty === true,
    );
    return 0;
  },
};
