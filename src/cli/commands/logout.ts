import type { CommandSpec } from '../command.js';
import { credentialKey, DOCKER_HUB_KEY, removeCredentials } from '../credentials.js';

export const command: CommandSpec = {
  use: 'logout [SERVER]',
  short: 'Log out from a registry',
  flags: [],
  args: { max: 1 },
  async run(ctx, args) {
    const key = credentialKey(args.args[0] ?? DOCKER_HUB_KEY);
    if (await removeCredentials(key)) ctx.stdout.write(`Removing login credentials for ${key}\n`);
    else ctx.stdout.write(`Not logged in to ${key}\n`);
    return 0;
  },
};
