import { readFileSync } from 'node:fs';
import type { ContainerCreateBody, RestartPolicy } from '../../client/types.js';
import { ClientError } from '../../client/errors.js';
import type { EngineClient } from '../../client/client.js';
import { StatusError, type CliContext } from '../command.js';
import { FlagError, type FlagSpec, type ParsedArgs } from '../flags.js';
import { jsonLines } from '../../client/jsonlines.js';
import type { ProgressMessage } from '../../client/types.js';
import { VOLUME_FLAGS, applyVolumeFlags } from './volume-flags.js';
import { NETWORK_FLAGS, applyNetworkFlags } from './network-flags.js';
import { CREATE_ONLY_FLAGS, LIMIT_FLAGS, applyRunLimits } from './resourceopts.js';

/** Flags shared by `run` and `create` (docker's container options). */
export const CONTAINER_FLAGS: FlagSpec[] = [
  { name: 'entrypoint', type: 'string', help: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'env', short: 'e', type: 'stringArray', help: 'Set environment variables' },
  { name: 'env-file', type: 'stringArray', help: 'Read in a file of environment variables' },
  { name: 'hostname', short: 'h', type: 'string', help: 'Container host name' },
  { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
  { name: 'label', short: 'l', type: 'stringArray', help: 'Set meta data on a container' },
  { name: 'name', type: 'string', help: 'Assign a name to the container' },
  { name: 'restart', type: 'string', help: 'Restart policy to apply when a container exits', default: 'no' },
  { name: 'rm', type: 'bool', help: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'stop-signal', type: 'string', help: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'int', help: 'Timeout (in seconds) to stop a container' },
  { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { name: 'user', short: 'u', type: 'string', help: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
  { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  ...LIMIT_FLAGS,
  ...CREATE_ONLY_FLAGS,
  ...VOLUME_FLAGS,
  ...NETWORK_FLAGS,
];

/** `-e NAME` without a value takes NAME from our own environment, as docker does. */
function envEntry(e: string): string {
  if (e.includes('=')) return e;
  const v = process.env[e];
  return v === undefined ? e : `${e}=${v}`;
}

export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`open ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : String(err)}`);
  }
  return text
    .split('\n')
    .map((l) => l.replace(/^\s+/, '').replace(/\r$/, ''))
    .filter((l) => l && !l.startsWith('#'))
    .map(envEntry);
}

export function parseRestart(value: string): RestartPolicy {
  const [name, count] = value.split(':') as [string, string | undefined];
  switch (name) {
    case '':
    case 'no':
    case 'always':
    case 'unless-stopped':
      if (count !== undefined) throw new FlagError(`invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
      return { Name: name === '' ? 'no' : name };
    case 'on-failure': {
      if (count !== undefined && !/^\d+$/.test(count)) throw new FlagError(`invalid restart policy format: maximum retry count must be an integer`);
      return { Name: 'on-failure', MaximumRetryCount: count ? Number(count) : 0 };
    }
    default:
      throw new FlagError(`invalid restart policy format: unknown policy '${name}'`);
  }
}

export interface CreateRequest {
  body: ContainerCreateBody;
  name: string | undefined;
  image: string;
}

/** Turns the parsed flags and `IMAGE [COMMAND] [ARG...]` into a /containers/create body. */
export function buildCreate(args: ParsedArgs, attach: boolean): CreateRequest {
  const [image, ...cmd] = args.args as [string, ...string[]];
  const env = [...args.list('env-file').flatMap(readEnvFile), ...args.list('env').map(envEntry)];
  const labels: Record<string, string> = {};
  for (const l of args.list('label')) {
    const eq = l.indexOf('=');
    labels[eq >= 0 ? l.slice(0, eq) : l] = eq >= 0 ? l.slice(eq + 1) : '';
  }
  const restart = parseRestart(args.string('restart') ?? 'no');
  if (args.bool('rm') && restart.Name !== 'no' && restart.Name !== '') throw new FlagError('Conflicting options: --restart and --rm');
  const interactive = args.bool('interactive');
  const body: ContainerCreateBody = {
    Hostname: args.string('hostname') ?? '',
    User: args.string('user') ?? '',
    AttachStdin: attach && interactive,
    AttachStdout: attach,
    AttachStderr: attach,
    Tty: args.bool('tty'),
    OpenStdin: interactive,
    StdinOnce: attach && interactive,
    Env: env,
    Cmd: cmd.length ? cmd : undefined,
    Image: image,
    WorkingDir: args.string('workdir') ?? '',
    Labels: labels,
    HostConfig: { RestartPolicy: restart, AutoRemove: false },
  };
  if (args.changed.has('entrypoint')) body.Entrypoint = [args.string('entrypoint') ?? ''];
  if (args.changed.has('stop-signal')) body.StopSignal = args.string('stop-signal');
  if (args.changed.has('stop-timeout')) body.StopTimeout = args.int('stop-timeout');
  applyVolumeFlags(args, body as Record<string, unknown>);
  applyNetworkFlags(args, body as Record<string, unknown>);
  applyRunLimits(args, body);
  return { body, name: args.string('name'), image };
}

/** docker's run/create error report: "berth: <msg>." with status 125 (126/127 for exec failures). */
export function runError(err: unknown, verb: string, withHelp: boolean): StatusError {
  let msg = err instanceof ClientError ? `Error response from daemon: ${err.message}` : err instanceof Error ? err.message : String(err);
  if (!msg.endsWith('.')) msg += '.';
  let status = 125;
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) status = 127;
  else if (/permission denied|is a directory/.test(msg)) status = 126;
  return new StatusError(`berth: ${msg}${withHelp ? `\nSee 'berth ${verb} --help'.` : ''}`, status);
}

function isNoSuchImage(err: unknown): boolean {
  return err instanceof ClientError && err.statusCode === 404 && /no such image/i.test(err.message);
}

/** Pulls through /images/create?fromImage; progress goes to stderr like docker's when not a TTY. */
async function pull(ctx: CliContext, client: EngineClient, image: string): Promise<void> {
  const at = image.indexOf('@');
  const colon = image.lastIndexOf(':');
  const hasTag = at < 0 && colon > image.lastIndexOf('/');
  const name = at >= 0 ? image.slice(0, at) : hasTag ? image.slice(0, colon) : image;
  const tag = at >= 0 ? image.slice(at + 1) : hasTag ? image.slice(colon + 1) : 'latest';
  const res = await client.imagePull(name, tag);
  for await (const msg of jsonLines<ProgressMessage>(res)) {
    if (msg.error) throw new Error(msg.error);
    if (msg.status) ctx.stderr.write(`${msg.id ? `${msg.id}: ` : ''}${msg.status}\n`);
  }
}

/** Creates the container, pulling the image first if the daemon does not have it. */
export async function createContainer(ctx: CliContext, req: CreateRequest): Promise<string> {
  const client = ctx.client();
  let res;
  try {
    res = await client.containerCreate(req.body, req.name);
  } catch (err) {
    if (!isNoSuchImage(err)) throw err;
    const ref = req.image.includes(':') || req.image.includes('@') ? req.image : `${req.image}:latest`;
    ctx.stderr.write(`Unable to find image '${ref}' locally\n`);
    await pull(ctx, client, req.image);
    res = await client.containerCreate(req.body, req.name);
  }
  for (const w of res.Warnings ?? []) ctx.stderr.write(`WARNING: ${w}\n`);
  return res.Id;
}
