import type { ServerVersion } from '../../client/types.js';
import type { CommandSpec } from '../command.js';
import { API_VERSION, CLI_VERSION, GIT_COMMIT } from '../meta.js';
import { renderOne } from '../render/formatter.js';
import { FORMAT_HELP, errorText } from './common.js';

const line = (indent: string, key: string, value: string | number | boolean | undefined): string =>
  `${`${indent}${key}:`.padEnd(20)}${value ?? ''}\n`;

function clientInfo(): Record<string, unknown> {
  return {
    Platform: { Name: '' },
    Version: CLI_VERSION,
    ApiVersion: API_VERSION,
    DefaultAPIVersion: API_VERSION,
    GitCommit: GIT_COMMIT,
    GoVersion: process.version,
    Os: process.platform,
    Arch: process.arch === 'x64' ? 'amd64' : process.arch,
    BuildTime: '',
    Context: 'default',
  };
}

function renderClient(c: Record<string, unknown>): string {
  return (
    'Client:\n' +
    line(' ', 'Version', String(c.Version)) +
    line(' ', 'API version', String(c.ApiVersion)) +
    line(' ', 'Node version', String(c.GoVersion)) +
    line(' ', 'Git commit', String(c.GitCommit)) +
    line(' ', 'OS/Arch', `${String(c.Os)}/${String(c.Arch)}`) +
    line(' ', 'Context', String(c.Context))
  );
}

function renderServer(s: ServerVersion): string {
  let out = `Server:${s.Platform?.Name ? ` ${s.Platform.Name}` : ''}\n`;
  const components = s.Components?.length ? s.Components : [{ Name: 'Engine', Version: s.Version, Details: {} }];
  for (const c of components) {
    out += ` ${c.Name}:\n`;
    if (c.Name === 'Engine') {
      const d = c.Details ?? {};
      out += line('  ', 'Version', c.Version || s.Version);
      out += line('  ', 'API version', `${d.ApiVersion ?? s.ApiVersion} (minimum version ${d.MinAPIVersion ?? s.MinAPIVersion ?? ''})`);
      out += line('  ', 'Go version', d.GoVersion ?? s.GoVersion);
      out += line('  ', 'Git commit', d.GitCommit ?? s.GitCommit);
      out += line('  ', 'Built', d.BuildTime ?? s.BuildTime);
      out += line('  ', 'OS/Arch', `${d.Os ?? s.Os ?? ''}/${d.Arch ?? s.Arch ?? ''}`);
      out += line('  ', 'Experimental', d.Experimental ?? String(s.Experimental ?? false));
    } else {
      out += line('  ', 'Version', c.Version);
      for (const [k, v] of Object.entries(c.Details ?? {})) out += line('  ', k, v);
    }
  }
  return out;
}

export const command: CommandSpec = {
  use: 'version [OPTIONS]',
  short: 'Show the Berth version information',
  flags: [{ name: 'format', short: 'f', type: 'string', help: FORMAT_HELP }],
  args: { max: 0 },
  async run(ctx, args) {
    const client = clientInfo();
    let server: ServerVersion | undefined;
    let failure: unknown;
    try {
      server = await ctx.client().version();
    } catch (err) {
      failure = err;
    }
    const format = args.string('format');
    if (format) {
      ctx.stdout.write(renderOne(format, { Client: client, Server: server ?? null }));
    } else {
      ctx.stdout.write(renderClient(client));
      if (server) ctx.stdout.write(`\n${renderServer(server)}`);
    }
    if (failure !== undefined) {
      ctx.stderr.write(`${errorText(failure)}\n`);
      return 1;
    }
    return 0;
  },
};
