/** Read-mostly compose commands: ps, ls, logs, config, images, top, port, version, and build/pull/push. */
import { stringify } from 'yaml';
import type { ContainerSummary } from '../../client/types.js';
import { LABEL } from '../../compose/labels.js';
import { LogPrinter, printContainerLogs } from '../../compose/logs.js';
import { ContainerContext } from '../render/containers.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { shortId, humanSize, humanSince } from '../render/human.js';
import { tabwrite } from '../render/table.js';
import { StatusError } from '../command.js';
import { CLI_VERSION } from '../meta.js';
import { imageOf } from '../../compose/convert.js';
import { configDocument } from '../../compose/config-doc.js';
import { checkServices, type ComposeCommand } from './compose.js';

class ComposePsRow extends ContainerContext {
  constructor(private readonly raw: ContainerSummary, trunc: boolean, now: number) {
    super(raw, trunc, now);
  }
  Name(): string {
    return (this.raw.Names?.[0] ?? '').replace(/^\//, '');
  }
  Service(): string {
    return this.raw.Labels?.[LABEL.service] ?? '';
  }
  Project(): string {
    return this.raw.Labels?.[LABEL.project] ?? '';
  }
}

const PS_TABLE = '{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}';
const PS_HEADERS = new HeaderMap([
  ['Name', 'NAME'], ['Image', 'IMAGE'], ['Command', 'COMMAND'], ['Service', 'SERVICE'], ['RunningFor', 'CREATED'], ['Status', 'STATUS'], ['Ports', 'PORTS'], ['ID', 'CONTAINER ID'],
]);

export const ps: ComposeCommand = {
  use: 'ps [OPTIONS] [SERVICE...]',
  short: 'List containers',
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Show all stopped containers (including those created by the run command)' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
    { name: 'services', type: 'bool', help: 'Display services' },
    { name: 'format', type: 'string', help: 'Format output using a custom template', default: 'table' },
    { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
    { name: 'status', type: 'stringArray', help: 'Filter services by status' },
  ],
  async run(ctx, args) {
    const loaded = ctx.load();
    checkServices(loaded, args.args);
    const filters = { label: { [`${LABEL.project}=${loaded.project.name}`]: true } };
    const all = await ctx.client().containerList({ all: true, filters });
    const rows = all.filter((c) => {
      const l = c.Labels ?? {};
      if (args.args.length && !args.args.includes(l[LABEL.service] ?? '')) return false;
      if (args.list('status').length) return args.list('status').includes(c.State ?? '');
      if (l[LABEL.oneoff] === 'True' && !args.bool('all')) return false;
      return args.bool('all') || c.State === 'running' || c.State === 'paused' || c.State === 'restarting';
    }).sort((a, b) => ((a.Names?.[0] ?? '') < (b.Names?.[0] ?? '') ? -1 : 1));
    if (args.bool('services')) {
      const names = [...new Set(rows.map((c) => c.Labels?.[LABEL.service] ?? ''))].sort();
      ctx.stdout.write(names.map((n) => `${n}\n`).join(''));
      return 0;
    }
    if (args.bool('quiet')) {
      ctx.stdout.write(rows.map((c) => `${args.bool('no-trunc') ? c.Id : c.Id}\n`).join(''));
      return 0;
    }
    const now = Date.now();
    ctx.stdout.write(renderList(args.string('format') ?? 'table', PS_TABLE, rows.map((c) => new ComposePsRow(c, !args.bool('no-trunc'), now)), PS_HEADERS));
    return 0;
  },
};

export const ls: ComposeCommand = {
  use: 'ls [OPTIONS]',
  short: 'List running compose projects',
  flags: [
    { name: 'all', short: 'a', type: 'bool', help: 'Show all stopped Compose projects' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' },
    { name: 'format', type: 'string', help: 'Format the output. Values: [table | json]', default: 'table' },
  ],
  async run(ctx, args) {
    const list = await ctx.client().containerList({ all: true, filters: { label: { [LABEL.project]: true } } });
    const projects = new Map<string, { states: Map<string, number>; files: string }>();
    for (const c of list) {
      const l = c.Labels ?? {};
      const name = l[LABEL.project] as string;
      const p = projects.get(name) ?? { states: new Map(), files: l[LABEL.configFiles] ?? '' };
      p.states.set(c.State ?? 'unknown', (p.states.get(c.State ?? 'unknown') ?? 0) + 1);
      projects.set(name, p);
    }
    const rows = [...projects].filter(([, p]) => args.bool('all') || p.states.has('running')).sort(([a], [b]) => a.localeCompare(b))
      .map(([name, p]) => ({ Name: name, Status: [...p.states].sort().map(([s, n]) => `${s}(${n})`).join(', '), ConfigFiles: p.files }));
    if (args.bool('quiet')) ctx.stdout.write(rows.map((r) => `${r.Name}\n`).join(''));
    else if (args.string('format') === 'json') ctx.stdout.write(`${JSON.stringify(rows)}\n`);
    else ctx.stdout.write(tabwrite(`NAME\tSTATUS\tCONFIG FILES\n${rows.map((r) => `${r.Name}\t${r.Status}\t${r.ConfigFiles}\n`).join('')}`));
    return 0;
  },
};

export const logs: ComposeCommand = {
  use: 'logs [OPTIONS] [SERVICE...]',
  short: 'View output from containers',
  flags: [
    { name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
    { name: 'tail', short: 'n', type: 'string', help: 'Number of lines to show from the end of the logs for each container', default: 'all' },
    { name: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
    { name: 'no-color', type: 'bool', help: 'Produce monochrome output' },
    { name: 'no-log-prefix', type: 'bool', help: "Don't print prefix in logs" },
    { name: 'since', type: 'string', help: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
  ],
  async run(ctx, args) {
    const loaded = ctx.load();
    checkServices(loaded, args.args);
    const exec = ctx.executor(loaded);
    const containers = await exec.containers({ services: args.args });
    const printer = new LogPrinter(ctx.stdout, ctx.color() && !args.bool('no-color'));
    for (const c of containers) printer.add(c.name);
    await Promise.all(containers.map(async (c) => {
      const tty = (await exec.client.containerInspect(c.id)).Config?.Tty === true;
      await printContainerLogs(exec.engine, printer, { id: c.id, name: c.name, tty }, { follow: args.bool('follow'), tail: args.string('tail'), timestamps: args.bool('timestamps'), since: args.string('since') });
    }));
    return 0;
  },
};

export const config: ComposeCommand = {
  use: 'config [OPTIONS] [SERVICE...]',
  short: 'Parse, resolve and render compose file in canonical format',
  flags: [
    { name: 'services', type: 'bool', help: 'Print the service names, one per line.' },
    { name: 'volumes', type: 'bool', help: 'Print the volume names, one per line.' },
    { name: 'networks', type: 'bool', help: 'Print the network names, one per line.' },
    { name: 'profiles', type: 'bool', help: 'Print the profile names, one per line.' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only validate the configuration, don\'t print anything.' },
    { name: 'format', type: 'string', help: 'Format the output. Values: [yaml | json]', default: 'yaml' },
  ],
  async run(ctx, args) {
    const { project } = ctx.load(args.args);
    if (args.bool('quiet')) return 0;
    if (args.bool('services')) return void ctx.stdout.write(Object.keys(project.services).map((s) => `${s}\n`).join('')), 0;
    if (args.bool('volumes')) return void ctx.stdout.write(Object.keys(project.volumes).map((s) => `${s}\n`).join('')), 0;
    if (args.bool('networks')) return void ctx.stdout.write(Object.keys(project.networks).map((s) => `${s}\n`).join('')), 0;
    if (args.bool('profiles')) {
      const all = new Set([...Object.values(project.services), ...Object.values(project.disabled)].flatMap((s) => s.profiles));
      ctx.stdout.write([...all].sort().map((p) => `${p}\n`).join(''));
      return 0;
    }
    const doc = configDocument(project, args.args);
    ctx.stdout.write(args.string('format') === 'json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc, { sortMapEntries: false }));
    return 0;
  },
};

export const images: ComposeCommand = {
  use: 'images [OPTIONS] [SERVICE...]',
  short: 'List images used by the created containers',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', help: 'Only display IDs' }],
  async run(ctx, args) {
    const loaded = ctx.load();
    const exec = ctx.executor(loaded);
    const rows: string[] = [];
    const ids: string[] = [];
    for (const c of await exec.containers({ services: args.args })) {
      const info = await exec.client.containerInspect(c.id);
      const ref = info.Config?.Image ?? '';
      const img = await exec.client.imageInspect(info.Image ?? ref).catch(() => undefined);
      const [repo, tag] = ref.includes(':') ? [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)] : [ref, 'latest'];
      ids.push(img?.Id ?? '');
      const created = typeof img?.Created === 'string' ? humanSince(Date.parse(img.Created) / 1000) : '';
      rows.push(`${c.name}\t${repo}\t${tag}\t${shortId(img?.Id ?? '')}\t${created}\t${humanSize(Number(img?.Size ?? 0))}\n`);
    }
    if (args.bool('quiet')) ctx.stdout.write([...new Set(ids)].map((i) => `${i}\n`).join(''));
    else ctx.stdout.write(tabwrite(`CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n${rows.join('')}`));
    return 0;
  },
};

export const top: ComposeCommand = {
  use: 'top [SERVICES...]',
  short: 'Display the running processes',
  flags: [],
  async run(ctx, args) {
    const exec = ctx.executor(ctx.load());
    for (const c of (await exec.containers({ services: args.args })).filter((x) => x.state === 'running')) {
      const t = await exec.engine.containerTop(c.id);
      ctx.stdout.write(`${c.name}\n${tabwrite(`${t.Titles.join('\t')}\n${t.Processes.map((p) => `${p.join('\t')}\n`).join('')}`)}\n`);
    }
    return 0;
  },
};

export const port: ComposeCommand = {
  use: 'port [OPTIONS] SERVICE PRIVATE_PORT',
  short: 'Print the public port for a port binding',
  flags: [
    { name: 'protocol', type: 'string', help: 'tcp or udp', default: 'tcp' },
    { name: 'index', type: 'int', help: 'Index of the container if service has multiple replicas', default: 1 },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, args) {
    const [service, priv] = args.args as [string, string];
    const exec = ctx.executor(ctx.load());
    const c = (await exec.containers({ services: [service] })).find((x) => x.number === (args.int('index') ?? 1));
    if (!c) throw new StatusError(`service "${service}" has no container ${args.int('index') ?? 1}`, 1);
    const info = await exec.client.containerInspect(c.id);
    const ports = (info.NetworkSettings as { Ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> } | undefined)?.Ports ?? {};
    const binding = ports[`${priv}/${args.string('protocol') ?? 'tcp'}`]?.[0];
    if (!binding) throw new StatusError(`no port ${priv}/${args.string('protocol') ?? 'tcp'} for container ${c.name}`, 1);
    ctx.stdout.write(`${binding.HostIp || '0.0.0.0'}:${binding.HostPort}\n`);
    return 0;
  },
};

export const version: ComposeCommand = {
  use: 'version [OPTIONS]',
  short: 'Show the Berth Compose version information',
  flags: [{ name: 'short', type: 'bool', help: "Shows only Compose's version number" }, { name: 'format', short: 'f', type: 'string', help: 'Format the output. Values: [pretty | json]' }],
  async run(ctx, args) {
    if (args.bool('short')) ctx.stdout.write(`${CLI_VERSION}\n`);
    else if (args.string('format') === 'json') ctx.stdout.write(`${JSON.stringify({ version: CLI_VERSION })}\n`);
    else ctx.stdout.write(`Berth Compose version ${CLI_VERSION}\n`);
    return 0;
  },
};

export const build: ComposeCommand = {
  use: 'build [OPTIONS] [SERVICE...]',
  short: 'Build or rebuild services',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', help: "Don't print anything to STDOUT" }],
  async run(ctx, args) {
    const loaded = ctx.load(args.args);
    checkServices(loaded, args.args);
    const exec = ctx.executor(loaded);
    for (const svc of Object.values(loaded.project.services)) {
      if ((args.args.length && !args.args.includes(svc.name)) || !svc.build) continue;
      await exec.build(svc);
    }
    return 0;
  },
};

export const pull: ComposeCommand = {
  use: 'pull [OPTIONS] [SERVICE...]',
  short: 'Pull service images',
  flags: [{ name: 'ignore-pull-failures', type: 'bool', help: 'Pull what it can and ignores images with pull failures' }, { name: 'quiet', short: 'q', type: 'bool', help: 'Pull without printing progress information' }],
  async run(ctx, args) {
    const loaded = ctx.load(args.args);
    checkServices(loaded, args.args);
    const exec = ctx.executor(loaded);
    for (const svc of Object.values(loaded.project.services)) {
      if ((args.args.length && !args.args.includes(svc.name)) || !svc.image) continue;
      try {
        await exec.pull(svc);
      } catch (e) {
        if (!args.bool('ignore-pull-failures')) throw e;
        ctx.stderr.write(`${(e as Error).message}\n`);
      }
    }
    return 0;
  },
};

export const push: ComposeCommand = {
  use: 'push [OPTIONS] [SERVICE...]',
  short: 'Push service images',
  flags: [{ name: 'ignore-push-failures', type: 'bool', help: 'Push what it can and ignores images with push failures' }],
  async run(ctx, args) {
    const loaded = ctx.load(args.args);
    const exec = ctx.executor(loaded);
    const { jsonLines } = await import('../../client/jsonlines.js');
    for (const svc of Object.values(loaded.project.services)) {
      if ((args.args.length && !args.args.includes(svc.name)) || !svc.image) continue;
      const ref = imageOf(loaded.project, svc);
      const at = ref.lastIndexOf(':');
      const [name, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, undefined];
      try {
        for await (const msg of jsonLines<{ error?: string }>(await exec.engine.imagePush(name, tag))) if (msg.error) throw new Error(`pushing ${ref}: ${msg.error}`);
        ctx.stderr.write(` ${svc.name} Pushed\n`);
      } catch (e) {
        if (!args.bool('ignore-push-failures')) throw e;
        ctx.stderr.write(`${(e as Error).message}\n`);
      }
    }
    return 0;
  },
};
