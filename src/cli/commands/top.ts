import type { CommandSpec } from '../command.js';
import { tabwrite } from '../render/table.js';

export const command: CommandSpec = {
  use: 'top CONTAINER [ps OPTIONS]',
  short: 'Display the running processes of a container',
  aliases: ['berth container top', 'berth top'],
  flags: [],
  args: { min: 1 },
  stopAtPositional: true,
  async run(ctx, args) {
    const [container, ...psArgs] = args.args as [string, ...string[]];
    const top = await ctx.client().containerTop(container, psArgs.join(' '));
    const lines = [top.Titles.join('\t'), ...top.Processes.map((p) => p.join('\t'))];
    // docker's top uses its own tabwriter settings: minimum width 20, padding 3.
    ctx.stdout.write(tabwrite(`${lines.join('\n')}\n`, { minWidth: 20, padding: 3 }));
    return 0;
  },
};
