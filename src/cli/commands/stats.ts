import type { CommandSpec, CliContext } from '../command.js';
import { ClientError } from '../../client/errors.js';
import { jsonLines } from '../../client/jsonlines.js';
import { readJson, type HttpResponse } from '../../client/transport.js';
import { renderList } from '../render/formatter.js';
import { STATS_HEADERS, STATS_TABLE, StatsContext, computeFigures, type StatsFigures, type StatsJson } from '../render/stats.js';
import { FORMAT_TABLE_HELP, errorText } from './common.js';
import { StatusError } from '../command.js';

interface Target {
  /** What the user typed (or the full id when listing all). */
  container: string;
  id: string;
  name: string;
  figures?: StatsFigures;
}

const CLEAR_SCREEN = '\x1b[2J\x1b[H';

function render(ctx: CliContext, format: string, targets: Target[], trunc: boolean): string {
  const rows = targets.map((t) => new StatsContext(t.container, t.id, t.name, t.figures, trunc));
  return renderList(format, STATS_TABLE, rows, STATS_HEADERS);
}

export const command: CommandSpec = {
  use: 'stats [OPTIONS] [CONTAINER...]',
  short: 'Display a live stream of container(s) resource usage statistics',
  aliases: ['berth container stats', 'berth stats'],
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
    { name: 'format', type: 'string', help: FORMAT_TABLE_HELP },
    { name: 'no-stream', type: 'bool', help: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', type: 'bool', help: "Do not truncate output" },
  ],
  async run(ctx, args) {
    const client = ctx.client();
    let format = args.string('format') ?? '';
    if (!format || format === 'table') format = `table ${STATS_TABLE}`;
    const trunc = !args.bool('no-trunc');
    let targets: Target[];
    if (args.args.length) {
      targets = args.args.map((c) => ({ container: c, id: c, name: '' }));
    } else {
      const list = await client.containerList({ all: args.bool('all') });
      targets = list.map((c) => ({ container: c.Id, id: c.Id, name: c.Names?.[0] ?? '' }));
    }
    const apply = (t: Target, s: StatsJson): void => {
      if (s.id) t.id = s.id;
      if (s.name) t.name = s.name;
      t.figures = computeFigures(s);
    };

    if (args.bool('no-stream')) {
      const errors: string[] = [];
      await Promise.all(
        targets.map(async (t) => {
          try {
            apply(t, await readJson<StatsJson>(await client.containerStats(t.container, { stream: false })));
          } catch (err) {
            if (!(err instanceof ClientError)) throw err;
            errors.push(errorText(err));
          }
        }),
      );
      if (errors.length) throw new StatusError(errors.join('\n'), 1);
      ctx.stdout.write(render(ctx, format, targets, trunc));
      return 0;
    }

    const streams: HttpResponse[] = [];
    const readers = targets.map(async (t) => {
      const res = await client.containerStats(t.container, { stream: true });
      streams.push(res);
      for await (const s of jsonLines<StatsJson>(res)) apply(t, s);
    });
    let failure: unknown;
    const done = Promise.allSettled(readers).then((results) => {
      failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason;
    });
    const tty = (ctx.stdout as NodeJS.WriteStream).isTTY === true;
    const stop = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    for (;;) {
      const ended = await Promise.race([done.then(() => 'done'), stop.then(() => 'stop'), new Promise((r) => setTimeout(() => r('tick'), 1000))]);
      if (failure) {
        for (const s of streams) s.destroy();
        throw failure instanceof ClientError ? new StatusError(errorText(failure), 1) : failure;
      }
      ctx.stdout.write(`${tty ? CLEAR_SCREEN : ''}${render(ctx, format, targets, trunc)}`);
      if (ended !== 'tick') break;
    }
    for (const s of streams) s.destroy();
    return 0;
  },
};
