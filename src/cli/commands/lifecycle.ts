import type { CommandSpec } from '../command.js';
import { eachTarget } from './common.js';

const signalFlag = { name: 'signal', short: 's', type: 'string', help: 'Signal to send to the container' } as const;
const timeoutFlag = { name: 'timeout', short: 't', type: 'int', help: 'Seconds to wait before killing the container' } as const;

export const stop: CommandSpec = {
  use: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Stop one or more running containers',
  aliases: ['berth container stop', 'berth stop'],
  flags: [signalFlag, timeoutFlag],
  args: { min: 1 },
  run: (ctx, args) => eachTarget(ctx, args.args, (id) => ctx.client().containerStop(id, args.int('timeout'), args.string('signal'))),
};

export const restart: CommandSpec = {
  use: 'restart [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Restart one or more containers',
  aliases: ['berth container restart', 'berth restart'],
  flags: [signalFlag, timeoutFlag],
  args: { min: 1 },
  run: (ctx, args) => eachTarget(ctx, args.args, (id) => ctx.client().containerRestart(id, args.int('timeout'), args.string('signal'))),
};

export const kill: CommandSpec = {
  use: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
  short: 'Kill one or more running containers',
  aliases: ['berth container kill', 'berth kill'],
  flags: [signalFlag],
  args: { min: 1 },
  run: (ctx, args) => eachTarget(ctx, args.args, (id) => ctx.client().containerKill(id, args.string('signal'))),
};
