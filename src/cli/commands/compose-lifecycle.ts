/** `compose down`, `stop`, `start`, `restart`, `kill`, `pause`, `unpause`, `rm`: acting on the project's containers. */
import { StatusError } from '../command.js';
import type { ActualContainer } from '../../compose/planner.js';
import { checkServices, type ComposeCommand, type ComposeContext } from './compose.js';
import type { ParsedArgs } from '../flags.js';

const timeoutFlag = { name: 'timeout', short: 't', type: 'int' as const, help: 'Specify a shutdown timeout in seconds' };

async function targets(ctx: ComposeContext, args: ParsedArgs): Promise<{ list: ActualContainer[]; exec: ReturnType<ComposeContext['executor']> }> {
  const loaded = ctx.load();
  checkServices(loaded, args.args);
  const exec = ctx.executor(loaded);
  return { list: await exec.containers({ services: args.args }), exec };
}

export const down: ComposeCommand = {
  use: 'down [OPTIONS] [SERVICES]',
  short: 'Stop and remove containers, networks',
  flags: [
    { name: 'volumes', short: 'v', type: 'bool', help: 'Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers' },
    { name: 'rmi', type: 'string', help: 'Remove images used by services. "local" remove only images that don\'t have a custom tag ("local"|"all")' },
    { name: 'remove-orphans', type: 'bool', help: 'Remove containers for services not defined in the Compose file' },
    timeoutFlag,
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const rmi = args.string('rmi');
    if (rmi !== undefined && rmi !== 'local' && rmi !== 'all') throw new StatusError(`invalid --rmi option "${rmi}": use "local" or "all"`, 1);
    await ctx.executor(ctx.load()).down({ volumes: args.bool('volumes'), rmi, removeOrphans: args.bool('remove-orphans'), timeout: args.int('timeout') });
    return 0;
  },
};

export const stop: ComposeCommand = {
  use: 'stop [OPTIONS] [SERVICE...]',
  short: 'Stop services',
  flags: [timeoutFlag],
  async run(ctx, args) {
    const { list, exec } = await targets(ctx, args);
    await exec.stopInOrder(list, args.int('timeout'));
    return 0;
  },
};

export const start: ComposeCommand = {
  use: 'start [SERVICE...]',
  short: 'Start services',
  flags: [],
  async run(ctx, args) {
    const { list, exec } = await targets(ctx, args);
    if (!list.length) throw new StatusError('service(s) not found or no containers created: run "berth compose up" or "create" first', 1);
    // Dependencies first, as up does.
    const levels = (await import('../../compose/graph.js')).startOrder(exec.project.services);
    for (const level of levels) {
      for (const c of list.filter((x) => level.includes(x.service) && x.state !== 'running')) {
        await exec.client.containerStart(c.id);
        ctx.stderr.write(` Container ${c.name}  Started\n`);
      }
    }
    return 0;
  },
};

export const restart: ComposeCommand = {
  use: 'restart [OPTIONS] [SERVICE...]',
  short: 'Restart service containers',
  flags: [timeoutFlag],
  async run(ctx, args) {
    const { list, exec } = await targets(ctx, args);
    for (const c of list) {
      await exec.client.containerRestart(c.id, args.int('timeout'));
      ctx.stderr.write(` Container ${c.name}  Started\n`);
    }
    return 0;
  },
};

export const kill: ComposeCommand = {
  use: 'kill [OPTIONS] [SERVICE...]',
  short: 'Force stop service containers',
  flags: [{ name: 'signal', short: 's', type: 'string', help: 'SIGNAL to send to the container', default: 'SIGKILL' }, { name: 'remove-orphans', type: 'bool', help: 'Remove containers for services not defined in the Compose file' }],
  async run(ctx, args) {
    const { list, exec } = await targets(ctx, args);
    for (const c of list.filter((x) => x.state === 'running')) {
      await exec.client.containerKill(c.id, args.string('signal'));
      ctx.stderr.write(` Container ${c.name}  Killed\n`);
    }
    return 0;
  },
};

function pauseLike(verb: 'pause' | 'unpause'): ComposeCommand {
  return {
    use: `${verb} [SERVICE...]`,
    short: verb === 'pause' ? 'Pause services' : 'Unpause services',
    flags: [],
    async run(ctx, args) {
      const { list, exec } = await targets(ctx, args);
      for (const c of list.filter((x) => x.state === (verb === 'pause' ? 'running' : 'paused'))) {
        await (verb === 'pause' ? exec.engine.containerPause(c.id) : exec.engine.containerUnpause(c.id));
        ctx.stderr.write(` Container ${c.name}  ${verb === 'pause' ? 'Paused' : 'Unpaused'}\n`);
      }
      return 0;
    },
  };
}
export const pause = pauseLike('pause');
export const unpause = pauseLike('unpause');

export const rm: ComposeCommand = {
  use: 'rm [OPTIONS] [SERVICE...]',
  short: 'Removes stopped service containers',
  flags: [
    { name: 'force', short: 'f', type: 'bool', help: "Don't ask to confirm removal" },
    { name: 'stop', short: 's', type: 'bool', help: 'Stop the containers, if required, before removing' },
    { name: 'volumes', short: 'v', type: 'bool', help: 'Remove any anonymous volumes attached to containers' },
  ],
  async run(ctx, args) {
    const { list, exec } = await targets(ctx, args);
    if (args.bool('stop')) await exec.stopInOrder(list);
    const fresh = args.bool('stop') ? await exec.containers({ services: args.args }) : list;
    const stopped = fresh.filter((c) => c.state !== 'running' && c.state !== 'paused' && c.state !== 'restarting');
    if (!stopped.length) {
      ctx.stderr.write('No stopped containers\n');
      return 0;
    }
    if (!args.bool('force')) {
      // Without a terminal to ask on, compose refuses rather than guessing.
      if (!(process.stdin as NodeJS.ReadStream).isTTY) throw new StatusError(`Going to remove ${stopped.map((c) => c.name).join(', ')}: use -f to confirm without a terminal`, 1);
      ctx.stdout.write(`Going to remove ${stopped.map((c) => c.name).join(', ')}\n? Are you sure? [yN] `);
      const answer = await new Promise<string>((resolve) => process.stdin.once('data', (d: Buffer) => resolve(d.toString().trim())));
      process.stdin.pause();
      if (!/^y(es)?$/i.test(answer)) return 0;
    }
    await exec.removeContainers(stopped, false, undefined, args.bool('volumes'));
    return 0;
  },
};
