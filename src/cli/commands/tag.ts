import type { CommandSpec } from '../command.js';
import { splitRepoTag } from '../render/images.js';

export const command: CommandSpec = {
  use: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  short: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  aliases: ['berth image tag', 'berth tag'],
  flags: [],
  args: { min: 2, max: 2 },
  async run(ctx, args) {
    const [source, target] = args.args as [string, string];
    const [repo, tag] = splitRepoTag(target);
    await ctx.client().imageTag(source, repo, tag || 'latest');
    return 0;
  },
};
