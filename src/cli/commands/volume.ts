/**
 * `berth volume create|ls|inspect|rm|prune`: thin commands over /volumes.
 */
import { type CliContext, type CommandSpec } from '../command.js';
import { FlagError } from '../flags.js';
import { parseFilters } from '../filters.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { humanSize } from '../render/human.js';
import { callJson, inspectNamed, keyValues, removeNamed } from './object-commands.js';

export interface VolumeJson {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: string;
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
    const volume = await callJson<VolumeJson>(ctx, 'POST', '/volumes/create', {
      Name: args.args[0] ?? args.string('name') ?? '',
      Driver: args.string('driver') ?? 'local',
      DriverOpts: keyValues(args.list('opt'), '-o, --opt', true),
      Labels: keyValues(args.list('label'), '--label', false),
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
    const answer = await callJson<{ Volumes: VolumeJson[] | null }>(ctx, 'GET', `/volumes${query}`);
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
  run: (ctx, args) => inspectNamed(ctx, args.args, 'volume', (name) => `/volumes/${encodeURIComponent(name)}`, args.string('format')),
};

export const volumeRm: CommandSpec = {
  use: 'rm [OPTIONS] VOLUME [VOLUME...]',
  short: 'Remove one or more volumes',
  aliases: ['berth volume rm, berth volume remove'],
  flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Force the removal of one or more volumes' }],
  args: { min: 1 },
  run: (ctx, args) => removeNamed(ctx, args.args, (name) => `/volumes/${encodeURIComponent(name)}`, { force: args.bool('force') }, false),
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
    { name: 'all', short: 'a', type: 'bool', help: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', type: 'stringArray', typeName: 'filter', help: 'Provide filter values (e.g. "label=<label>")' },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const all = args.bool('all');
    const warning = all
      ? 'WARNING! This will remove all local volumes not used by at least one container.'
      : 'WARNING! This will remove anonymous local volumes not used by at least one container.';
    if (!args.bool('force') && !(await confirm(ctx, warning))) return 0;
    const filters = parseFilters(args.list('filter'));
    if (all && filters.all) throw new FlagError('conflicting options: cannot specify both --all and --filter all=1');
    // Said explicitly: berth's client speaks API 1.41, where the daemon's default is docker 22's "all".
    filters.all ??= { [all ? 'true' : 'false']: true };
    const query = Object.keys(filters).length ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : '';
    const report = await callJson<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>(ctx, 'POST', `/volumes/prune${query}`);
    let out = '';
    if (report.VolumesDeleted?.length) out += `Deleted Volumes:\n${report.VolumesDeleted.join('\n')}\n\n`;
    out += `Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`;
    ctx.stdout.write(out);
    return 0;
  },
};
