import type { CommandSpec } from '../command.js';
import { FlagError, byName } from '../flags.js';
import { eachTarget } from './common.js';
import { parseRestart } from './containeropts.js';
import { LIMIT_FLAGS, resourcesFromFlags } from './resourceopts.js';
import type { UpdateBody } from '../../client/types.js';
import type { FlagSpec } from '../flags.js';

const RESTART_FLAG: FlagSpec = { name: 'restart', type: 'string', help: 'Restart policy to apply when a container exits' };

export const command: CommandSpec = {
  use: 'update [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Update configuration of one or more containers',
  aliases: ['berth container update', 'berth update'],
  flags: [...LIMIT_FLAGS, RESTART_FLAG].sort(byName),
  args: { min: 1 },
  async run(ctx, args) {
    if (args.changed.size === 0) throw new FlagError('you must provide one or more flags when using this command');
    const body: UpdateBody = resourcesFromFlags(args);
    if (args.changed.has('restart')) body.RestartPolicy = parseRestart(args.string('restart') ?? '');
    return eachTarget(ctx, args.args, async (id) => {
      const res = await ctx.client().containerUpdate(id, body);
      for (const w of res.Warnings ?? []) ctx.stderr.write(`${w}\n`);
    });
  },
};
