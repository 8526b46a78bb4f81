import { ClientError, DaemonUnreachableError, isNotFound } from '../../client/errors.js';
import type { CommandSpec } from '../command.js';
import { CONTAINER_FLAGS, buildCreate, createContainer, runError } from './containeropts.js';
import { copyLogs, proxySignals } from './output.js';
import type { FlagSpec } from '../flags.js';

const DETACH_FLAG: FlagSpec = { name: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' };

export const command: CommandSpec = {
  use: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create and run a new container from an image',
  aliases: ['berth container run', 'berth run'],
  flags: [DETACH_FLAG, ...CONTAINER_FLAGS].sort((a, b) => a.name.localeCompare(b.name)),
  args: { min: 1 },
  stopAtPositional: true,
  async run(ctx, args) {
    const detach = args.bool('detach');
    const autoRemove = args.bool('rm');
    const req = buildCreate(args, !detach);
    // Detached: the daemon removes it. Attached: we remove it ourselves once its output is
    // drained, because a daemon-side removal can race the log stream and lose the output.
    if (req.body.HostConfig) req.body.HostConfig.AutoRemove = detach && autoRemove;
    const client = ctx.client();
    let id: string;
    try {
      id = await createContainer(ctx, req);
    } catch (err) {
      if (err instanceof DaemonUnreachableError) throw err;
      throw runError(err, 'run', true);
    }
    const cleanup = async (): Promise<void> => {
      if (!detach && autoRemove) await client.containerRemove(id, { force: true, volumes: true }).catch(() => undefined);
    };
    try {
      await client.containerStart(id);
    } catch (err) {
      await cleanup();
      throw runError(err, 'run', false);
    }
    if (detach) {
      ctx.stdout.write(`${id}\n`);
      return 0;
    }
    const unproxy = req.body.Tty ? () => undefined : proxySignals(client, id);
    try {
      try {
        await copyLogs(ctx, client, id, { follow: true }, req.body.Tty === true);
      } catch (err) {
        // A container already gone (removed by a restart policy race) just has no more output.
        if (!isNotFound(err)) throw err;
      }
      const res = await client.containerWait(id);
      if (res.Error?.Message) ctx.stderr.write(`berth: ${res.Error.Message}\n`);
      return res.StatusCode;
    } catch (err) {
      if (err instanceof ClientError) throw runError(err, 'run', false);
      throw err;
    } finally {
      unproxy();
      await cleanup();
    }
  },
};
