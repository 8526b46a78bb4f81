import type { CommandSpec } from '../command.js';
import { registryAuthHeader } from '../credentials.js';
import { tabwrite } from '../render/table.js';
import { readJson } from '../../client/transport.js';

interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
}

export const command: CommandSpec = {
  use: 'search [OPTIONS] REGISTRY/TERM',
  short: "Search a registry's catalog for repositories (REGISTRY/TERM, e.g. 127.0.0.1:5000/busy). Unlike Docker Hub's search there are no descriptions or stars: it matches repository names in the registry's _catalog",
  flags: [
    { name: 'limit', type: 'int', help: 'Max number of search results', default: 25 },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const term = args.args[0]!;
    const registry = term.split('/')[0]!;
    const auth = await registryAuthHeader(registry);
    const res = await ctx.client().raw({
      method: 'GET',
      path: '/images/search',
      query: { term, limit: args.int('limit') ?? 25 },
      headers: auth ? { 'X-Registry-Auth': auth } : {},
    });
    const results = (await readJson<SearchResult[]>(res)) ?? [];
    let text = 'NAME\tDESCRIPTION\tSTARS\tOFFICIAL\n';
    for (const r of results) text += `${r.name}\t${r.description}\t${r.star_count}\t${r.is_official ? '[OK]' : ''}\n`;
    ctx.stdout.write(tabwrite(text));
    return 0;
  },
};
