import type { CommandSpec } from '../command.js';
import { eachTarget } from './common.js';

export const command: CommandSpec = {
  use: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Remove one or more containers',
  aliases: ['berth container rm', 'berth container remove', 'berth rm'],
  flags: [
    { name: 'force', short: 'f', type: 'bool', help: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'link', short: 'l', type: 'bool', help: 'Remove the specified link' },
    { name: 'volumes', short: 'v', type: 'bool', help: 'Remove anonymous volumes associated with the container' },
  ],
  args: { min: 1 },
  run: (ctx, args) =>
    eachTarget(ctx, args.args, (id) =>
      ctx.client().containerRemove(id.replace(/^\/+/, ''), { force: args.bool('force'), volumes: args.bool('volumes'), link: args.bool('link') }),
    ),
};
