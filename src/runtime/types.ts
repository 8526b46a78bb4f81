/**
 * The runtime subsystem's contract with the daemon: build an OCI runtime spec, run it with
 * runc under a per-container monitor (conmon), and read back state and exit codes.
 */

import type { DockerSeccompProfile } from './seccomp.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Home directory from /etc/passwd, used for HOME when the image doesn't set it. */
  home: string;
}

export interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface SpecInput {
  /** Absolute path of the mounted rootfs (overlay merged dir). */
  rootfs: string;
  readonlyRootfs: boolean;
  /** Final argv: entrypoint + cmd already combined by the daemon. */
  args: string[];
  env: string[];
  /** Working dir inside the container (absolute); the runtime creates it if missing. */
  cwd: string;
  user: ResolvedUser;
  hostname: string;
  domainname?: string;
  tty: boolean;
  /** Extra mounts (e.g. /etc/hosts, /etc/resolv.conf, /etc/hostname bind mounts, volumes). */
  mounts: SpecMount[];
  /** 'new' = fresh network namespace; 'host' = share the host's; or a /proc/PID/ns/net or /run/netns path to join. */
  network: 'new' | 'host' | { path: string };
  /** Capability names with CAP_ prefix to add to/drop from docker's default set ("ALL" allowed). */
  capAdd?: string[];
  capDrop?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  /**
   * Seccomp: docker's default profile unless 'unconfined' or a profile of the user's (docker's
   * JSON format). Privileged containers run unconfined, as in docker.
   */
  seccomp?: 'default' | 'unconfined' | DockerSeccompProfile;
  /** cgroups path for this container, e.g. "/berth/<id>". */
  cgroupsPath: string;
  /** OCI linux.resources, passed through as given. */
  resources?: Record<string, unknown>;
  /**
   * rlimits wanted, passed through unclamped: the daemon validates them against readHostRlimits()
   * first. Without an RLIMIT_NOFILE entry the builder adds docker's 1048576, capped at the host's
   * hard limit.
   */
  rlimits?: Array<{ type: string; soft: number; hard: number }>;
  shmSize?: number;
}

export type RuntimeStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface RuntimeState {
  status: RuntimeStatus;
  pid: number;
}

export interface ExitStatus {
  exitCode: number;
  oomKilled: boolean;
  /** When the monitor recorded the exit (the exit file's mtime). */
  finishedAt: Date;
}

export interface CreateOptions {
  id: string;
  /** Directory holding config.json (written by create) and the monitor's files. */
  bundleDir: string;
  spec: object;
  /** Where the monitor writes the container's output (k8s-file format). */
  logPath: string;
  /** The `none` logging driver: the monitor keeps no log (attach still gets the output). */
  noLog?: boolean;
  tty: boolean;
  openStdin: boolean;
  /** docker's StdinOnce: close the container's stdin when the first attached client detaches (default true). */
  stdinOnce?: boolean;
}

/** What run() needs before the spec exists: everything the monitor is started with. */
export type RunOptions = Omit<CreateOptions, 'spec'>;

export interface RunSteps {
  /** Prepares the container and resolves with its OCI spec (a rejection aborts the run). */
  spec: () => Promise<object>;
  /** Once the spec is ready and clients can attach; the runtime reads the spec after it. */
  beforeStart: () => Promise<void>;
}

export interface RuntimeDriver {
  /** Writes config.json, starts the monitor which runs `runc create`; resolves once the container is created. */
  create(options: CreateOptions): Promise<{ pid: number; monitorPid: number }>;
  /** `runc start`: the user process runs from here. */
  start(id: string): Promise<void>;
  /**
   * Create and start at once, where the monitor can (berth-monitor: one `runc run --detach`).
   * The monitor starts at once while `steps.spec` prepares the container (mounts, network) and
   * builds the spec, so the two overlap; beforeStart runs once the spec is written and clients
   * can attach, before anything of the container has run.
   */
  run?(options: RunOptions, steps: RunSteps): Promise<{ pid: number; monitorPid: number }>;
  /**
   * A hint that run() with these options comes next (a container just created): the monitor and
   * the runtime may start now and wait for the spec. Never fails; unused, they go by themselves.
   */
  prepareRun?(options: RunOptions): void;
  /** Drops what prepareRun started and no run() used (shutdown). */
  dropPreparedRuns?(): Promise<void>;
  /** Signal by name ("SIGTERM", "TERM", "KILL") or number. */
  kill(id: string, signal: string | number): Promise<void>;
  /** undefined when runc no longer knows the container. */
  state(id: string): Promise<RuntimeState | undefined>;
  /** `runc delete` (--force if asked) and removal of the monitor's files. */
  delete(id: string, force: boolean): Promise<void>;
  /**
   * Whether delete() has anything to do: runc state or a monitor record. A start skips the
   * delete otherwise (its launch clears a previous run's monitor files itself).
   */
  hasState?(id: string): boolean;
  /** Ids the runtime still keeps state for (crash leftovers included). */
  ids?(): Promise<string[]>;
  /** The exit recorded by the monitor, undefined while the container has not exited. */
  exitStatus(id: string): Promise<ExitStatus | undefined>;
  /** Calls back with the container id whenever a monitor records an exit. Returns an unsubscribe. */
  onExit(callback: (id: string) => void): () => void;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
}
