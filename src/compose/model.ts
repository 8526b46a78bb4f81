/**
 * The normalised project: what the loader hands to the planner, what `config` prints, and what
 * the config hash is computed from. Keys keep the compose file's spelling (snake_case) so the
 * printed YAML reads like the file the user wrote, with every default spelled out.
 */

export type DependencyCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Dependency {
  condition: DependencyCondition;
  required: boolean;
  restart: boolean;
}

export interface BuildConfig {
  context: string;
  dockerfile: string;
  args: Record<string, string>;
  target?: string;
  labels?: Record<string, string>;
}

export interface PortConfig {
  target: number;
  published?: string;
  host_ip?: string;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode: 'ingress' | 'host';
}

export interface ServiceVolume {
  type: 'volume' | 'bind' | 'tmpfs';
  /** Absent for anonymous volumes and tmpfs; a project volume key for named volumes; an absolute host path for binds. */
  source?: string;
  target: string;
  read_only: boolean;
  bind?: { create_host_path: boolean };
  volume?: { nocopy: boolean };
  tmpfs?: { size?: number };
}

export interface ServiceNetwork {
  aliases: string[];
  ipv4_address?: string;
}

export interface Healthcheck {
  test?: string[];
  interval?: string;
  timeout?: string;
  start_period?: string;
  start_interval?: string;
  retries?: number;
  disable: boolean;
}

/** A secret or config granted to a service: the host file it comes from and where it appears. */
export interface FileGrant {
  source: string;
  target: string;
  file: string;
}

export interface Service {
  name: string;
  image?: string;
  build?: BuildConfig;
  command?: string[] | null;
  entrypoint?: string[] | null;
  environment: Record<string, string>;
  ports: PortConfig[];
  expose: string[];
  volumes: ServiceVolume[];
  tmpfs: string[];
  networks: Record<string, ServiceNetwork>;
  network_mode?: string;
  depends_on: Record<string, Dependency>;
  healthcheck?: Healthcheck;
  restart?: string;
  replicas: number;
  limits: { memory?: number; cpus?: number };
  labels: Record<string, string>;
  user?: string;
  working_dir?: string;
  hostname?: string;
  init?: boolean;
  /** HostConfig.LogConfig: driver "" means the daemon's default. */
  logging?: { driver?: string; options?: Record<string, string> };
  stop_signal?: string;
  /** Seconds. */
  stop_grace_period?: number;
  secrets: FileGrant[];
  configs: FileGrant[];
  container_name?: string;
  profiles: string[];
  tty: boolean;
  stdin_open: boolean;
  privileged: boolean;
  pull_policy?: string;
}

export interface NetworkDef {
  /** The daemon-side name (project_key unless `name:` or external). */
  name: string;
  driver?: string;
  internal: boolean;
  external: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  driver_opts: Record<string, string>;
  ipam?: { driver?: string; config: Array<{ subnet?: string; gateway?: string; ip_range?: string }> };
}

export interface VolumeDef {
  name: string;
  driver?: string;
  external: boolean;
  labels: Record<string, string>;
  driver_opts: Record<string, string>;
}

export interface FileObjectDef {
  name: string;
  /** Absolute host path; undefined for external objects, which berth cannot serve. */
  file?: string;
  external: boolean;
}

export interface Project {
  name: string;
  working_dir: string;
  config_files: string[];
  services: Record<string, Service>;
  /** Services that exist in the files but whose profiles are not active. */
  disabled: Record<string, Service>;
  networks: Record<string, NetworkDef>;
  volumes: Record<string, VolumeDef>;
  secrets: Record<string, FileObjectDef>;
  configs: Record<string, FileObjectDef>;
}
