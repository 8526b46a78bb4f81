/** `berth builder prune`: POST /build/prune, printed as docker prints it. */
import type { CliContext, CommandSpec } from '../command.js';
import { humanSize } from '../render/human.js';

interface PruneReport {
  CachesDeleted?: string[] | null;
  SpaceReclaimed?: number;
}

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.stdout.write(`${question}\nAre you sure you want to continue? [y/N] `);
  let answer = '';
  for await (const chunk of ctx.stdin as AsyncIterable<Buffer | string>) {
    answer += chunk.toString();
    if (answer.includes('\n')) break;
  }
  return /^(y|yes)$/i.test(answer.split('\n')[0]!.trim());
}

export const prune: CommandSpec = {
  use: 'prune',
  short: 'Remove build cache',
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Remove all unused build cache, not just dangling ones' },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const all = args.bool('all');
    if (!args.bool('force')) {
      const warning = all ? 'WARNING! This will remove all build cache.' : 'WARNING! This will remove all dangling build cache.';
      if (!(await confirm(ctx, warning))) return 0;
    }
    const res = await ctx.client().raw({ method: 'POST', path: `/build/prune${all ? '?all=1' : ''}` });
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const report = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as PruneReport;
    const deleted = report.CachesDeleted ?? [];
    if (deleted.length > 0) ctx.stdout.write(`Deleted build cache objects:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
    ctx.stdout.write(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
    return 0;
  },
};
