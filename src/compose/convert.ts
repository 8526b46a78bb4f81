/**
 * A normalised service -> the Engine API's container create body, with compose's labels and
 * names. Durations become nanoseconds, limits become HostConfig fields, volumes/secrets/configs
 * become HostConfig.Mounts, and the first network goes in NetworkingConfig (the API takes one
 * at create; the executor connects the others before start).
 */
import type { ContainerCreateBody, HostConfig, Labels } from '../client/types.js';
import type { EndpointConfig } from './engine.js';
import { COMPOSE_VERSION, LABEL, dependsOnLabel } from './labels.js';
import type { Project, Service } from './model.js';
import { parseDuration } from './units.js';

export interface MountSpec {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Labels };
  TmpfsOptions?: { SizeBytes?: number };
}

export interface ComposeHostConfig extends HostConfig {
  NetworkMode?: string;
  PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }>>;
  Mounts?: MountSpec[];
  Tmpfs?: Record<string, string>;
  Memory?: number;
  NanoCpus?: number;
  Init?: boolean;
  LogConfig?: { Type: string; Config: Record<string, string> };
  Privileged?: boolean;
}

export interface ComposeCreateBody extends ContainerCreateBody {
  ExposedPorts?: Record<string, Record<string, never>>;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number };
  HostConfig: ComposeHostConfig;
  NetworkingConfig?: { EndpointsConfig: Record<string, EndpointConfig> };
}

export interface ContainerPlan {
  name: string;
  body: ComposeCreateBody;
  /** Networks to connect after create, before start: [daemon network name, endpoint]. */
  laterNetworks: Array<[string, EndpointConfig]>;
}

export interface ConvertOptions {
  number: number;
  hash: string;
  oneoff?: { name: string; command?: string[]; env?: Record<string, string>; servicePorts: boolean; user?: string; workdir?: string; entrypoint?: string[] };
  /** Anonymous volumes of the container being replaced, by target, so data survives a recreate. */
  anonymousVolumes?: Map<string, string>;
}

export function imageOf(project: Project, svc: Service): string {
  return svc.image ?? `${project.name}-${svc.name}`;
}

export function containerNameOf(project: Project, svc: Service, n: number): string {
  return svc.container_name ?? `${project.name}-${svc.name}-${n}`;
}

const ns = (d: string | undefined): number | undefined => (d === undefined ? undefined : Math.round(parseDuration(d) * 1e9));

function restartPolicy(restart: string | undefined): HostConfig['RestartPolicy'] {
  if (!restart || restart === 'no') return { Name: 'no' };
  const [name, count] = restart.split(':');
  if (name === 'on-failure') return { Name: 'on-failure', MaximumRetryCount: count ? Number(count) : 0 };
  return { Name: name as 'always' | 'unless-stopped' };
}

function endpoint(svc: Service, net: string): EndpointConfig {
  const cfg = svc.networks[net];
  const ep: EndpointConfig = { Aliases: [svc.name, ...(cfg?.aliases ?? [])] };
  if (cfg?.ipv4_address) ep.IPAMConfig = { IPv4Address: cfg.ipv4_address };
  return ep;
}

export function projectLabels(project: Project): Labels {
  return {
    [LABEL.project]: project.name,
    [LABEL.workingDir]: project.working_dir,
    [LABEL.configFiles]: project.config_files.join(','),
    [LABEL.version]: COMPOSE_VERSION,
  };
}

export function containerPlan(project: Project, svc: Service, opts: ConvertOptions): ContainerPlan {
  const oneoff = opts.oneoff;
  const labels: Labels = {
    ...svc.labels,
    ...projectLabels(project),
    [LABEL.service]: svc.name,
    [LABEL.number]: String(opts.number),
    [LABEL.configHash]: opts.hash,
    [LABEL.oneoff]: oneoff ? 'True' : 'False',
    [LABEL.dependsOn]: dependsOnLabel(svc),
    [LABEL.image]: imageOf(project, svc),
  };
  const env = { ...svc.environment, ...(oneoff?.env ?? {}) };
  const exposed: Record<string, Record<string, never>> = {};
  const bindings: NonNullable<ComposeHostConfig['PortBindings']> = {};
  for (const p of svc.ports) {
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    if (oneoff && !oneoff.servicePorts) continue;
    (bindings[key] ??= []).push({ HostIp: p.host_ip ?? '', HostPort: p.published ?? '' });
  }
  for (const e of svc.expose) {
    const [port, proto = 'tcp'] = e.split('/');
    exposed[`${port}/${proto}`] = {};
  }
  const mounts: MountSpec[] = [];
  for (const v of svc.volumes) {
    if (v.type === 'bind') {
      mounts.push({ Type: 'bind', Source: v.source, Target: v.target, ReadOnly: v.read_only, BindOptions: { CreateMountpoint: v.bind?.create_host_path ?? true } });
    } else if (v.type === 'volume') {
      const source = v.source ? project.volumes[v.source]?.name : opts.anonymousVolumes?.get(v.target);
      const m: MountSpec = { Type: 'volume', Target: v.target, ReadOnly: v.read_only };
      if (source) m.Source = source;
      if (v.volume?.nocopy) m.VolumeOptions = { NoCopy: true };
      mounts.push(m);
    } else {
      const m: MountSpec = { Type: 'tmpfs', Target: v.target };
      if (v.tmpfs?.size) m.TmpfsOptions = { SizeBytes: v.tmpfs.size };
      mounts.push(m);
    }
  }
  // Secrets and configs are read-only binds of their files, where compose puts them.
  for (const g of [...svc.secrets, ...svc.configs]) mounts.push({ Type: 'bind', Source: g.file, Target: g.target, ReadOnly: true });

  const host: ComposeHostConfig = { RestartPolicy: oneoff ? { Name: 'no' } : restartPolicy(svc.restart) };
  if (Object.keys(bindings).length) host.PortBindings = bindings;
  if (mounts.length) host.Mounts = mounts;
  if (svc.tmpfs.length) host.Tmpfs = Object.fromEntries(svc.tmpfs.map((t) => { const [path, o = ''] = t.split(':'); return [path as string, o]; }));
  if (svc.limits.memory !== undefined) host.Memory = svc.limits.memory;
  if (svc.limits.cpus !== undefined) host.NanoCpus = Math.round(svc.limits.cpus * 1e9);
  if (svc.init !== undefined) host.Init = svc.init;
  if (svc.logging) host.LogConfig = { Type: svc.logging.driver ?? '', Config: svc.logging.options ?? {} };
  if (svc.privileged) host.Privileged = true;

  const nets = Object.keys(svc.networks);
  let networking: ComposeCreateBody['NetworkingConfig'];
  const later: Array<[string, EndpointConfig]> = [];
  if (svc.network_mode) {
    const mode = svc.network_mode;
    // "service:web" means the network namespace of web's first container.
    host.NetworkMode = mode.startsWith('service:') ? `container:${project.name}-${mode.slice(8)}-1` : mode;
  } else if (nets.length) {
    const first = nets[0] as string;
    const firstName = project.networks[first]?.name ?? first;
    host.NetworkMode = firstName;
    networking = { EndpointsConfig: { [firstName]: endpoint(svc, first) } };
    for (const n of nets.slice(1)) later.push([project.networks[n]?.name ?? n, endpoint(svc, n)]);
  }

  const body: ComposeCreateBody = {
    Image: imageOf(project, svc),
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: labels,
    AttachStdout: true,
    AttachStderr: true,
    Tty: svc.tty,
    OpenStdin: svc.stdin_open,
    HostConfig: host,
  };
  const cmd = oneoff?.command ?? svc.command;
  if (cmd !== undefined && cmd !== null) body.Cmd = cmd;
  const entrypoint = oneoff?.entrypoint ?? svc.entrypoint;
  if (entrypoint !== undefined) body.Entrypoint = entrypoint;
  if (Object.keys(exposed).length) body.ExposedPorts = exposed;
  const hc = svc.healthcheck;
  if (hc) {
    body.Healthcheck = hc.disable ? { Test: ['NONE'] } : { Test: hc.test, Interval: ns(hc.interval), Timeout: ns(hc.timeout), StartPeriod: ns(hc.start_period), StartInterval: ns(hc.start_interval), Retries: hc.retries };
  }
  const user = oneoff?.user ?? svc.user;
  if (user) body.User = user;
  const workdir = oneoff?.workdir ?? svc.working_dir;
  if (workdir) body.WorkingDir = workdir;
  if (svc.hostname) body.Hostname = svc.hostname;
  if (svc.stop_signal) body.StopSignal = svc.stop_signal;
  if (svc.stop_grace_period !== undefined) body.StopTimeout = Math.round(svc.stop_grace_period);
  if (networking) body.NetworkingConfig = networking;
  return { name: oneoff?.name ?? containerNameOf(project, svc, opts.number), body, laterNetworks: later };
}
