/**
 * `berth system prune [-a] [--volumes] [-f] [--filter ...]`. The Engine API has no single prune
 * endpoint: like docker's CLI this calls each object's prune in turn (containers, networks,
 * volumes when asked, images, build cache), prints what each removed and the total reclaimed.
 */
import type { CliContext, CommandSpec } from '../command.js';
import { StatusError } from '../command.js';
import { parseFilters } from '../filters.js';
import { humanSize } from '../render/human.js';
import type { Filters } from '../../client/types.js';
import { callJson } from './object-commands.js';
import { confirm } from './volume.js';

interface PruneAnswer {
  ContainersDeleted?: string[] | null;
  NetworksDeleted?: string[] | null;
  VolumesDeleted?: string[] | null;
  ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null;
  CachesDeleted?: string[] | null;
  SpaceReclaimed?: number;
}

interface Step {
  path: string;
  filters: Filters;
  /** The "Deleted ...:" block, empty when nothing went. */
  render: (answer: PruneAnswer) => string;
}

const block = (title: string, lines: readonly string[] | null | undefined): string =>
  lines && lines.length > 0 ? `${title}:\n${lines.map((l) => `${l}\n`).join('')}` : '';

function filterQuery(filters: Filters): string {
  return Object.keys(filters).length > 0 ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : '';
}

function warning(all: boolean, volumes: boolean, filterArgs: readonly string[]): string {
  const items = ['all stopped containers', 'all networks not used by at least one container'];
  if (volumes) items.push('all anonymous volumes not used by at least one container');
  items.push(all ? 'all images without at least one container associated to them' : 'all dangling images');
  items.push(all ? 'all build cache' : 'unused build cache');
  let text = `WARNING! This will remove:\n${items.map((i) => `  - ${i}\n`).join('')}`;
  if (filterArgs.length > 0) text += `\n  Items to be pruned will be filtered with:\n${filterArgs.map((f) => `  - ${f}\n`).join('')}`;
  return text.replace(/\n$/, '');
}

export function pruneSteps(all: boolean, volumes: boolean, base: Filters): Step[] {
  const steps: Step[] = [
    { path: '/containers/prune', filters: base, render: (a) => block('Deleted Containers', a.ContainersDeleted) },
    { path: '/networks/prune', filters: base, render: (a) => block('Deleted Networks', a.NetworksDeleted) },
  ];
  // Anonymous volumes only (docker 23+), said explicitly because berth's client speaks API 1.41.
  if (volumes) steps.push({ path: '/volumes/prune', filters: { ...base, all: { false: true } }, render: (a) => block('Deleted Volumes', a.VolumesDeleted) });
  steps.push({
    path: '/images/prune',
    filters: { ...base, dangling: { [all ? 'false' : 'true']: true } },
    render: (a) => block('Deleted Images', (a.ImagesDeleted ?? []).map((d) => (d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted ?? ''}`))),
  });
  steps.push({ path: `/build/prune${all ? '?all=1' : ''}`, filters: base, render: (a) => block('Deleted build cache objects', a.CachesDeleted) });
  return steps;
}

async function runSteps(ctx: CliContext, steps: readonly Step[]): Promise<void> {
  let reclaimed = 0;
  for (const step of steps) {
    const query = filterQuery(step.filters);
    const path = query ? `${step.path}${step.path.includes('?') ? `&${query.slice(1)}` : query}` : step.path;
    const answer = await callJson<PruneAnswer>(ctx, 'POST', path);
    reclaimed += answer.SpaceReclaimed ?? 0;
    const text = step.render(answer);
    if (text) ctx.stdout.write(`${text}\n`);
  }
  ctx.stdout.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
}

export const systemPrune: CommandSpec = {
  use: 'prune [OPTIONS]',
  short: 'Remove unused data',
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Remove all unused images not just dangling ones' },
    { name: 'filter', type: 'stringArray', typeName: 'filter', help: 'Provide filter values (e.g. "label=<key>=<value>")' },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
    { name: 'volumes', type: 'bool', help: 'Prune anonymous volumes' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const all = args.bool('all');
    const volumes = args.bool('volumes');
    const filterArgs = args.list('filter');
    const filters = parseFilters(filterArgs);
    if (volumes && filters.until) throw new StatusError('ERROR: The "until" filter is not supported with "--volumes"', 1);
    if (!args.bool('force') && !(await confirm(ctx, warning(all, volumes, filterArgs)))) return 0;
    await runSteps(ctx, pruneSteps(all, volumes, filters));
    return 0;
  },
};
