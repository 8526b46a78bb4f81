import { jsonLines } from '../../client/jsonlines.js';
import type { EventMessage } from '../../client/types.js';
import type { CommandSpec } from '../command.js';
import { parseFilters } from '../filters.js';
import { parseGoDuration } from '../flags.js';
import { parseFormat, renderOne } from '../render/formatter.js';
import { apiTimestamp, rfc3339NanoFixed } from '../render/human.js';
import { FORMAT_HELP, filterFlag } from './common.js';

/** docker's default event line: "<time> <type> <action> <id> (k=v, ...)". */
export function eventLine(e: EventMessage): string {
  let s = '';
  const nanos = e.timeNano ? BigInt(e.timeNano) : e.time ? BigInt(e.time) * 1_000_000_000n : 0n;
  if (nanos !== 0n) s += `${rfc3339NanoFixed(nanos)} `;
  s += `${e.Type ?? ''} ${e.Action ?? e.status ?? ''} ${e.Actor?.ID ?? e.id ?? ''}`;
  const attrs = e.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length) s += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return `${s}\n`;
}

/** Event fields under the names docker's templates use (.Status, .ID, .From, .Time, .TimeNano). */
function templateView(e: EventMessage): Record<string, unknown> {
  return { ...e, Status: e.status, ID: e.id, From: e.from, Time: e.time, TimeNano: e.timeNano, Scope: e.scope };
}

export const command: CommandSpec = {
  use: 'events [OPTIONS]',
  short: 'Get real time events from the server',
  aliases: ['berth system events', 'berth events'],
  flags: [
    filterFlag,
    { name: 'format', type: 'string', help: FORMAT_HELP },
    { name: 'since', type: 'string', help: 'Show all events created since timestamp' },
    { name: 'until', type: 'string', help: 'Stream events until this timestamp' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const now = Date.now();
    const since = args.string('since');
    const until = args.string('until');
    const format = args.string('format');
    if (format) parseFormat(format, ''); // Reject a bad template before waiting on the stream.
    const res = await ctx.client().events({
      since: since ? apiTimestamp(since, now, parseGoDuration) : undefined,
      until: until ? apiTimestamp(until, now, parseGoDuration) : undefined,
      filters: parseFilters(args.list('filter')),
    });
    for await (const e of jsonLines<EventMessage>(res)) {
      ctx.stdout.write(format === 'json' ? `${JSON.stringify(e)}\n` : format ? renderOne(format, templateView(e)) : eventLine(e));
    }
    return 0;
  },
};
