/**
 * `berth search REGISTRY/TERM`: a registry's _catalog through berthd, shown as docker shows
 * Docker Hub's results (same flags, columns and --format fields).
 */
import type { CommandSpec } from '../command.js';
import { registryAuthHeader } from '../credentials.js';
import { parseFilters } from '../filters.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { ellipsis } from '../render/human.js';
import { readJson } from '../../client/transport.js';

interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated?: boolean;
}

const SEARCH_TABLE = '{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}';
const SEARCH_HEADERS = new HeaderMap([
  ['Name', 'NAME'],
  ['Description', 'DESCRIPTION'],
  ['StarCount', 'STARS'],
  ['IsOfficial', 'OFFICIAL'],
  ['IsAutomated', 'AUTOMATED'],
]);

export const command: CommandSpec = {
  use: 'search [OPTIONS] REGISTRY/TERM',
  short: "Search a registry's catalog for repositories (REGISTRY/TERM, e.g. 127.0.0.1:5000/busy). Unlike Docker Hub's search there are no descriptions or stars: it matches repository names in the registry's _catalog",
  flags: [
    { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: 'Filter output based on conditions provided (is-official=BOOL, stars=N)' },
    { name: 'format', type: 'string', help: 'Pretty-print search using a Go template' },
    { name: 'limit', type: 'int', help: 'Max number of search results', default: 25 },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const term = args.args[0]!;
    const registry = term.split('/')[0]!;
    const auth = await registryAuthHeader(registry);
    const filters = parseFilters(args.list('filter'));
    const query: Record<string, string | number> = { term, limit: args.int('limit') ?? 25 };
    if (Object.keys(filters).length > 0) query.filters = JSON.stringify(filters);
    const res = await ctx.client().raw({ method: 'GET', path: '/images/search', query, headers: auth ? { 'X-Registry-Auth': auth } : {} });
    const results = (await readJson<SearchResult[]>(res)) ?? [];
    const trunc = !args.bool('no-trunc');
    const rows = results.map((r) => {
      const description = r.description.replace(/[\r\n]/g, ' ');
      return {
        Name: r.name,
        Description: trunc ? ellipsis(description, 45) : description,
        StarCount: String(r.star_count),
        IsOfficial: r.is_official ? '[OK]' : '',
        IsAutomated: r.is_automated ? '[OK]' : '',
      };
    });
    let format = args.string('format') ?? '';
    if (!format || format === 'table') format = `table ${SEARCH_TABLE}`;
    ctx.stdout.write(renderList(format, SEARCH_TABLE, rows, SEARCH_HEADERS));
    return 0;
  },
};
