/**
 * Wire views of a container: the list item of GET /containers/json and the document of
 * GET /containers/{id}/json, with dockerd's field names and zero values.
 */
import { mountView } from '../volume/mount-spec.js';
import { humanDuration } from '../util/units.js';
import type { ContainerLayer } from '../snapshot/types.js';
import { ZERO_TIME, type ContainerRecord } from './model.js';
import { logConfigView } from './logconfig.js';
import { listNetworks, listPorts, networkSettings } from '../network/views.js';

/** `Command` as dockerd builds it: arguments with spaces get single quotes. */
export function commandString(record: ContainerRecord): string {
  if (record.args.length === 0) return record.path;
  return `${record.path} ${record.args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`;
}

export function statusString(record: ContainerRecord, now = Date.now()): string {
  const s = record.state;
  switch (s.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))}${healthSuffix(record)}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(s.startedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'exited':
      if (s.finishedAt === ZERO_TIME) return 'Created';
      return `Exited (${s.exitCode}) ${humanDuration(now - Date.parse(s.finishedAt))} ago`;
    case 'created':
    default:
      return 'Created';
  }
}

/** ps Status's health part, as docker writes it. */
function healthSuffix(record: ContainerRecord): string {
  const health = record.state.health;
  if (!health) return '';
  return health.Status === 'starting' ? ' (health: starting)' : ` (${health.Status})`;
}

export function listItem(record: ContainerRecord, size?: { rw: number; rootFs: number }): Record<string, unknown> {
  const item: Record<string, unknown> = {
    Id: record.id,
    Names: [`/${record.name}`],
    Image: record.imageRef,
    ImageID: record.image,
    Command: commandString(record),
    Created: Math.floor(Date.parse(record.created) / 1000),
    Ports: listPorts(record),
    Labels: record.config.Labels ?? {},
    State: record.state.status,
    Status: statusString(record),
    HostConfig: { NetworkMode: record.hostConfig.NetworkMode ?? 'default' },
    NetworkSettings: { Networks: listNetworks(record) },
    Mounts: mountsView(record),
  };
  if (size) {
    item.SizeRw = size.rw;
    item.SizeRootFs = size.rootFs;
  }
  return item;
}

export function inspectDocument(record: ContainerRecord, layer: ContainerLayer, lowerDirs: string[]): Record<string, unknown> {
  const s = record.state;
  return {
    Id: record.id,
    Created: record.created,
    Path: record.path,
    Args: record.args,
    State: {
      Status: s.status,
      Running: s.status === 'running' || s.status === 'paused',
      Paused: s.status === 'paused',
      Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled,
      Dead: s.status === 'dead',
      Pid: s.pid,
      ExitCode: s.exitCode,
      Error: s.error,
      StartedAt: s.startedAt,
      FinishedAt: s.finishedAt,
      ...(s.health ? { Health: s.health } : {}),
    },
    Image: record.image,
    ResolvConfPath: record.resolvConfPath,
    HostnamePath: record.hostnamePath,
    HostsPath: record.hostsPath,
    LogPath: record.logPath,
    Name: `/${record.name}`,
    RestartCount: record.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: { ...record.hostConfig, LogConfig: logConfigView(record.hostConfig) },
    GraphDriver: {
      Data: {
        LowerDir: lowerDirs.join(':'),
        MergedDir: layer.mergedDir,
        UpperDir: layer.upperDir,
        WorkDir: layer.workDir,
      },
      Name: 'overlay2',
    },
    Mounts: mountsView(record),
    Config: record.config,
    NetworkSettings: networkSettings(record),
  };
}

/** docker's Mounts array (volumes, binds, --mount tmpfs). */
function mountsView(record: ContainerRecord): Record<string, unknown>[] {
  return (record.mountPoints ?? []).map(mountView).filter((m): m is Record<string, unknown> => m !== undefined);
}
