/**
 * `berth network create|ls|inspect|rm|prune|connect|disconnect`: thin commands over /networks.
 */
import { type CommandSpec } from '../command.js';
import { parseFilters } from '../filters.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { callJson, inspectNamed, keyValues, removeNamed } from './object-commands.js';
import { confirm } from './volume.js';

export interface NetworkJson {
  Name: string;
  Id: string;
  Created: string;
  Scope: string;
  Driver: string;
  EnableIPv6: boolean;
  Internal: boolean;
  Labels: Record<string, string> | null;
  [key: string]: unknown;
}



const enc = encodeURIComponent;

export const networkCreate: CommandSpec = {
  use: 'create [OPTIONS] NETWORK',
  short: 'Create a network',
  flags: [
    { name: 'driver', short: 'd', type: 'string', default: 'bridge', help: 'Driver to manage the Network' },
    { name: 'subnet', type: 'stringArray', typeName: 'strings', help: 'Subnet in CIDR format that represents a network segment' },
    { name: 'gateway', type: 'stringArray', typeName: 'strings', help: 'IPv4 or IPv6 Gateway for the master subnet' },
    { name: 'ip-range', type: 'stringArray', typeName: 'strings', help: 'Allocate container ip from a sub-range' },
    { name: 'internal', type: 'bool', help: 'Restrict external access to the network' },
    { name: 'attachable', type: 'bool', help: 'Enable manual container attachment' },
    { name: 'label', type: 'stringArray', typeName: 'list', help: 'Set metadata on a network' },
    { name: 'opt', short: 'o', type: 'stringArray', typeName: 'map', help: 'Set driver specific options' },
    { name: 'ipam-driver', type: 'string', default: 'default', help: 'IP Address Management Driver' },
    { name: 'ipam-opt', type: 'stringArray', typeName: 'map', help: 'Set IPAM driver specific options' },
    { name: 'ipv6', type: 'bool', help: 'Enable or disable IPv6 networking' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const subnets = args.list('subnet');
    const gateways = args.list('gateway');
    const ranges = args.list('ip-range');
    if (gateways.length > subnets.length) throw new Error('every ip-range or gateway must have a corresponding subnet');
    if (ranges.length > subnets.length) throw new Error('every ip-range or gateway must have a corresponding subnet');
    const config = subnets.map((subnet, i) => ({
      Subnet: subnet,
      ...(gateways[i] ? { Gateway: gateways[i] } : {}),
      ...(ranges[i] ? { IPRange: ranges[i] } : {}),
    }));
    const created = await callJson<{ Id: string }>(ctx, 'POST', '/networks/create', {
      Name: args.args[0],
      Driver: args.string('driver') ?? 'bridge',
      Internal: args.bool('internal'),
      Attachable: args.bool('attachable'),
      EnableIPv6: args.bool('ipv6'),
      IPAM: { Driver: args.string('ipam-driver') ?? 'default', Config: config, Options: keyValues(args.list('ipam-opt'), '--ipam-opt', true) },
      Options: keyValues(args.list('opt'), '-o, --opt', true),
      Labels: keyValues(args.list('label'), '--label', false),
    });
    ctx.stdout.write(`${created.Id}\n`);
    return 0;
  },
};

const NETWORK_TABLE = '{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}';
const NETWORK_HEADERS = new HeaderMap([
  ['ID', 'NETWORK ID'],
  ['Name', 'NAME'],
  ['Driver', 'DRIVER'],
  ['Scope', 'SCOPE'],
  ['IPv6', 'IPV6'],
  ['Internal', 'INTERNAL'],
  ['Labels', 'LABELS'],
  ['CreatedAt', 'CREATED AT'],
]);

export const networkLs: CommandSpec = {
  use: 'ls [OPTIONS]',
  short: 'List networks',
  aliases: ['berth network ls, berth network list'],
  flags: [
    { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: "Provide filter values (e.g. 'driver=bridge')" },
    { name: 'format', type: 'string', help: 'Format output using a custom template' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Only display network IDs' },
    { name: 'no-trunc', type: 'bool', help: 'Do not truncate the output' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const filters = parseFilters(args.list('filter'));
    const query = Object.keys(filters).length ? `?filters=${enc(JSON.stringify(filters))}` : '';
    const list = await callJson<NetworkJson[]>(ctx, 'GET', `/networks${query}`);
    const trunc = !args.bool('no-trunc');
    const rows = list
      .sort((a, b) => (a.Name < b.Name ? -1 : 1))
      .map((n) => ({
        ...n,
        ID: trunc ? n.Id.slice(0, 12) : n.Id,
        IPv6: String(n.EnableIPv6),
        Internal: String(n.Internal),
        Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
        CreatedAt: n.Created,
      }));
    let format = args.string('format') ?? '';
    if (args.bool('quiet') && !format) format = '{{.ID}}';
    if (!format || format === 'table') format = `table ${NETWORK_TABLE}`;
    ctx.stdout.write(renderList(format, NETWORK_TABLE, rows, NETWORK_HEADERS));
    return 0;
  },
};

export const networkInspect: CommandSpec = {
  use: 'inspect [OPTIONS] NETWORK [NETWORK...]',
  short: 'Display detailed information on one or more networks',
  flags: [
    { name: 'format', short: 'f', type: 'string', help: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', help: 'Verbose output for diagnostics' },
  ],
  args: { min: 1 },
  run: (ctx, args) => inspectNamed(ctx, args.args, 'network', (name) => `/networks/${enc(name)}`, args.string('format')),
};

export const networkRm: CommandSpec = {
  use: 'rm NETWORK [NETWORK...]',
  short: 'Remove one or more networks',
  aliases: ['berth network rm, berth network remove'],
  flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Do not error if the network does not exist' }],
  args: { min: 1 },
  run: (ctx, args) => removeNamed(ctx, args.args, (name) => `/networks/${enc(name)}`, {}, args.bool('force')),
};

export const networkPrune: CommandSpec = {
  use: 'prune [OPTIONS]',
  short: 'Remove all unused networks',
  flags: [
    { name: 'filter', type: 'stringArray', typeName: 'filter', help: 'Provide filter values (e.g. "until=<timestamp>")' },
    { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    if (!args.bool('force') && !(await confirm(ctx, 'WARNING! This will remove all custom networks not used by at least one container.'))) return 0;
    const filters = parseFilters(args.list('filter'));
    const query = Object.keys(filters).length ? `?filters=${enc(JSON.stringify(filters))}` : '';
    const report = await callJson<{ NetworksDeleted: string[] | null }>(ctx, 'POST', `/networks/prune${query}`);
    if (report.NetworksDeleted?.length) ctx.stdout.write(`Deleted Networks:\n${report.NetworksDeleted.join('\n')}\n\n`);
    return 0;
  },
};

export const networkConnect: CommandSpec = {
  use: 'connect [OPTIONS] NETWORK CONTAINER',
  short: 'Connect a container to a network',
  flags: [
    { name: 'alias', type: 'stringArray', typeName: 'strings', help: 'Add network-scoped alias for the container' },
    { name: 'ip', type: 'string', help: 'IPv4 address (e.g., "172.30.100.104")' },
    { name: 'link', type: 'stringArray', typeName: 'list', help: 'Add link to another container' },
  ],
  args: { min: 2, max: 2 },
  async run(ctx, args) {
    const [network, container] = args.args as [string, string];
    const ip = args.string('ip');
    await callJson<unknown>(ctx, 'POST', `/networks/${enc(network)}/connect`, {
      Container: container,
      EndpointConfig: {
        ...(args.list('alias').length ? { Aliases: args.list('alias') } : {}),
        ...(args.list('link').length ? { Links: args.list('link') } : {}),
        ...(ip ? { IPAMConfig: { IPv4Address: ip } } : {}),
      },
    }).catch((err: unknown) => {
      if (err instanceof SyntaxError) return undefined; // empty 200 body
      throw err;
    });
    return 0;
  },
};

export const networkDisconnect: CommandSpec = {
  use: 'disconnect [OPTIONS] NETWORK CONTAINER',
  short: 'Disconnect a container from a network',
  flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Force the container to disconnect from a network' }],
  args: { min: 2, max: 2 },
  async run(ctx, args) {
    const [network, container] = args.args as [string, string];
    await ctx
      .client()
      .raw({ method: 'POST', path: `/networks/${enc(network)}/disconnect`, body: JSON.stringify({ Container: container, Force: args.bool('force') }), headers: { 'Content-Type': 'application/json' } })
      .then((r) => r.resume());
    return 0;
  },
};
