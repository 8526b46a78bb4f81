import type { CommandSpec } from '../command.js';
import { parseFilters } from '../filters.js';
import { renderList } from '../render/formatter.js';
import { IMAGES_HEADERS, IMAGES_TABLE, IMAGES_TABLE_DIGESTS, imageRows } from '../render/images.js';
import { FORMAT_TABLE_HELP, filterFlag } from './common.js';

export const command: CommandSpec = {
  use: 'images [OPTIONS] [REPOSITORY[:TAG]]',
  short: 'List images',
  aliases: ['berth image ls', 'berth image list', 'berth images'],
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Show all images (default hides intermediate images)' },
    { name: 'digests', type: 'bool', help: 'Show digests' },
    filterFlag,
    { name: 'format', type: 'string', help: FORMAT_TABLE_HELP },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only show image IDs' },
  ],
  args: { max: 1 },
  async run(ctx, args) {
    const filters = parseFilters(args.list('filter'));
    // The positional REPOSITORY[:TAG] is docker's shorthand for a reference filter.
    if (args.args[0]) (filters.reference ??= {})[args.args[0]] = true;
    const digests = args.bool('digests');
    let format = args.string('format') ?? '';
    const quiet = args.bool('quiet');
    if (quiet && !format) format = '{{.ID}}';
    const table = digests ? IMAGES_TABLE_DIGESTS : IMAGES_TABLE;
    if (!format || format === 'table') format = `table ${table}`;
    const images = await ctx.client().imageList({ all: args.bool('all'), filters });
    let rows = imageRows(images, !args.bool('no-trunc'));
    if (quiet) {
      // -q lists each image once even when it has several tags.
      const seen = new Set<string>();
      rows = rows.filter((r) => !seen.has(r.ID()) && seen.add(r.ID()) !== undefined);
    }
    ctx.stdout.write(renderList(format, table, rows, IMAGES_HEADERS));
    return 0;
  },
};
