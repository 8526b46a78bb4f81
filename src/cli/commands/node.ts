/**
 * `berth node ls|inspect|update|ps|rm`: the cluster's nodes as swarm mode shows them, with the
 * availability (active, pause, drain) and node labels the scheduler and reconciler honour.
 */
import { StatusError, type CommandSpec } from '../command.js';
import { FlagError } from '../flags.js';
import { parseFilters } from '../filters.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { isNotFound } from '../../client/errors.js';
import { callJson, inspectNamed } from './object-commands.js';
import { FORMAT_HELP, FORMAT_TABLE_HELP } from './common.js';
import { printTasks, TASK_LIST_FLAGS } from './service.js';
import type { SwarmNode, Task } from '../../cluster/services/types.js';

const enc = encodeURIComponent;

const NODE_TABLE = '{{.ID}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t{{.EngineVersion}}';
const NODE_HEADERS = new HeaderMap([
  ['ID', 'ID'],
  ['Hostname', 'HOSTNAME'],
  ['Status', 'STATUS'],
  ['Availability', 'AVAILABILITY'],
  ['ManagerStatus', 'MANAGER STATUS'],
  ['EngineVersion', 'ENGINE VERSION'],
]);

const title = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

export const nodeLs: CommandSpec = {
  use: 'ls [OPTIONS]',
  short: 'List nodes in the swarm',
  aliases: ['berth node ls, berth node list'],
  flags: [
    { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', help: FORMAT_TABLE_HELP },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const filters = parseFilters(args.list('filter'));
    const q = Object.keys(filters).length ? `?filters=${enc(JSON.stringify(filters))}` : '';
    const list = await callJson<SwarmNode[]>(ctx, 'GET', `/nodes${q}`);
    const rows = list.map((n) => ({
      ...n,
      ID: n.ID,
      Hostname: n.Description.Hostname,
      Status: title(n.Status.State),
      Availability: title(n.Spec.Availability),
      ManagerStatus: n.ManagerStatus ? (n.ManagerStatus.Leader ? 'Leader' : title(n.ManagerStatus.Reachability)) : '',
      EngineVersion: n.Description.Engine.EngineVersion,
    }));
    let format = args.string('format') ?? '';
    if (args.bool('quiet') && !format) format = '{{.ID}}';
    if (!format || format === 'table') format = `table ${NODE_TABLE}`;
    ctx.stdout.write(renderList(format, NODE_TABLE, rows, NODE_HEADERS));
    return 0;
  },
};

function pretty(n: SwarmNode): string {
  const labels = Object.entries(n.Spec.Labels ?? {});
  return [
    `ID:\t\t\t${n.ID}`,
    ...(labels.length ? ['Labels:', ...labels.map(([k, v]) => ` - ${k}=${v}`)] : []),
    `Hostname:\t\t${n.Description.Hostname}`,
    `Joined at:\t\t${n.CreatedAt}`,
    'Status:',
    ` State:\t\t\t${title(n.Status.State)}`,
    ` Availability:\t\t${title(n.Spec.Availability)}`,
    ` Address:\t\t${n.Status.Addr}`,
    'Platform:',
    ` Operating System:\t${n.Description.Platform.OS}`,
    ` Architecture:\t\t${n.Description.Platform.Architecture}`,
    'Resources:',
    ` CPUs:\t\t\t${n.Description.Resources.NanoCPUs / 1e9}`,
    ` Memory:\t\t${(n.Description.Resources.MemoryBytes / 1024 ** 3).toFixed(2)}GiB`,
    `Engine Version:\t\t${n.Description.Engine.EngineVersion}`,
    ...(Object.keys(n.Description.Engine.Labels).length ? ['Engine Labels:', ...Object.entries(n.Description.Engine.Labels).map(([k, v]) => ` - ${k}=${v}`)] : []),
    '',
  ].join('\n');
}

export const nodeInspect: CommandSpec = {
  use: 'inspect [OPTIONS] NODE [NODE...]',
  short: 'Display detailed information on one or more nodes',
  flags: [
    { name: 'format', short: 'f', type: 'string', help: FORMAT_HELP },
    { name: 'pretty', type: 'bool', help: 'Print the information in a human friendly format' },
  ],
  args: { min: 1 },
  async run(ctx, args) {
    return inspectNamed<SwarmNode>(ctx, args.args, 'node', (ref) => `/nodes/${enc(ref)}`, args.string('format'), { pretty, prettyRequested: args.bool('pretty') });
  },
};

export const nodeUpdate: CommandSpec = {
  use: 'update [OPTIONS] NODE',
  short: 'Update a node',
  flags: [
    { name: 'availability', type: 'string', help: 'Availability of the node ("active", "pause", "drain")' },
    { name: 'label-add', type: 'stringArray', typeName: 'list', help: 'Add or update a node label (key=value)' },
    { name: 'label-rm', type: 'stringArray', typeName: 'list', help: 'Remove a node label if exists' },
    { name: 'role', type: 'string', help: 'Role of the node ("worker", "manager")' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const ref = args.args[0]!;
    let node: SwarmNode;
    try {
      node = await callJson<SwarmNode>(ctx, 'GET', `/nodes/${enc(ref)}`);
    } catch (err) {
      if (isNotFound(err)) throw new StatusError(`Error: No such node: ${ref}`, 1);
      throw err;
    }
    const spec = structuredClone(node.Spec);
    const availability = args.string('availability');
    if (availability !== undefined) {
      if (!['active', 'pause', 'drain'].includes(availability.toLowerCase())) throw new FlagError(`invalid argument "${availability}" for "--availability" flag: invalid availability: ${availability}`);
      spec.Availability = availability.toLowerCase() as SwarmNode['Spec']['Availability'];
    }
    const labels = { ...spec.Labels };
    for (const key of args.list('label-rm')) {
      if (!(key in labels)) throw new StatusError(`key ${key} doesn't exist in node's labels`, 1);
      delete labels[key];
    }
    for (const kv of args.list('label-add')) {
      const eq = kv.indexOf('=');
      labels[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? '' : kv.slice(eq + 1);
    }
    spec.Labels = labels;
    if (args.string('role')) spec.Role = args.string('role') as SwarmNode['Spec']['Role'];
    await ctx.client().raw({ method: 'POST', path: `/nodes/${enc(node.ID)}/update`, query: { version: node.Version.Index }, body: JSON.stringify(spec), headers: { 'Content-Type': 'application/json' } }).then((r) => r.resume());
    ctx.stdout.write(`${ref}\n`);
    return 0;
  },
};

export const nodePs: CommandSpec = {
  use: 'ps [OPTIONS] [NODE...]',
  short: 'List tasks running on one or more nodes',
  flags: TASK_LIST_FLAGS,
  args: {},
  async run(ctx, args) {
    const refs = args.args.length ? args.args : [];
    const tasks: Task[] = [];
    const all = await callJson<SwarmNode[]>(ctx, 'GET', '/nodes');
    const chosen = refs.length ? refs.map((r) => all.find((n) => n.ID === r || n.Description.Hostname === r || n.ID.startsWith(r))) : all;
    for (const [i, n] of chosen.entries()) {
      if (!n) throw new StatusError(`Error: No such node: ${refs[i]}`, 1);
      const filters = parseFilters(args.list('filter'));
      filters.node = { [n.ID]: true };
      tasks.push(...(await callJson<Task[]>(ctx, 'GET', `/tasks?filters=${enc(JSON.stringify(filters))}`)));
    }
    await printTasks(ctx, tasks, args);
    return 0;
  },
};

export const nodeRm: CommandSpec = {
  use: 'rm [OPTIONS] NODE [NODE...]',
  short: 'Remove one or more nodes from the swarm',
  aliases: ['berth node rm, berth node remove'],
  flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Force remove a node from the swarm' }],
  args: { min: 1 },
  async run(ctx, args) {
    const errors: string[] = [];
    for (const ref of args.args) {
      try {
        await ctx.client().raw({ method: 'DELETE', path: `/nodes/${enc(ref)}`, query: { force: args.bool('force') } }).then((r) => r.resume());
        ctx.stdout.write(`${ref}\n`);
      } catch (err) {
        errors.push(`Error response from daemon: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (errors.length) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};
