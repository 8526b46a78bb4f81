import type { CommandSpec } from '../command.js';
import { parseFilters } from '../filters.js';
import { ContainerContext, PS_HEADERS, PS_TABLE } from '../render/containers.js';
import { renderList } from '../render/formatter.js';
import { FORMAT_TABLE_HELP, filterFlag } from './common.js';

export const command: CommandSpec = {
  use: 'ps [OPTIONS]',
  short: 'List containers',
  aliases: ['berth container ls', 'berth container list', 'berth container ps', 'berth ps'],
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
    filterFlag,
    { name: 'format', type: 'string', help: FORMAT_TABLE_HELP },
    { name: 'last', short: 'n', type: 'int', help: 'Show n last created containers (includes all states)', default: -1 },
    { name: 'latest', short: 'l', type: 'bool', help: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display container IDs' },
    { name: 'size', short: 's', type: 'bool', help: 'Display total file sizes' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const quiet = args.bool('quiet');
    let format = args.string('format') ?? '';
    if (quiet && !format) format = '{{.ID}}';
    if (!format || format === 'table') format = `table ${PS_TABLE}${args.bool('size') ? '\t{{.Size}}' : ''}`;
    let limit = args.int('last') ?? -1;
    if (args.bool('latest')) limit = 1;
    const containers = await ctx.client().containerList({
      all: args.bool('all') || limit !== -1,
      limit,
      // Sizes are costly for the daemon; docker only asks when they will be shown.
      size: args.bool('size') || /\.Size\b/.test(format),
      filters: parseFilters(args.list('filter')),
    });
    const now = Date.now();
    const rows = containers.map((c) => new ContainerContext(c, !args.bool('no-trunc'), now));
    ctx.stdout.write(renderList(format, PS_TABLE, rows, PS_HEADERS));
    return 0;
  },
};
