import type { CommandSpec } from '../command.js';
import { readJson } from '../../client/transport.js';

const KIND_LETTER = ['C', 'A', 'D'];

export const command: CommandSpec = {
  use: 'diff CONTAINER',
  short: "Inspect changes to files or directories on a container's filesystem",
  aliases: ['berth container diff', 'berth diff'],
  flags: [],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const res = await ctx.client().raw({ method: 'GET', path: `/containers/${encodeURIComponent(args.args[0]!)}/changes` });
    const changes = (await readJson<Array<{ Path: string; Kind: number }> | null>(res)) ?? [];
    ctx.stdout.write(changes.map((c) => `${KIND_LETTER[c.Kind] ?? '?'} ${c.Path}\n`).join(''));
    return 0;
  },
};
