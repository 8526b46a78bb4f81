import type { SystemInfo } from '../../client/types.js';
import type { CommandSpec } from '../command.js';
import { renderOne } from '../render/formatter.js';
import { bytesSize } from '../render/human.js';
import { FORMAT_HELP } from './common.js';

/** docker's `info` layout: " Key: value", nested details indented one more space. */
export function renderInfo(i: SystemInfo, debug: boolean): string {
  const lines: string[] = ['Client:', ' Context:    default', ` Debug Mode: ${debug}`, '', 'Server:'];
  const add = (indent: number, key: string, value: unknown): void => {
    if (value === undefined || value === null) return;
    lines.push(`${' '.repeat(indent)}${key}: ${String(value)}`);
  };
  add(1, 'Containers', i.Containers ?? 0);
  add(2, 'Running', i.ContainersRunning ?? 0);
  add(2, 'Paused', i.ContainersPaused ?? 0);
  add(2, 'Stopped', i.ContainersStopped ?? 0);
  add(1, 'Images', i.Images ?? 0);
  add(1, 'Server Version', i.ServerVersion ?? '');
  add(1, 'Storage Driver', i.Driver ?? '');
  for (const [k, v] of i.DriverStatus ?? []) add(2, k, v);
  // A cluster manager describes its nodes here, as classic swarm did; docker prints the pairs one level in.
  for (const [k, v] of (i.SystemStatus as Array<[string, string]> | null | undefined) ?? []) add(1, k, v);
  add(1, 'Logging Driver', i.LoggingDriver);
  add(1, 'Cgroup Driver', i.CgroupDriver);
  add(1, 'Cgroup Version', i.CgroupVersion);
  if (i.Plugins) {
    lines.push(' Plugins:');
    if (i.Plugins.Volume) add(2, 'Volume', i.Plugins.Volume.join(' '));
    if (i.Plugins.Network) add(2, 'Network', i.Plugins.Network.join(' '));
    if (i.Plugins.Log) add(2, 'Log', i.Plugins.Log.join(' '));
  }
  if (i.Runtimes) add(1, 'Runtimes', Object.keys(i.Runtimes).sort().join(' '));
  add(1, 'Default Runtime', i.DefaultRuntime);
  if (i.SecurityOptions?.length) {
    lines.push(' Security Options:');
    for (const opt of i.SecurityOptions) {
      // Daemons send "name=seccomp,profile=default"; docker shows the name and its details below it.
      const kv = Object.fromEntries(opt.split(',').map((p) => p.split('=') as [string, string]));
      if (kv.name) {
        lines.push(`  ${kv.name}`);
        for (const [k, v] of Object.entries(kv)) if (k !== 'name') lines.push(`   ${k[0]?.toUpperCase()}${k.slice(1)}: ${v}`);
      } else lines.push(`  ${opt}`);
    }
  }
  add(1, 'Kernel Version', i.KernelVersion ?? '');
  add(1, 'Operating System', i.OperatingSystem ?? '');
  add(1, 'OSType', i.OSType);
  add(1, 'Architecture', i.Architecture);
  add(1, 'CPUs', i.NCPU ?? 0);
  add(1, 'Total Memory', bytesSize(i.MemTotal ?? 0));
  add(1, 'Name', i.Name);
  add(1, 'ID', i.ID);
  add(1, 'Docker Root Dir', i.DockerRootDir ?? '');
  add(1, 'Debug Mode', i.Debug ?? false);
  if (i.Labels?.length) {
    lines.push(' Labels:');
    for (const l of i.Labels) lines.push(`  ${l}`);
  }
  add(1, 'Experimental', i.Experimental ?? false);
  add(1, 'Live Restore Enabled', i.LiveRestoreEnabled ?? false);
  return `${lines.join('\n')}\n`;
}

export const command: CommandSpec = {
  use: 'info [OPTIONS]',
  short: 'Display system-wide information',
  aliases: ['berth system info', 'berth info'],
  flags: [{ name: 'format', short: 'f', type: 'string', help: FORMAT_HELP }],
  args: { max: 0 },
  async run(ctx, args) {
    const info = await ctx.client().info();
    const format = args.string('format');
    if (format) {
      ctx.stdout.write(renderOne(format, info));
      return 0;
    }
    ctx.stdout.write(renderInfo(info, ctx.debug));
    for (const w of info.Warnings ?? []) ctx.stderr.write(`${w}\n`);
    return 0;
  },
};
