import type { Filters } from '../../client/types.js';
import type { CliContext, CommandSpec } from '../command.js';
import { parseFilters } from '../filters.js';
import { humanSize } from '../render/human.js';

/** Reads one answer line; anything but y/yes (any case) declines, as docker's prompt does. */
async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.stdout.write(`${question}\nAre you sure you want to continue? [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const stdin = ctx.stdin;
    const onData = (chunk: Buffer | string): void => {
      buf += chunk.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    };
    const done = (answer: string): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      resolve(answer);
    };
    const onEnd = (): void => done(buf);
    stdin.on('data', onData);
    stdin.on('end', onEnd);
    stdin.resume();
  });
  return /^(y|yes)$/i.test(line.trim());
}

const filterFlag = { name: 'filter', type: 'stringArray', typeName: 'filter', help: 'Provide filter values (e.g. "until=<timestamp>")' } as const;
const forceFlag = { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' } as const;

export const containerPrune: CommandSpec = {
  use: 'prune [OPTIONS]',
  short: 'Remove all stopped containers',
  flags: [filterFlag, forceFlag],
  args: { max: 0 },
  async run(ctx, args) {
    const filters = parseFilters(args.list('filter'));
    if (!args.bool('force') && !(await confirm(ctx, 'WARNING! This will remove all stopped containers.'))) return 0;
    const report = await ctx.client().containerPrune(filters);
    let out = '';
    if (report.ContainersDeleted?.length) out += `Deleted Containers:\n${report.ContainersDeleted.join('\n')}\n\n`;
    out += `Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`;
    ctx.stdout.write(out);
    return 0;
  },
};

export const imagePrune: CommandSpec = {
  use: 'prune [OPTIONS]',
  short: 'Remove unused images',
  flags: [{ name: 'all', short: 'a', type: 'bool', help: 'Remove all unused images, not just dangling ones' }, filterFlag, forceFlag],
  args: { max: 0 },
  async run(ctx, args) {
    const filters: Filters = parseFilters(args.list('filter'));
    const all = args.bool('all');
    filters.dangling = { [all ? 'false' : 'true']: true };
    const warning = all
      ? 'WARNING! This will remove all images without at least one container associated to them.'
      : 'WARNING! This will remove all dangling images.';
    if (!args.bool('force') && !(await confirm(ctx, warning))) return 0;
    const report = await ctx.client().imagePrune(filters);
    let out = '';
    if (report.ImagesDeleted?.length) {
      out += 'Deleted Images:\n';
      for (const d of report.ImagesDeleted) {
        if (d.Untagged) out += `untagged: ${d.Untagged}\n`;
        if (d.Deleted) out += `deleted: ${d.Deleted}\n`;
      }
      out += '\n';
    }
    out += `Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`;
    ctx.stdout.write(out);
    return 0;
  },
};
