/**
 * The container as the daemon keeps it. `config` and `hostConfig` keep docker's wire field
 * names because inspect shows them verbatim; `state` is a discriminated status plus docker's
 * State fields.
 */
import type { ImageContainerConfig } from '../image/types.js';
import type { ContainerNetworkState } from '../network/types.js';
import type { HealthState } from './health.js';
import type { MountPoint } from '../volume/mount-spec.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount: number;
}

/** HostConfig fields berth understands today; unknown ones are kept as given so inspect echoes them. */
export interface HostConfig {
  Binds?: string[] | null;
  AutoRemove?: boolean;
  RestartPolicy?: RestartPolicy;
  NetworkMode?: string;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  ShmSize?: number;
  [key: string]: unknown;
}

export interface ContainerConfig extends ImageContainerConfig {
  /** Set when Entrypoint/Cmd came from the request, so an image's Cmd is dropped when only Entrypoint is given. */
  [key: string]: unknown;
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  startedAt: string;
  finishedAt: string;
  /** Set when a user asked for stop/kill, so restart policies (and recovery) respect it. */
  stoppedByUser: boolean;
  /** HEALTHCHECK results (docker's State.Health); absent for containers without a check. */
  health?: HealthState;
}

export interface ContainerRecord {
  id: string;
  /** Without the leading slash. */
  name: string;
  created: string;
  /** Image ID ("sha256:...") and the reference the user typed. */
  image: string;
  imageRef: string;
  path: string;
  args: string[];
  config: ContainerConfig;
  hostConfig: HostConfig;
  state: ContainerState;
  restartCount: number;
  logPath: string;
  hostnamePath: string;
  hostsPath: string;
  resolvConfPath: string;
  /** Networks, addresses and published ports (kept by the network hook). */
  network?: ContainerNetworkState;
  /** Volumes, binds and tmpfs mounts, resolved at create by the volume hook. */
  mountPoints?: MountPoint[];
}

export const ZERO_TIME = '0001-01-01T00:00:00Z';

export function initialState(): ContainerState {
  return { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: ZERO_TIME, finishedAt: ZERO_TIME, stoppedByUser: false };
}

export function isActive(status: ContainerStatus): boolean {
  return status === 'running' || status === 'paused' || status === 'restarting';
}
