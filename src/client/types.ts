/**
 * Engine API wire shapes (moby api/swagger.yaml, v1.41), only the fields berth reads or sends.
 * Everything the daemon may omit is optional: the CLI must also work against a real dockerd.
 */

export type Labels = Record<string, string>;

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface MountPoint {
  Type?: string;
  Name?: string;
  Source?: string;
  Destination?: string;
  Driver?: string;
  Mode?: string;
  RW?: boolean;
}

export interface ContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image?: string;
  ImageID?: string;
  Command?: string;
  Created?: number;
  State?: string;
  Status?: string;
  Ports?: Port[] | null;
  Labels?: Labels | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts?: MountPoint[] | null;
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
}

export interface ContainerState {
  Status?: string;
  Running?: boolean;
  Paused?: boolean;
  Restarting?: boolean;
  OOMKilled?: boolean;
  Dead?: boolean;
  Pid?: number;
  ExitCode?: number;
  Error?: string;
  StartedAt?: string;
  FinishedAt?: string;
}

export interface ContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[] | null;
  Image?: string;
  WorkingDir?: string;
  Labels?: Labels;
  StopSignal?: string;
  StopTimeout?: number;
  Healthcheck?: HealthcheckConfig;
}

export interface RestartPolicy {
  Name: '' | 'no' | 'always' | 'unless-stopped' | 'on-failure';
  MaximumRetryCount?: number;
}

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** The resource fields shared by create's HostConfig and POST /containers/{id}/update. */
export interface Resources {
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  OomKillDisable?: boolean;
  NanoCpus?: number;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number;
  Ulimits?: Ulimit[];
}

export interface HostConfig extends Resources {
  AutoRemove?: boolean;
  RestartPolicy?: RestartPolicy;
  ShmSize?: number;
  ReadonlyRootfs?: boolean;
  CapAdd?: string[];
  CapDrop?: string[];
  Privileged?: boolean;
  SecurityOpt?: string[];
  /** Run an init (docker-init) as PID 1; null/absent: the daemon's default. */
  Init?: boolean | null;
  LogConfig?: { Type: string; Config: Record<string, string> };
}

export interface UpdateBody extends Resources {
  RestartPolicy?: RestartPolicy;
}

/** Config.Healthcheck: durations in nanoseconds. */
export interface HealthcheckConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface TopResponse {
  Titles: string[];
  Processes: string[][];
}

export interface ContainerCreateBody extends ContainerConfig {
  HostConfig?: HostConfig;
}

export interface ContainerCreateResponse {
  Id: string;
  Warnings?: string[] | null;
}

export interface ContainerInspect {
  Id: string;
  Name?: string;
  Created?: string;
  Path?: string;
  Args?: string[];
  State?: ContainerState;
  Image?: string;
  Config?: ContainerConfig;
  HostConfig?: HostConfig;
  [key: string]: unknown;
}

export interface WaitResponse {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

export interface ImageSummary {
  Id: string;
  ParentId?: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created: number;
  Size: number;
  SharedSize?: number;
  VirtualSize?: number;
  Labels?: Labels | null;
  Containers?: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags?: string[];
  [key: string]: unknown;
}

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags?: string[] | null;
  Size: number;
  Comment: string;
}

export interface DeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface ContainerPruneReport {
  ContainersDeleted?: string[] | null;
  SpaceReclaimed?: number;
}

export interface ImagePruneReport {
  ImagesDeleted?: DeleteItem[] | null;
  SpaceReclaimed?: number;
}

export interface VersionComponent {
  Name: string;
  Version: string;
  Details?: Record<string, string>;
}

export interface ServerVersion {
  Platform?: { Name: string };
  Components?: VersionComponent[];
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os?: string;
  Arch?: string;
  KernelVersion?: string;
  Experimental?: boolean;
  BuildTime?: string;
}

/** /info is large and open-ended; the CLI prints what it knows and tolerates the rest. */
export interface SystemInfo {
  ID?: string;
  Containers?: number;
  ContainersRunning?: number;
  ContainersPaused?: number;
  ContainersStopped?: number;
  Images?: number;
  Driver?: string;
  DriverStatus?: Array<[string, string]> | null;
  LoggingDriver?: string;
  CgroupDriver?: string;
  CgroupVersion?: string;
  KernelVersion?: string;
  OperatingSystem?: string;
  OSVersion?: string;
  OSType?: string;
  Architecture?: string;
  NCPU?: number;
  MemTotal?: number;
  DockerRootDir?: string;
  Name?: string;
  ServerVersion?: string;
  Debug?: boolean;
  Labels?: string[] | null;
  Experimental?: boolean;
  LiveRestoreEnabled?: boolean;
  DefaultRuntime?: string;
  Runtimes?: Record<string, unknown> | null;
  SecurityOptions?: string[] | null;
  Plugins?: { Volume?: string[] | null; Network?: string[] | null; Log?: string[] | null } | null;
  Warnings?: string[] | null;
  [key: string]: unknown;
}

export interface EventMessage {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> | null };
  scope?: string;
  time?: number;
  timeNano?: number;
  // Pre-1.22 fields that real daemons still send.
  status?: string;
  id?: string;
  from?: string;
}

/** One line of a JSON progress stream (import, pull). */
export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  stream?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: unknown;
}

/** Docker's filter encoding: {"key": {"value": true}}. */
export type Filters = Record<string, Record<string, boolean>>;
