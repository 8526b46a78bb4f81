import { ClientError } from '../../client/errors.js';
import { StatusError, type CommandSpec } from '../command.js';
import { errorText } from './common.js';

export const command: CommandSpec = {
  use: 'wait CONTAINER [CONTAINER...]',
  short: 'Block until one or more containers stop, then print their exit codes',
  aliases: ['berth container wait', 'berth wait'],
  flags: [],
  args: { min: 1 },
  async run(ctx, args) {
    const errors: string[] = [];
    for (const id of args.args) {
      try {
        const res = await ctx.client().containerWait(id);
        ctx.stdout.write(`${res.StatusCode}\n`);
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        errors.push(errorText(err));
      }
    }
    if (errors.length) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};
