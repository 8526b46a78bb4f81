/**
 * `service create` / `service update` flags and how they become a ServiceSpec, with docker's
 * spellings, defaults and error messages. Create builds a spec from scratch; update edits the
 * current one, touching only what a flag names (docker's "changed" rule).
 */
import type { FlagSpec, ParsedArgs } from '../flags.js';
import { FlagError } from '../flags.js';
import { ramInBytes } from '../../util/bytes.js';
import { parseCpus } from './resourceopts.js';
import { parseMountFlag } from './volume-flags.js';
import type { HealthConfig, Mount, PortConfig, ServiceSpec, UpdateConfig } from '../../cluster/services/types.js';

const NS = 1e9;

/** Flags both create and update take. */
const COMMON: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output' },
  { name: 'replicas', type: 'string', typeName: 'uint', help: 'Number of tasks' },
  { name: 'workdir', short: 'w', type: 'string', help: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'hostname', type: 'string', help: 'Container hostname' },
  { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { name: 'entrypoint', type: 'string', typeName: 'command', help: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'stop-grace-period', type: 'duration', help: 'Time to wait before force killing a container (ns|us|ms|s|m|h)' },
  { name: 'stop-signal', type: 'string', help: 'Signal to stop the container' },
  { name: 'limit-cpu', type: 'string', typeName: 'decimal', help: 'Limit CPUs' },
  { name: 'limit-memory', type: 'string', typeName: 'bytes', help: 'Limit Memory' },
  { name: 'reserve-cpu', type: 'string', typeName: 'decimal', help: 'Reserve CPUs' },
  { name: 'reserve-memory', type: 'string', typeName: 'bytes', help: 'Reserve Memory' },
  { name: 'restart-condition', type: 'string', help: 'Restart when condition is met ("none", "on-failure", "any")' },
  { name: 'restart-delay', type: 'duration', help: 'Delay between restart attempts (ns|us|ms|s|m|h)' },
  { name: 'restart-max-attempts', type: 'string', typeName: 'uint', help: 'Maximum number of restarts before giving up' },
  { name: 'restart-window', type: 'duration', help: 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)' },
  { name: 'update-parallelism', type: 'string', typeName: 'uint', help: 'Maximum number of tasks updated simultaneously (0 to update all at once)' },
  { name: 'update-delay', type: 'duration', help: 'Delay between updates (ns|us|ms|s|m|h)' },
  { name: 'update-failure-action', type: 'string', help: 'Action on update failure ("pause", "continue", "rollback")' },
  { name: 'update-monitor', type: 'duration', help: 'Duration after each task update to monitor for failure (ns|us|ms|s|m|h)' },
  { name: 'update-max-failure-ratio', type: 'string', typeName: 'float', help: 'Failure rate to tolerate during an update' },
  { name: 'update-order', type: 'string', help: 'Update order ("start-first", "stop-first")' },
  { name: 'rollback-parallelism', type: 'string', typeName: 'uint', help: 'Maximum number of tasks rolled back simultaneously (0 to roll back all at once)' },
  { name: 'rollback-delay', type: 'duration', help: 'Delay between task rollbacks (ns|us|ms|s|m|h)' },
  { name: 'rollback-failure-action', type: 'string', help: 'Action on rollback failure ("pause", "continue")' },
  { name: 'rollback-monitor', type: 'duration', help: 'Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h)' },
  { name: 'rollback-max-failure-ratio', type: 'string', typeName: 'float', help: 'Failure rate to tolerate during a rollback' },
  { name: 'rollback-order', type: 'string', help: 'Rollback order ("start-first", "stop-first")' },
  { name: 'health-cmd', type: 'string', help: 'Command to run to check health' },
  { name: 'health-interval', type: 'duration', help: 'Time between running the check (ms|s|m|h)' },
  { name: 'health-retries', type: 'int', help: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-timeout', type: 'duration', help: 'Maximum time to allow one check to run (ms|s|m|h)' },
  { name: 'health-start-period', type: 'duration', help: 'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)' },
  { name: 'no-healthcheck', type: 'bool', help: 'Disable any container-specified HEALTHCHECK' },
  { name: 'endpoint-mode', type: 'string', help: 'Endpoint mode (vip or dnsrr)' },
  { name: 'with-registry-auth', type: 'bool', help: 'Send registry authentication details to swarm agents' },
  { name: 'no-resolve-image', type: 'bool', help: 'Do not query the registry to resolve image digest and supported platforms' },
];

export const CREATE_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', help: 'Service name' },
  { name: 'mode', type: 'string', default: 'replicated', help: 'Service mode ("replicated", "global")' },
  { name: 'env', short: 'e', type: 'stringArray', typeName: 'list', help: 'Set environment variables' },
  { name: 'label', short: 'l', type: 'stringArray', typeName: 'list', help: 'Service labels' },
  { name: 'container-label', type: 'stringArray', typeName: 'list', help: 'Container labels' },
  { name: 'constraint', type: 'stringArray', typeName: 'list', help: 'Placement constraints' },
  { name: 'placement-pref', type: 'stringArray', typeName: 'pref', help: 'Add a placement preference' },
  { name: 'publish', short: 'p', type: 'stringArray', typeName: 'port', help: 'Publish a port as a node port' },
  { name: 'network', type: 'stringArray', typeName: 'network', help: 'Network attachments' },
  { name: 'mount', type: 'stringArray', typeName: 'mount', help: 'Attach a filesystem mount to the service' },
  ...COMMON,
];

export const UPDATE_FLAGS: FlagSpec[] = [
  { name: 'image', type: 'string', help: 'Service image tag' },
  { name: 'args', type: 'string', typeName: 'command', help: 'Service command args' },
  { name: 'force', type: 'bool', help: 'Force update even if no changes require it' },
  { name: 'rollback', type: 'bool', help: 'Rollback to previous specification' },
  { name: 'env-add', type: 'stringArray', typeName: 'list', help: 'Add or update an environment variable' },
  { name: 'env-rm', type: 'stringArray', typeName: 'list', help: 'Remove an environment variable' },
  { name: 'label-add', type: 'stringArray', typeName: 'list', help: 'Add or update a service label' },
  { name: 'label-rm', type: 'stringArray', typeName: 'list', help: 'Remove a label by its key' },
  { name: 'container-label-add', type: 'stringArray', typeName: 'list', help: 'Add or update a container label' },
  { name: 'container-label-rm', type: 'stringArray', typeName: 'list', help: 'Remove a container label by its key' },
  { name: 'constraint-add', type: 'stringArray', typeName: 'list', help: 'Add or update a placement constraint' },
  { name: 'constraint-rm', type: 'stringArray', typeName: 'list', help: 'Remove a constraint' },
  { name: 'placement-pref-add', type: 'stringArray', typeName: 'pref', help: 'Add a placement preference' },
  { name: 'placement-pref-rm', type: 'stringArray', typeName: 'pref', help: 'Remove a placement preference' },
  { name: 'publish-add', type: 'stringArray', typeName: 'port', help: 'Add or update a published port' },
  { name: 'publish-rm', type: 'stringArray', typeName: 'port', help: 'Remove a published port by its target port' },
  { name: 'network-add', type: 'stringArray', typeName: 'network', help: 'Add a network' },
  { name: 'network-rm', type: 'stringArray', typeName: 'list', help: 'Remove a network' },
  { name: 'mount-add', type: 'stringArray', typeName: 'mount', help: 'Add or update a mount on a service' },
  { name: 'mount-rm', type: 'stringArray', typeName: 'list', help: 'Remove a mount by its target path' },
  ...COMMON,
];

function uint(args: ParsedArgs, name: string): number | undefined {
  const raw = args.string(name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new FlagError(`invalid argument "${raw}" for "--${name}" flag: strconv.ParseUint: parsing "${raw}": invalid syntax`);
  return Number(raw);
}

function float(args: ParsedArgs, name: string): number | undefined {
  const raw = args.string(name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new FlagError(`invalid argument "${raw}" for "--${name}" flag: strconv.ParseFloat: parsing "${raw}": invalid syntax`);
  return n;
}

function nanos(args: ParsedArgs, name: string): number | undefined {
  if (!args.changed.has(name)) return undefined;
  return Math.round((args.values.get(name) as number) * NS);
}

function bytes(args: ParsedArgs, name: string): number | undefined {
  const raw = args.string(name);
  if (raw === undefined) return undefined;
  try {
    return ramInBytes(raw);
  } catch (err) {
    throw new FlagError(`invalid argument "${raw}" for "--${name}" flag: ${(err as Error).message}`);
  }
}

function cpus(args: ParsedArgs, name: string): number | undefined {
  const raw = args.string(name);
  return raw === undefined ? undefined : parseCpus(raw);
}

function oneOf(args: ParsedArgs, name: string, allowed: string[]): string | undefined {
  const raw = args.string(name);
  if (raw !== undefined && !allowed.includes(raw)) throw new FlagError(`invalid argument "${raw}" for "--${name}" flag: expected one of ${allowed.join(', ')}`);
  return raw;
}

/** `-p 8080:80[/udp]` or `-p published=8080,target=80,protocol=udp,mode=host`. */
export function parsePublish(value: string): PortConfig {
  const bad = (why: string) => new FlagError(`invalid argument "${value}" for "-p, --publish" flag: ${why}`);
  if (value.includes('=')) {
    const port: PortConfig = { TargetPort: 0, Protocol: 'tcp', PublishMode: 'ingress' };
    for (const field of value.split(',')) {
      const [k, v = ''] = field.split('=') as [string, string?];
      switch (k.toLowerCase()) {
        case 'published':
          port.PublishedPort = Number(v);
          break;
        case 'target':
          port.TargetPort = Number(v);
          break;
        case 'protocol':
          if (!['tcp', 'udp', 'sctp'].includes(v)) throw bad(`invalid protocol value '${v}'`);
          port.Protocol = v as PortConfig['Protocol'];
          break;
        case 'mode':
          if (v !== 'ingress' && v !== 'host') throw bad(`invalid publish mode value (${v}): must be either 'ingress' or 'host'`);
          port.PublishMode = v;
          break;
        default:
          throw bad(`invalid field key ${k}`);
      }
    }
    if (!Number.isInteger(port.TargetPort) || port.TargetPort < 1) throw bad('missing mandatory field "target"');
    return port;
  }
  const m = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(value);
  if (!m) throw bad('invalid port format: expected [published:]target[/protocol]');
  return { Protocol: (m[3] ?? 'tcp') as PortConfig['Protocol'], TargetPort: Number(m[2]), ...(m[1] ? { PublishedPort: Number(m[1]) } : {}), PublishMode: 'ingress' };
}

function parsePref(value: string): { Spread: { SpreadDescriptor: string } } {
  const m = /^spread=(.+)$/.exec(value);
  if (!m) throw new FlagError(`invalid argument "${value}" for "--placement-pref" flag: the only supported placement preference is spread=<descriptor>`);
  return { Spread: { SpreadDescriptor: m[1]! } };
}

function toMount(value: string): Mount {
  const m = parseMountFlag(value);
  return {
    Type: (m.Type ?? 'volume') as Mount['Type'],
    Target: m.Target!,
    ...(m.Source ? { Source: m.Source } : {}),
    ...(m.ReadOnly ? { ReadOnly: true } : {}),
    ...(m.VolumeOptions ? { VolumeOptions: { ...(m.VolumeOptions.NoCopy !== undefined ? { NoCopy: m.VolumeOptions.NoCopy } : {}), ...(m.VolumeOptions.Labels ? { Labels: m.VolumeOptions.Labels } : {}) } } : {}),
    ...(m.TmpfsOptions ? { TmpfsOptions: m.TmpfsOptions } : {}),
  };
}

function keyValue(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of list) {
    const eq = v.indexOf('=');
    out[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  }
  return out;
}

/** Applies the scalar flags (resources, policies, update/rollback config, health) to a spec in place. */
function applyScalars(spec: ServiceSpec, args: ParsedArgs): void {
  const tt = spec.TaskTemplate;
  const cs = tt.ContainerSpec;
  const replicas = uint(args, 'replicas');
  if (replicas !== undefined) {
    if (spec.Mode?.Global) throw new FlagError('replicas can only be used with replicated mode');
    spec.Mode = { Replicated: { Replicas: replicas } };
  }
  if (args.changed.has('workdir')) cs.Dir = args.string('workdir');
  if (args.changed.has('user')) cs.User = args.string('user');
  if (args.changed.has('hostname')) cs.Hostname = args.string('hostname');
  if (args.changed.has('tty')) cs.TTY = args.bool('tty');
  if (args.changed.has('entrypoint')) cs.Command = args.string('entrypoint') ? args.string('entrypoint')!.split(/\s+/) : [];
  const grace = nanos(args, 'stop-grace-period');
  if (grace !== undefined) cs.StopGracePeriod = grace;
  if (args.changed.has('stop-signal')) cs.StopSignal = args.string('stop-signal');

  const limitCpu = cpus(args, 'limit-cpu');
  const limitMem = bytes(args, 'limit-memory');
  const resCpu = cpus(args, 'reserve-cpu');
  const resMem = bytes(args, 'reserve-memory');
  if (limitCpu !== undefined || limitMem !== undefined || resCpu !== undefined || resMem !== undefined) {
    const r = (tt.Resources ??= {});
    if (limitCpu !== undefined || limitMem !== undefined) r.Limits = { ...r.Limits, ...(limitCpu !== undefined ? { NanoCPUs: limitCpu } : {}), ...(limitMem !== undefined ? { MemoryBytes: limitMem } : {}) };
    if (resCpu !== undefined || resMem !== undefined) r.Reservations = { ...r.Reservations, ...(resCpu !== undefined ? { NanoCPUs: resCpu } : {}), ...(resMem !== undefined ? { MemoryBytes: resMem } : {}) };
  }

  const condition = oneOf(args, 'restart-condition', ['none', 'on-failure', 'any']);
  const delay = nanos(args, 'restart-delay');
  const attempts = uint(args, 'restart-max-attempts');
  const window = nanos(args, 'restart-window');
  if (condition !== undefined || delay !== undefined || attempts !== undefined || window !== undefined) {
    tt.RestartPolicy = {
      ...tt.RestartPolicy,
      ...(condition !== undefined ? { Condition: condition as 'none' | 'on-failure' | 'any' } : {}),
      ...(delay !== undefined ? { Delay: delay } : {}),
      ...(attempts !== undefined ? { MaxAttempts: attempts } : {}),
      ...(window !== undefined ? { Window: window } : {}),
    };
  }

  for (const which of ['update', 'rollback'] as const) {
    const key = which === 'update' ? 'UpdateConfig' : 'RollbackConfig';
    const cfg: UpdateConfig = { ...spec[key] };
    const p = uint(args, `${which}-parallelism`);
    if (p !== undefined) cfg.Parallelism = p;
    const d = nanos(args, `${which}-delay`);
    if (d !== undefined) cfg.Delay = d;
    const actions = which === 'update' ? ['pause', 'continue', 'rollback'] : ['pause', 'continue'];
    const fa = oneOf(args, `${which}-failure-action`, actions);
    if (fa !== undefined) cfg.FailureAction = fa as UpdateConfig['FailureAction'];
    const mon = nanos(args, `${which}-monitor`);
    if (mon !== undefined) cfg.Monitor = mon;
    const ratio = float(args, `${which}-max-failure-ratio`);
    if (ratio !== undefined) cfg.MaxFailureRatio = ratio;
    const order = oneOf(args, `${which}-order`, ['start-first', 'stop-first']);
    if (order !== undefined) cfg.Order = order as UpdateConfig['Order'];
    spec[key] = cfg;
  }

  if (args.bool('no-healthcheck')) cs.Healthcheck = { Test: ['NONE'] };
  else {
    const h: HealthConfig = { ...cs.Healthcheck };
    let touched = false;
    if (args.changed.has('health-cmd')) {
      h.Test = args.string('health-cmd') ? ['CMD-SHELL', args.string('health-cmd')!] : undefined;
      touched = true;
    }
    for (const [flag, field] of [['health-interval', 'Interval'], ['health-timeout', 'Timeout'], ['health-start-period', 'StartPeriod']] as const) {
      const v = nanos(args, flag);
      if (v !== undefined) {
        h[field] = v;
        touched = true;
      }
    }
    if (args.changed.has('health-retries')) {
      h.Retries = args.int('health-retries');
      touched = true;
    }
    if (touched) cs.Healthcheck = h;
  }

  const mode = oneOf(args, 'endpoint-mode', ['vip', 'dnsrr']);
  if (mode !== undefined) spec.EndpointSpec = { ...spec.EndpointSpec, Mode: mode as 'vip' | 'dnsrr' };
}

/** The spec for `service create IMAGE [COMMAND] [ARG...]`. */
export function specFromCreate(args: ParsedArgs): ServiceSpec {
  const [image, ...rest] = args.args;
  const mode = oneOf(args, 'mode', ['replicated', 'global']) ?? 'replicated';
  const spec: ServiceSpec = {
    Name: args.string('name') ?? '',
    Labels: keyValue(args.list('label')),
    TaskTemplate: {
      ContainerSpec: {
        Image: image!,
        ...(rest.length ? { Args: rest } : {}),
        ...(args.list('env').length ? { Env: args.list('env') } : {}),
        ...(args.list('container-label').length ? { Labels: keyValue(args.list('container-label')) } : {}),
        ...(args.list('mount').length ? { Mounts: args.list('mount').map(toMount) } : {}),
      },
      RestartPolicy: { Condition: 'any', Delay: 5 * NS, MaxAttempts: 0 },
      Placement: {
        ...(args.list('constraint').length ? { Constraints: args.list('constraint') } : {}),
        ...(args.list('placement-pref').length ? { Preferences: args.list('placement-pref').map(parsePref) } : {}),
      },
      ...(args.list('network').length ? { Networks: args.list('network').map((n) => ({ Target: n })) } : {}),
    },
    Mode: mode === 'global' ? { Global: {} } : { Replicated: { Replicas: 1 } },
    UpdateConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 5 * NS, MaxFailureRatio: 0, Order: 'stop-first' },
    RollbackConfig: { Parallelism: 1, FailureAction: 'pause', Monitor: 5 * NS, MaxFailureRatio: 0, Order: 'stop-first' },
    EndpointSpec: { Mode: 'vip', ...(args.list('publish').length ? { Ports: args.list('publish').map(parsePublish) } : {}) },
  };
  if (mode === 'global' && args.changed.has('replicas')) throw new FlagError('replicas can only be used with replicated mode');
  applyScalars(spec, args);
  return spec;
}

function envKey(e: string): string {
  const eq = e.indexOf('=');
  return eq < 0 ? e : e.slice(0, eq);
}

/** The spec after `service update` flags; `changed` is false when nothing would change. */
export function specFromUpdate(current: ServiceSpec, args: ParsedArgs): ServiceSpec {
  const spec = structuredClone(current);
  const tt = spec.TaskTemplate;
  const cs = tt.ContainerSpec;
  if (args.changed.has('image')) cs.Image = args.string('image')!;
  if (args.changed.has('args')) cs.Args = args.string('args') ? args.string('args')!.split(/\s+/) : [];

  if (args.list('env-rm').length || args.list('env-add').length) {
    const rm = new Set(args.list('env-rm').map(envKey));
    const add = args.list('env-add');
    const addKeys = new Set(add.map(envKey));
    cs.Env = [...(cs.Env ?? []).filter((e) => !rm.has(envKey(e)) && !addKeys.has(envKey(e))), ...add];
  }
  const editMap = (map: Record<string, string> | undefined, add: string[], rm: string[]): Record<string, string> => {
    const out = { ...map };
    for (const k of rm) delete out[k];
    return { ...out, ...keyValue(add) };
  };
  if (args.list('label-add').length || args.list('label-rm').length) spec.Labels = editMap(spec.Labels, args.list('label-add'), args.list('label-rm'));
  if (args.list('container-label-add').length || args.list('container-label-rm').length) cs.Labels = editMap(cs.Labels, args.list('container-label-add'), args.list('container-label-rm'));

  if (args.list('constraint-add').length || args.list('constraint-rm').length) {
    const rm = new Set(args.list('constraint-rm'));
    const constraints = (tt.Placement?.Constraints ?? []).filter((c) => !rm.has(c));
    for (const c of args.list('constraint-add')) if (!constraints.includes(c)) constraints.push(c);
    tt.Placement = { ...tt.Placement, Constraints: constraints };
  }
  if (args.list('placement-pref-add').length || args.list('placement-pref-rm').length) {
    const rm = new Set(args.list('placement-pref-rm').map((p) => parsePref(p).Spread.SpreadDescriptor));
    const prefs = (tt.Placement?.Preferences ?? []).filter((p) => !rm.has(p.Spread.SpreadDescriptor));
    prefs.push(...args.list('placement-pref-add').map(parsePref));
    tt.Placement = { ...tt.Placement, Preferences: prefs };
  }
  if (args.list('publish-add').length || args.list('publish-rm').length) {
    const rm = args.list('publish-rm').map((v) => (/^\d+(\/\w+)?$/.test(v) ? { TargetPort: Number(v.split('/')[0]), Protocol: v.split('/')[1] ?? 'tcp' } : parsePublish(v)));
    const add = args.list('publish-add').map(parsePublish);
    const ports = (spec.EndpointSpec?.Ports ?? []).filter(
      (p) => !rm.some((r) => r.TargetPort === p.TargetPort && (r.Protocol ?? 'tcp') === (p.Protocol ?? 'tcp')) && !add.some((a) => a.PublishedPort && a.PublishedPort === p.PublishedPort),
    );
    spec.EndpointSpec = { ...spec.EndpointSpec, Ports: [...ports, ...add] };
  }
  if (args.list('network-add').length || args.list('network-rm').length) {
    const rm = new Set(args.list('network-rm'));
    const nets = (tt.Networks ?? spec.Networks ?? []).filter((n) => !rm.has(n.Target));
    for (const n of args.list('network-add')) if (!nets.some((x) => x.Target === n)) nets.push({ Target: n });
    tt.Networks = nets;
    delete spec.Networks;
  }
  if (args.list('mount-add').length || args.list('mount-rm').length) {
    const add = args.list('mount-add').map(toMount);
    const rm = new Set([...args.list('mount-rm'), ...add.map((m) => m.Target)]);
    cs.Mounts = [...(cs.Mounts ?? []).filter((m) => !rm.has(m.Target)), ...add];
  }
  applyScalars(spec, args);
  if (args.bool('force')) tt.ForceUpdate = (tt.ForceUpdate ?? 0) + 1;
  return spec;
}
