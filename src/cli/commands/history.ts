import type { CommandSpec } from '../command.js';
import { renderList } from '../render/formatter.js';
import { HISTORY_HEADERS, HISTORY_TABLE, HistoryContext } from '../render/images.js';
import { FORMAT_TABLE_HELP } from './common.js';

export const command: CommandSpec = {
  use: 'history [OPTIONS] IMAGE',
  short: 'Show the history of an image',
  aliases: ['berth image history', 'berth history'],
  flags: [
    { name: 'format', type: 'string', help: FORMAT_TABLE_HELP },
    { name: 'human', short: 'H', type: 'bool', help: 'Print sizes and dates in human readable format', default: true },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only show image IDs' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const items = await ctx.client().imageHistory(args.args[0] as string);
    let format = args.string('format') ?? '';
    if (args.bool('quiet') && !format) format = '{{.ID}}';
    if (!format || format === 'table') format = `table ${HISTORY_TABLE}`;
    const now = Date.now();
    const rows = items.map((h) => new HistoryContext(h, !args.bool('no-trunc'), args.bool('human'), now));
    ctx.stdout.write(renderList(format, HISTORY_TABLE, rows, HISTORY_HEADERS));
    return 0;
  },
};
