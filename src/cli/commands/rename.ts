import type { CommandSpec } from '../command.js';

export const command: CommandSpec = {
  use: 'rename CONTAINER NEW_NAME',
  short: 'Rename a container',
  aliases: ['berth container rename', 'berth rename'],
  flags: [],
  args: { min: 2, max: 2 },
  async run(ctx, args) {
    const [oldName, newName] = args.args.map((a) => a.trim()) as [string, string];
    if (!oldName || !newName) throw new Error('Error: Neither old nor new names may be empty');
    await ctx.client().containerRename(oldName, newName);
    return 0;
  },
};
