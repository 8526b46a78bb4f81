import type { CommandSpec } from '../command.js';
import { eachTarget } from './common.js';

export const pause: CommandSpec = {
  use: 'pause CONTAINER [CONTAINER...]',
  short: 'Pause all processes within one or more containers',
  aliases: ['berth container pause', 'berth pause'],
  flags: [],
  args: { min: 1 },
  run: (ctx, args) => eachTarget(ctx, args.args, (id) => ctx.client().containerPause(id)),
};

export const unpause: CommandSpec = {
  use: 'unpause CONTAINER [CONTAINER...]',
  short: 'Unpause all processes within one or more containers',
  aliases: ['berth container unpause', 'berth unpause'],
  flags: [],
  args: { min: 1 },
  run: (ctx, args) => eachTarget(ctx, args.args, (id) => ctx.client().containerUnpause(id)),
};
