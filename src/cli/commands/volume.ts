/**
 * `berth volume create|ls|inspect|rm|prune`: thin commands over /volumes.
 */
import { readJson } from '../../client/transport.js';
import { isNotFound } from '../../client/errors.js';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import { FlagError } from '../flags.js';
import { parseFilters } from '../filters.js';
import { HeaderMap, renderList, renderOne } from '../render/formatter.js';
import { humanSize } from '../render/human.js';
import { inspectJson } from './inspect.js';

export interface VolumeJson {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: string;
}

async function call<T>(ctx: CliContext, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await ctx.client().raw({
    method,
    path,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  return readJson<T>(res);
}

function keyValues(values: string[], flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (flag === 'opt' && eq <= 0) throw new FlagError(`invalid argument "${v}" for "-o, --opt" flag: invalid key value pair format in driver options`);
    out[eq >= 0 ? v.slice(0, eq) : v] = eq >= 0 ? v.slice(eq + 1) : '';
  }
  return out;
}

export const volumeCreate: CommandSpec = {
  use: 'create [OPTIONS] [VOLUME]',
  short: 'Create a volume',
  flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'local', help: 'Specify volume driver name' },
    { name: 'label', type: 'stringArray', typeName: 'list', help: 'Set metadata for a volume' },
    { name: 'name', type: 'string', help: 'Specify volume name', hidden: true },
    { name: 'opt', short: 'o', type: 'stringArray', typeName: 'map', help: 'Set driver specific options' },
  ],
  args: { max: 1 },
  async run(ctx, args) {
    if (args.args[0] && args.string('name')) throw new FlagError(`conflicting options: either specify --name or provide positional arg, not both`);
    const volume = await call<VolumeJson>(ctx, 'POST', '/volumes/create', {
      Name: args.args[0] ?? args.string('name') ?? '',
      Driver: args.string('driver') ?? 'local',
      DriverOpts: keyValues(args.list('opt'), 'opt'),
      Labels: keyValues(args.list('label'), 'label'),
    });
    ctx.stdout.write(`${volume.Name}\n`);
    return 0;
  },
};

const VOLUME_TABLE = '{{.Driver}}\t{{.Name}}';
const VOLUME_HEADERS = new HeaderMap([
  ['Driver', 'DRIVER'],
  ['Name', 'VOLUME NAME'],
  ['Mountpoint', 'MOUNTPOINT'],
  ['Scope', 'SCOPE'],
  ['Labels', 'LABELS'],
  ['Links', 'LINKS'],
  ['Size', 'SIZE'],
  ['CreatedAt', 'CREATED AT'],
]);

export const volumeLs: CommandSpec = {
  use: 'ls [OPTIONS]',
  short: 'List volumes',
  aliases: ['berth volume ls, berth volume list'],
  flags: [
    { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: "Provide filter values (e.g. 'dangling=true')" },
    { name: 'format', type: 'string', help: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display volume names' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const filters = parseFilters(args.list('filter'));
    const query = Object.keys(filters).length ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : '';
    const answer = await call<{ Volumes: VolumeJson[] | null }>(ctx, 'GET', `/volumes${query}`);
    const rows = (answer.Volumes ?? [])
      .sort((a, b) => (a.Name < b.Name ? -1 : 1))
      .map((v) => ({
        ...v,
        Labels: Object.entries(v.Labels ?? {}).map(([k, val]) => `${k}=${val}`).join(','),
        Links: 'N/A',
        Size: 'N/A',
      }));
    let format = args.string('format') ?? '';
    if (args.bool('quiet') && !format) format = '{{.Name}}';
    if (!format || format === 'table') format = `table ${VOLUME_TABLE}`;
    ctx.stdout.write(renderList(format, VOLUME_TABLE, rows, VOLUME_HEADERS));
    return 0;
  },
};

export const volumeInspect: CommandSpec = {
  use: 'inspect [OPTIONS] VOLUME [VOLUME...]',
  short: 'Display detailed information on one or more volumes',
  flags: [{ name: 'format', short: 'f', type: 'string', help: 'Format output using a custom template' }],
  args: { min: 1 },
  async run(ctx, args) {
    const found: VolumeJson[] = [];
    const errors: string[] = [];
    for (const name of args.args) {
      try {
        found.push(await call<VolumeJson>(ctx, 'GET', `/volumes/${encodeURIComponent(name)}`));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        errors.push(`Error: No such volume: ${name}`);
      }
    }
    const format = args.string('format');
    if (format) ctx.stdout.write(found.map((v) => renderOne(format, v)).join(''));
    else ctx.stdout.write(`${inspectJson(found)}\n`);
    if (errors.length > 0) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};

export const volumeRm: CommandSpec = {
  use: 'rm [OPTIONS] VOLUME [VOLUME...]',
  short: 'Remove one or more volumes',
  aliases: ['berth volume rm, berth volume remove'],
  flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Force the removal of one or more volumes' }],
  args: { min: 1 },
  async run(ctx, args) {
    const errors: string[] = [];
    for (const name of args.args) {
      try {
        await ctx.client().raw({ method: 'DELETE', path: `/volumes/${encodeURIComponent(name)}`, query: { force: args.bool('force') } }).then((r) => r.resume());
        ctx.stdout.write(`${name}\n`);
      } catch (err) {
        errors.push(`Error response from daemon: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (errors.length > 0) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};

/** Reads a y/N answer from stdin, as docker's prune prompts do. */
export async function confirm(ctx: CliContext, warning: string): Promise<boolean> {
  ctx.stdout.write(`${warning}\nAre you sure you want to continue? [y/N] `);
  const answer = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (chunk: Buffer | string): void => {
      buf += chunk.toString();
      if (buf.includes('\n')) finish();
    };
    const finish = (): void => {
      ctx.stdin.off('data', onData);
      ctx.stdin.off('end', finish);
      ctx.stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    ctx.stdin.on('data', onData);
    ctx.stdin.on('end', finish);
    ctx.stdin.resume();
  });
  return /^(y|yes)$/i.test(answer.trim());
}

export const volumePrune: CommandSpec = {
  use: 'prune [OPTIONS]',
  short: 'Remove all unused local volumes',
  flags: [
    { name: 'filter', type: 'stringArray', typeName: 'filter', help: 'Provide filter values (e.g. "label=<label>")' },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    if (!args.bool('force') && !(await confirm(ctx, 'WARNING! This will remove all local volumes not used by at least one container.'))) return 0;
    const filters = parseFilters(args.list('filter'));
    const query = Object.keys(filters).length ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : '';
    const report = await call<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(ctx, 'POST', `/volumes/prune${query}`);
    let out = '';
    if (report.VolumesDeleted?.length) out += `Deleted Volumes:\n${report.VolumesDeleted.join('\n')}\n\n`;
    out += `Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`;
    ctx.stdout.write(out);
    return 0;
  },
};
