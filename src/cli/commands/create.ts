import { DaemonUnreachableError } from '../../client/errors.js';
import type { CommandSpec } from '../command.js';
import { CONTAINER_FLAGS, buildCreate, createContainer, runError } from './containeropts.js';

export const command: CommandSpec = {
  use: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create a new container',
  aliases: ['berth container create', 'berth create'],
  flags: CONTAINER_FLAGS,
  args: { min: 1 },
  stopAtPositional: true,
  async run(ctx, args) {
    const req = buildCreate(args, false);
    if (req.body.HostConfig) req.body.HostConfig.AutoRemove = args.bool('rm');
    try {
      const id = await createContainer(ctx, req);
      ctx.stdout.write(`${id}\n`);
      return 0;
    } catch (err) {
      if (err instanceof DaemonUnreachableError) throw err;
      throw runError(err, 'create', true);
    }
  },
};
