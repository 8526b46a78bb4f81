/**
 * Turns a POST /containers/create body plus the image's config into the container's effective
 * config, following dockerd's merge rules (image defaults under request values).
 */
import { invalidParameter } from '../util/errors.js';
import type { ImageRecord } from '../image/types.js';
import type { ContainerConfig, HostConfig, RestartPolicy } from './model.js';
import { parseLogConfig } from './logconfig.js';
import {
  optionalBool,
  optionalInt,
  optionalObject,
  optionalStrSlice,
  optionalString,
  optionalStringArray,
  optionalStringMap,
} from './validate.js';

export interface CreateRequest {
  config: ContainerConfig;
  hostConfig: HostConfig;
  /** Entrypoint + Cmd after merging, what the process will exec. */
  argv: string[];
}

const RESTART_NAMES = ['', 'no', 'always', 'unless-stopped', 'on-failure'];

function mergeEnv(imageEnv: string[], requestEnv: string[]): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const entry of [...imageEnv, ...requestEnv]) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (!values.has(key)) order.push(key);
    values.set(key, entry);
  }
  return order.map((key) => values.get(key)!);
}

export function parseCreateBody(body: Record<string, unknown>, image: ImageRecord): CreateRequest {
  const imageConfig = image.config.config ?? {};
  const hostConfigRaw = optionalObject(body, 'HostConfig', 'ContainerCreate.HostConfig') ?? {};

  const requestEntrypoint = optionalStrSlice(body, 'Entrypoint', 'Config.Entrypoint');
  const requestCmd = optionalStrSlice(body, 'Cmd', 'Config.Cmd');
  const env = optionalStringArray(body, 'Env', 'Config.Env') ?? [];
  for (const entry of env) {
    if (entry.startsWith('=') || entry === '') throw invalidParameter(`invalid environment variable: ${entry}`);
  }

  // dockerd: an Entrypoint in the request replaces the image's and drops the image's Cmd;
  // an explicit empty Entrypoint ([""] or []) clears it.
  let entrypoint: string[] | null;
  let cmd: string[] | null;
  if (requestEntrypoint !== undefined && requestEntrypoint !== null) {
    entrypoint = requestEntrypoint.length === 0 || (requestEntrypoint.length === 1 && requestEntrypoint[0] === '') ? null : requestEntrypoint;
    cmd = requestCmd && requestCmd.length > 0 ? requestCmd : null;
  } else {
    entrypoint = imageConfig.Entrypoint ?? null;
    cmd = requestCmd && requestCmd.length > 0 ? requestCmd : (imageConfig.Cmd ?? null);
  }
  const argv = [...(entrypoint ?? []), ...(cmd ?? [])];
  if (argv.length === 0) throw invalidParameter('No command specified');

  const labels = { ...(imageConfig.Labels ?? {}), ...(optionalStringMap(body, 'Labels', 'Config.Labels') ?? {}) };
  const config: ContainerConfig = {
    Hostname: optionalString(body, 'Hostname', 'Config.Hostname') ?? '',
    Domainname: optionalString(body, 'Domainname', 'Config.Domainname') ?? '',
    User: optionalString(body, 'User', 'Config.User') ?? imageConfig.User ?? '',
    AttachStdin: optionalBool(body, 'AttachStdin', 'Config.AttachStdin') ?? false,
    AttachStdout: optionalBool(body, 'AttachStdout', 'Config.AttachStdout') ?? false,
    AttachStderr: optionalBool(body, 'AttachStderr', 'Config.AttachStderr') ?? false,
    ExposedPorts: { ...(imageConfig.ExposedPorts ?? {}), ...((optionalObject(body, 'ExposedPorts', 'Config.ExposedPorts') as Record<string, Record<string, never>>) ?? {}) },
    Tty: optionalBool(body, 'Tty', 'Config.Tty') ?? false,
    OpenStdin: optionalBool(body, 'OpenStdin', 'Config.OpenStdin') ?? false,
    StdinOnce: optionalBool(body, 'StdinOnce', 'Config.StdinOnce') ?? false,
    Env: mergeEnv(imageConfig.Env ?? [], env),
    Cmd: cmd,
    Image: String(body.Image),
    Volumes: { ...(imageConfig.Volumes ?? {}), ...((optionalObject(body, 'Volumes', 'Config.Volumes') as Record<string, Record<string, never>>) ?? {}) },
    WorkingDir: optionalString(body, 'WorkingDir', 'Config.WorkingDir') || imageConfig.WorkingDir || '',
    Entrypoint: entrypoint,
    OnBuild: imageConfig.OnBuild ?? null,
    Labels: labels,
  };
  const stopSignal = optionalString(body, 'StopSignal', 'Config.StopSignal') ?? imageConfig.StopSignal;
  if (stopSignal) config.StopSignal = stopSignal;
  const stopTimeout = optionalInt(body, 'StopTimeout', 'Config.StopTimeout');
  if (stopTimeout !== undefined) config.StopTimeout = stopTimeout;
  if (imageConfig.Healthcheck || body.Healthcheck) config.Healthcheck = (body.Healthcheck as ContainerConfig['Healthcheck']) ?? imageConfig.Healthcheck;
  if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
    throw invalidParameter(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
  }

  const hostConfig = parseHostConfig(hostConfigRaw);
  return { config, hostConfig, argv };
}

function parseHostConfig(raw: Record<string, unknown>): HostConfig {
  const restartRaw = optionalObject(raw, 'RestartPolicy', 'HostConfig.RestartPolicy') ?? {};
  const restartName = optionalString(restartRaw, 'Name', 'RestartPolicy.Name') ?? '';
  if (!RESTART_NAMES.includes(restartName)) throw invalidParameter(`invalid restart policy '${restartName}'`);
  const maxRetry = optionalInt(restartRaw, 'MaximumRetryCount', 'RestartPolicy.MaximumRetryCount') ?? 0;
  if (maxRetry < 0) throw invalidParameter('invalid restart policy: maximum retry count cannot be negative');
  if (maxRetry > 0 && restartName !== 'on-failure') {
    throw invalidParameter(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  const restartPolicy: RestartPolicy = { Name: restartName as RestartPolicy['Name'], MaximumRetryCount: maxRetry };
  const autoRemove = optionalBool(raw, 'AutoRemove', 'HostConfig.AutoRemove') ?? false;
  if (autoRemove && restartName !== '' && restartName !== 'no') {
    throw invalidParameter(`conflicting options: cannot specify both --restart and --rm`);
  }
  const networkMode = optionalString(raw, 'NetworkMode', 'HostConfig.NetworkMode') || 'default';
  return {
    ...raw,
    Binds: optionalStringArray(raw, 'Binds', 'HostConfig.Binds') ?? null,
    AutoRemove: autoRemove,
    RestartPolicy: restartPolicy,
    NetworkMode: networkMode,
    Privileged: optionalBool(raw, 'Privileged', 'HostConfig.Privileged') ?? false,
    ReadonlyRootfs: optionalBool(raw, 'ReadonlyRootfs', 'HostConfig.ReadonlyRootfs') ?? false,
    CapAdd: optionalStringArray(raw, 'CapAdd', 'HostConfig.CapAdd') ?? null,
    CapDrop: optionalStringArray(raw, 'CapDrop', 'HostConfig.CapDrop') ?? null,
    ShmSize: optionalInt(raw, 'ShmSize', 'HostConfig.ShmSize') ?? 67108864,
    LogConfig: parseLogConfig(raw.LogConfig),
    // Absent/null: the daemon's "init" decides at start, as dockerd shows it (no key) in inspect.
    ...(optionalBool(raw, 'Init', 'HostConfig.Init') !== undefined ? { Init: raw.Init } : {}),
  };
}
