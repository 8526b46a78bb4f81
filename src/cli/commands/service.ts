/**
 * `berth service create|ls|ps|inspect|scale|update|rollback|logs|rm`: thin commands over the
 * manager's /services and /tasks, printing what the docker CLI prints.
 */
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import { FlagError, type ParsedArgs } from '../flags.js';
import { parseFilters } from '../filters.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { humanDuration } from '../render/human.js';
import { Demuxer } from '../../client/stdcopy.js';
import { isNotFound } from '../../client/errors.js';
import { callJson, inspectNamed } from './object-commands.js';
import { FORMAT_HELP, FORMAT_TABLE_HELP } from './common.js';
import { CREATE_FLAGS, UPDATE_FLAGS, specFromCreate, specFromUpdate } from './service-spec.js';
import type { Service, ServiceSpec, SwarmNode, Task } from '../../cluster/services/types.js';

const enc = encodeURIComponent;
const filterQuery = (filters: Record<string, Record<string, boolean>>) => (Object.keys(filters).length ? `?filters=${enc(JSON.stringify(filters))}` : '');

async function getService(ctx: CliContext, ref: string): Promise<Service> {
  try {
    return await callJson<Service>(ctx, 'GET', `/services/${enc(ref)}`);
  } catch (err) {
    if (isNotFound(err)) throw new StatusError(`Error: no such service: ${ref}`, 1);
    throw err;
  }
}

async function postUpdate(ctx: CliContext, svc: Service, spec: ServiceSpec, rollback = false): Promise<string[]> {
  const q = `?version=${svc.Version.Index}${rollback ? '&rollback=previous' : ''}`;
  const res = await callJson<{ Warnings?: string[] | null }>(ctx, 'POST', `/services/${enc(svc.ID)}/update${q}`, spec);
  return res?.Warnings ?? [];
}

/** Docker's convergence wait, reduced to its outcome: N/M running, then converged (or the update's state). */
async function waitConverged(ctx: CliContext, id: string, quiet: boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const list = await callJson<Service[]>(ctx, 'GET', `/services?status=true&filters=${enc(JSON.stringify({ id: { [id]: true } }))}`);
    const svc = list.find((s) => s.ID === id);
    if (!svc) throw new StatusError(`service ${id} was removed while waiting for it`, 1);
    const st = svc.ServiceStatus;
    const update = svc.UpdateStatus?.State;
    const line = `overall progress: ${st?.RunningTasks ?? 0} out of ${st?.DesiredTasks ?? 0} tasks`;
    if (!quiet && line !== last) ctx.stdout.write(`${line}\n`);
    last = line;
    if (update === 'paused' || update === 'rollback_paused') throw new StatusError(`${svc.UpdateStatus?.Message ?? 'update paused'}`, 1);
    if (update === 'rollback_completed') throw new StatusError(`${svc.UpdateStatus?.Message ?? 'rolled back'}`, 1);
    const settled = update === undefined || update === 'completed';
    if (st && st.RunningTasks === st.DesiredTasks && settled) {
      if (!quiet) ctx.stdout.write('verify: Service converged\n');
      return;
    }
    if (Date.now() > deadline) throw new StatusError(`service ${id} did not converge within ${timeoutMs / 1000} s (see \`service ps\`)`, 1);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export const serviceCreate: CommandSpec = {
  use: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
  short: 'Create a new service',
  flags: CREATE_FLAGS,
  args: { min: 1 },
  stopAtPositional: true,
  async run(ctx, args) {
    const spec = specFromCreate(args);
    if (!spec.Name) throw new FlagError('a service needs a name: --name NAME');
    const created = await callJson<{ ID: string; Warnings?: string[] | null }>(ctx, 'POST', '/services/create', spec);
    for (const w of created.Warnings ?? []) ctx.stderr.write(`${w}\n`);
    ctx.stdout.write(`${created.ID}\n`);
    if (!args.bool('detach')) await waitConverged(ctx, created.ID, args.bool('quiet'));
    return 0;
  },
};

function imageOf(spec: ServiceSpec): string {
  return spec.TaskTemplate.ContainerSpec.Image.replace(/@sha256:[0-9a-f]+$/, '');
}

function portsOf(svc: Service): string {
  return (svc.Endpoint?.Ports ?? svc.Spec.EndpointSpec?.Ports ?? [])
    .filter((p) => p.PublishedPort)
    .map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`)
    .join(', ');
}

const SERVICE_TABLE = '{{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}';
const SERVICE_HEADERS = new HeaderMap([
  ['ID', 'ID'],
  ['Name', 'NAME'],
  ['Mode', 'MODE'],
  ['Replicas', 'REPLICAS'],
  ['Image', 'IMAGE'],
  ['Ports', 'PORTS'],
]);

export const serviceLs: CommandSpec = {
  use: 'ls [OPTIONS]',
  short: 'List services',
  aliases: ['berth service ls, berth service list'],
  flags: [
    { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: 'Filter output based on conditions provided' },
    { name: 'format', type: 'string', help: FORMAT_TABLE_HELP },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const filters = parseFilters(args.list('filter'));
    const q = filterQuery(filters);
    const list = await callJson<Service[]>(ctx, 'GET', `/services${q ? `${q}&status=1` : '?status=1'}`);
    const rows = list.map((s) => ({
      ...s,
      ID: s.ID.slice(0, 12),
      Name: s.Spec.Name,
      Mode: s.Spec.Mode?.Global ? 'global' : 'replicated',
      Replicas: `${s.ServiceStatus?.RunningTasks ?? 0}/${s.ServiceStatus?.DesiredTasks ?? 0}`,
      Image: imageOf(s.Spec),
      Ports: portsOf(s),
    }));
    let format = args.string('format') ?? '';
    if (args.bool('quiet') && !format) format = '{{.ID}}';
    if (!format || format === 'table') format = `table ${SERVICE_TABLE}`;
    ctx.stdout.write(renderList(format, SERVICE_TABLE, rows, SERVICE_HEADERS));
    return 0;
  },
};

const TASK_TABLE = '{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}';
const TASK_HEADERS = new HeaderMap([
  ['ID', 'ID'],
  ['Name', 'NAME'],
  ['Image', 'IMAGE'],
  ['Node', 'NODE'],
  ['DesiredState', 'DESIRED STATE'],
  ['CurrentState', 'CURRENT STATE'],
  ['Error', 'ERROR'],
  ['Ports', 'PORTS'],
]);

const title = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** docker's task table: newest first per slot, older tasks of a slot indented as " \_ name". */
export async function printTasks(ctx: CliContext, tasks: Task[], args: ParsedArgs): Promise<void> {
  const trunc = !args.bool('no-trunc');
  const services = new Map<string, string>();
  const nodes = new Map<string, string>();
  const serviceName = async (id: string) => {
    if (!services.has(id)) services.set(id, await callJson<Service>(ctx, 'GET', `/services/${enc(id)}`).then((s) => s.Spec.Name, () => id));
    return services.get(id)!;
  };
  const nodeName = async (id: string | undefined) => {
    if (!id) return '';
    if (!nodes.has(id)) nodes.set(id, await callJson<SwarmNode>(ctx, 'GET', `/nodes/${enc(id)}`).then((n) => n.Description.Hostname, () => id));
    return nodes.get(id)!;
  };
  const sorted = [...tasks].sort((a, b) => {
    const ka = `${a.ServiceID}/${a.Slot ?? a.NodeID}`;
    const kb = `${b.ServiceID}/${b.Slot ?? b.NodeID}`;
    if (ka !== kb) return (a.Slot ?? 0) - (b.Slot ?? 0) || (ka < kb ? -1 : 1);
    return a.CreatedAt < b.CreatedAt ? 1 : -1;
  });
  const rows = [];
  let prevKey = '';
  const now = Date.now();
  for (const t of sorted) {
    const key = `${t.ServiceID}/${t.Slot ?? t.NodeID}`;
    const name = `${await serviceName(t.ServiceID)}.${t.Slot ? t.Slot : t.NodeID ?? ''}`;
    const since = Math.max(0, (now - Date.parse(t.Status.Timestamp)) / 1000);
    const err = t.Status.Err ?? '';
    rows.push({
      ...t,
      ID: trunc ? t.ID.slice(0, 12) : t.ID,
      Name: key === prevKey ? ` \\_ ${name}` : name,
      Image: t.Spec.ContainerSpec.Image.replace(/@sha256:[0-9a-f]+$/, ''),
      Node: await nodeName(t.NodeID),
      DesiredState: title(t.DesiredState),
      CurrentState: `${title(t.Status.State)} ${humanDuration(since)} ago`,
      Error: err ? (trunc && err.length > 30 ? `"${err.slice(0, 29)}…"` : `"${err}"`) : '',
      Ports: (t.Status.PortStatus?.Ports ?? []).map((p) => `*:${p.PublishedPort}->${p.TargetPort}/${p.Protocol ?? 'tcp'}`).join(', '),
    });
    prevKey = key;
  }
  let format = args.string('format') ?? '';
  if (args.bool('quiet') && !format) format = '{{.ID}}';
  if (!format || format === 'table') format = `table ${TASK_TABLE}`;
  ctx.stdout.write(renderList(format, TASK_TABLE, rows, TASK_HEADERS));
}

export const TASK_LIST_FLAGS = [
  { name: 'filter', short: 'f', type: 'stringArray' as const, typeName: 'filter', help: 'Filter output based on conditions provided' },
  { name: 'format', type: 'string' as const, help: 'Pretty-print tasks using a Go template' },
  { name: 'no-resolve', type: 'bool' as const, help: 'Do not map IDs to Names' },
  { name: 'no-trunc', type: 'bool' as const, help: 'Do not truncate output' },
  { name: 'quiet', short: 'q', type: 'bool' as const, help: 'Only display task IDs' },
];

export const servicePs: CommandSpec = {
  use: 'ps [OPTIONS] SERVICE [SERVICE...]',
  short: 'List the tasks of one or more services',
  flags: TASK_LIST_FLAGS,
  args: { min: 1 },
  async run(ctx, args) {
    const tasks: Task[] = [];
    for (const ref of args.args) {
      const svc = await getService(ctx, ref);
      const filters = parseFilters(args.list('filter'));
      filters.service = { [svc.ID]: true };
      tasks.push(...(await callJson<Task[]>(ctx, 'GET', `/tasks${filterQuery(filters)}`)));
    }
    await printTasks(ctx, tasks, args);
    return 0;
  },
};

function pretty(svc: Service): string {
  const s = svc.Spec;
  const cs = s.TaskTemplate.ContainerSpec;
  const lines = [
    `ID:\t\t${svc.ID}`,
    `Name:\t\t${s.Name}`,
    ...(Object.keys(s.Labels ?? {}).length ? ['Labels:', ...Object.entries(s.Labels!).map(([k, v]) => ` ${k}=${v}`)] : []),
    `Service Mode:\t${s.Mode?.Global ? 'Global' : 'Replicated'}`,
    ...(s.Mode?.Global ? [] : [` Replicas:\t${s.Mode?.Replicated?.Replicas ?? 1}`]),
    ...(svc.UpdateStatus ? [`UpdateStatus:`, ` State:\t\t${svc.UpdateStatus.State}`, ` Message:\t${svc.UpdateStatus.Message ?? ''}`] : []),
    ...(s.TaskTemplate.Placement?.Constraints?.length ? ['Placement:', ` Constraints:\t[${s.TaskTemplate.Placement.Constraints.join(' ')}]`] : []),
    ...(s.UpdateConfig ? ['UpdateConfig:', ` Parallelism:\t${s.UpdateConfig.Parallelism ?? 1}`, ` On failure:\t${s.UpdateConfig.FailureAction ?? 'pause'}`, ` Update order:      ${s.UpdateConfig.Order ?? 'stop-first'}`] : []),
    'ContainerSpec:',
    ` Image:\t\t${cs.Image}`,
    ...(cs.Args?.length ? [` Args:\t\t${cs.Args.join(' ')}`] : []),
    ...(cs.Env?.length ? [` Env:\t\t${cs.Env.join(' ')}`] : []),
    `Endpoint Mode:\t${s.EndpointSpec?.Mode ?? 'vip'}`,
    ...(portsOf(svc) ? ['Ports:', ...(svc.Endpoint.Ports ?? []).map((p) => ` PublishedPort = ${p.PublishedPort}\n  Protocol = ${p.Protocol}\n  TargetPort = ${p.TargetPort}\n  PublishMode = ${p.PublishMode}`)] : []),
  ];
  return `${lines.join('\n')}\n`;
}

export const serviceInspect: CommandSpec = {
  use: 'inspect [OPTIONS] SERVICE [SERVICE...]',
  short: 'Display detailed information on one or more services',
  flags: [
    { name: 'format', short: 'f', type: 'string', help: FORMAT_HELP },
    { name: 'pretty', type: 'bool', help: 'Print the information in a human friendly format' },
  ],
  args: { min: 1 },
  async run(ctx, args) {
    return inspectNamed<Service>(ctx, args.args, 'service', (ref) => `/services/${enc(ref)}`, args.string('format'), { pretty, prettyRequested: args.bool('pretty'), missing: (ref) => `no such service: ${ref}` });
  },
};

export const serviceScale: CommandSpec = {
  use: 'scale SERVICE=REPLICAS [SERVICE=REPLICAS...]',
  short: 'Scale one or multiple replicated services',
  flags: [{ name: 'detach', short: 'd', type: 'bool', help: 'Exit immediately instead of waiting for the service to converge' }],
  args: { min: 1 },
  async run(ctx, args) {
    const errors: string[] = [];
    for (const arg of args.args) {
      const m = /^([^=]+)=(\d+)$/.exec(arg);
      if (!m) throw new FlagError(`invalid scale specifier '${arg}'.\nSee '${ctx.commandPath} --help'.\n\nUsage:  berth service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]`);
      const [, name, n] = m as unknown as [string, string, string];
      try {
        const svc = await getService(ctx, name);
        if (svc.Spec.Mode?.Global) throw new Error(`scale can only be used with replicated mode`);
        const spec = structuredClone(svc.Spec);
        spec.Mode = { Replicated: { Replicas: Number(n) } };
        await postUpdate(ctx, svc, spec);
        ctx.stdout.write(`${name} scaled to ${n}\n`);
        if (!args.bool('detach')) await waitConverged(ctx, svc.ID, false);
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (errors.length) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};

export const serviceUpdate: CommandSpec = {
  use: 'update [OPTIONS] SERVICE',
  short: 'Update a service',
  flags: UPDATE_FLAGS,
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const svc = await getService(ctx, args.args[0]!);
    if (args.bool('rollback')) {
      await postUpdate(ctx, svc, svc.Spec, true);
    } else {
      for (const w of await postUpdate(ctx, svc, specFromUpdate(svc.Spec, args))) ctx.stderr.write(`${w}\n`);
    }
    ctx.stdout.write(`${args.args[0]}\n`);
    if (!args.bool('detach')) await waitConverged(ctx, svc.ID, args.bool('quiet'));
    return 0;
  },
};

export const serviceRollback: CommandSpec = {
  use: 'rollback [OPTIONS] SERVICE',
  short: 'Revert changes to a service\'s configuration',
  flags: [
    { name: 'detach', short: 'd', type: 'bool', help: 'Exit immediately instead of waiting for the service to converge' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const svc = await getService(ctx, args.args[0]!);
    await postUpdate(ctx, svc, svc.Spec, true);
    ctx.stdout.write(`${args.args[0]}\n`);
    if (!args.bool('detach')) {
      // A rollback ends in rollback_completed, which is success here.
      const deadline = Date.now() + 120_000;
      for (;;) {
        const now = await getService(ctx, svc.ID);
        if (now.UpdateStatus?.State === 'rollback_completed') break;
        if (now.UpdateStatus?.State === 'rollback_paused') throw new StatusError(now.UpdateStatus.Message ?? 'rollback paused', 1);
        if (Date.now() > deadline) throw new StatusError('rollback did not complete within 120 s (see `service ps`)', 1);
        await new Promise((r) => setTimeout(r, 500));
      }
      if (!args.bool('quiet')) ctx.stdout.write('rollback: rollback completed\nverify: Service converged\n');
    }
    return 0;
  },
};

export const serviceRm: CommandSpec = {
  use: 'rm SERVICE [SERVICE...]',
  short: 'Remove one or more services',
  aliases: ['berth service rm, berth service remove'],
  flags: [],
  args: { min: 1 },
  async run(ctx, args) {
    const errors: string[] = [];
    for (const ref of args.args) {
      try {
        await ctx.client().raw({ method: 'DELETE', path: `/services/${enc(ref)}` }).then((r) => r.resume());
        ctx.stdout.write(`${ref}\n`);
      } catch (err) {
        errors.push(isNotFound(err) ? `Error: No such service: ${ref}` : `Error response from daemon: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (errors.length) throw new StatusError(errors.join('\n'), 1);
    return 0;
  },
};

/** Splits "k=v,k=v message" as docker's log details are written (values query-escaped). */
function parseDetails(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) out[decodeURIComponent(pair.slice(0, eq))] = decodeURIComponent(pair.slice(eq + 1));
  }
  return out;
}

export const serviceLogs: CommandSpec = {
  use: 'logs [OPTIONS] SERVICE',
  short: 'Fetch the logs of a service',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
    { name: 'no-trunc', type: 'bool', help: 'Do not truncate output' },
    { name: 'no-task-ids', type: 'bool', help: 'Do not include task IDs in output' },
    { name: 'raw', type: 'bool', help: 'Do not neatly format logs' },
    { name: 'since', type: 'string', help: 'Show logs since timestamp or relative (e.g. 42m for 42 minutes)' },
    { name: 'tail', short: 'n', type: 'string', default: 'all', help: 'Number of lines to show from the end of the logs' },
    { name: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const svc = await getService(ctx, args.args[0]!);
    const timestamps = args.bool('timestamps');
    const res = await ctx.client().raw({
      method: 'GET',
      path: `/services/${enc(svc.ID)}/logs`,
      query: { stdout: true, stderr: true, follow: args.bool('follow'), timestamps, tail: args.string('tail'), since: args.string('since'), details: true },
    });
    const nodes = new Map<string, string>();
    const nodeName = async (id: string) => {
      if (!nodes.has(id)) nodes.set(id, await callJson<SwarmNode>(ctx, 'GET', `/nodes/${enc(id)}`).then((n) => n.Description.Hostname, () => id));
      return nodes.get(id)!;
    };
    const tasks = new Map<string, number | undefined>();
    const slotOf = async (id: string) => {
      if (!tasks.has(id)) tasks.set(id, await callJson<Task>(ctx, 'GET', `/tasks/${enc(id)}`).then((t) => t.Slot, () => undefined));
      return tasks.get(id);
    };
    const pending: { out: NodeJS.WritableStream; line: string }[] = [];
    const demux = new Demuxer((type, payload) => pending.push({ out: type === 2 ? ctx.stderr : ctx.stdout, line: payload.toString('utf8') }));
    const trunc = !args.bool('no-trunc');
    for await (const chunk of res) {
      demux.push(chunk as Buffer);
      while (pending.length) {
        const { out, line } = pending.shift()!;
        const parts = line.split(' ');
        const ts = timestamps ? `${parts.shift()} ` : '';
        const details = parseDetails(parts.shift() ?? '');
        const msg = parts.join(' ');
        if (args.bool('raw')) {
          out.write(`${ts}${msg}`);
          continue;
        }
        const taskId = details['com.docker.swarm.task.id'] ?? '';
        const slot = await slotOf(taskId);
        const node = await nodeName(details['com.docker.swarm.node.id'] ?? '');
        const task = args.bool('no-task-ids') ? '' : `.${trunc ? taskId.slice(0, 12) : taskId}`;
        out.write(`${svc.Spec.Name}.${slot ?? details['com.docker.swarm.node.id']}${task}@${node}    | ${ts}${msg}`);
      }
    }
    return 0;
  },
};
