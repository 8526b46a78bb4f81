/** `berth port CONTAINER [PRIVATE_PORT[/PROTO]]`: the published ports from inspect. */
import { StatusError, type CommandSpec } from '../command.js';
import { compareText } from '../../util/compare.js';

type Bindings = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

function sortKey(key: string): [number, string] {
  const [port, proto = 'tcp'] = key.split('/') as [string, string | undefined];
  return [Number(port), proto];
}

export const command: CommandSpec = {
  use: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
  short: 'List port mappings or a specific mapping for the container',
  aliases: ['berth container port, berth port'],
  flags: [],
  args: { min: 1, max: 2 },
  async run(ctx, args) {
    const [name, wanted] = args.args as [string, string | undefined];
    const info = (await ctx.client().containerInspect(name)) as unknown as { NetworkSettings?: { Ports?: Bindings } };
    const ports = info.NetworkSettings?.Ports ?? {};
    if (wanted) {
      const [port, proto = 'tcp'] = wanted.split('/') as [string, string | undefined];
      if (!/^\d+$/.test(port)) throw new StatusError(`Error: invalid port (${port}): invalid syntax`, 1);
      const key = `${port}/${proto}`;
      const bindings = ports[key];
      if (!bindings || bindings.length === 0) throw new StatusError(`Error: No public port '${key}' published for ${name}`, 1);
      ctx.stdout.write(bindings.map((b) => `${b.HostIp}:${b.HostPort}\n`).join(''));
      return 0;
    }
    const keys = Object.keys(ports).sort((a, b) => {
      const [pa, ta] = sortKey(a);
      const [pb, tb] = sortKey(b);
      return pa - pb || compareText(ta, tb);
    });
    let out = '';
    for (const key of keys) for (const b of ports[key] ?? []) out += `${key} -> ${b.HostIp}:${b.HostPort}\n`;
    ctx.stdout.write(out);
    return 0;
  },
};
