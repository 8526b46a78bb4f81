import { ClientError } from '../../client/errors.js';
import { StatusError, type CommandSpec } from '../command.js';
import { errorText } from './common.js';

export const command: CommandSpec = {
  use: 'rmi [OPTIONS] IMAGE [IMAGE...]',
  short: 'Remove one or more images',
  aliases: ['berth image rm', 'berth image remove', 'berth rmi'],
  flags: [
    { name: 'force', short: 'f', type: 'bool', help: 'Force removal of the image' },
    { name: 'no-prune', type: 'bool', help: 'Do not delete untagged parents' },
  ],
  args: { min: 1 },
  async run(ctx, args) {
    const errors: string[] = [];
    for (const name of args.args) {
      try {
        const items = await ctx.client().imageRemove(name, { force: args.bool('force'), noprune: args.bool('no-prune') });
        for (const item of items ?? []) {
          if (item.Untagged) ctx.stdout.write(`Untagged: ${item.Untagged}\n`);
          if (item.Deleted) ctx.stdout.write(`Deleted: ${item.Deleted}\n`);
        }
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        errors.push(errorText(err));
      }
    }
    if (errors.length) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};
