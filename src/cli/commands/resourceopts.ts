/**
 * The run/create (and update) flags for resource limits, privileges, security options and
 * healthchecks, parsed as the docker CLI parses them (sizes by RAMInBytes, --cpus as a decimal,
 * --ulimit name=soft[:hard], seccomp=FILE sent as the file's JSON).
 */
import { readFileSync } from 'node:fs';
import type { ContainerCreateBody, HostConfig, Resources, Ulimit } from '../../client/types.js';
import { FlagError, type FlagSpec, type ParsedArgs } from '../flags.js';
import { ramInBytes } from '../../util/bytes.js';

/** Flags `run`, `create` and `update` share. */
export const LIMIT_FLAGS: FlagSpec[] = [
  { name: 'cpu-period', type: 'int', help: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpu-quota', type: 'int', help: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-shares', short: 'c', type: 'int', help: 'CPU shares (relative weight)' },
  { name: 'cpus', type: 'string', typeName: 'decimal', help: 'Number of CPUs' },
  { name: 'cpuset-cpus', type: 'string', help: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', type: 'string', help: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'memory', short: 'm', type: 'string', typeName: 'bytes', help: 'Memory limit' },
  { name: 'memory-reservation', type: 'string', typeName: 'bytes', help: 'Memory soft limit' },
  { name: 'memory-swap', type: 'string', typeName: 'bytes', help: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'pids-limit', type: 'int', help: 'Tune container pids limit (set -1 for unlimited)' },
];

/** Flags only `run` and `create` have. */
export const CREATE_ONLY_FLAGS: FlagSpec[] = [
  { name: 'cap-add', type: 'stringArray', typeName: 'list', help: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'stringArray', typeName: 'list', help: 'Drop Linux capabilities' },
  { name: 'health-cmd', type: 'string', help: 'Command to run to check health' },
  { name: 'health-interval', type: 'duration', help: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'health-retries', type: 'int', help: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-period', type: 'duration', help: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { name: 'health-timeout', type: 'duration', help: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { name: 'no-healthcheck', type: 'bool', help: 'Disable any container-specified HEALTHCHECK' },
  { name: 'init', type: 'bool', help: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'log-driver', type: 'string', help: 'Logging driver for the container' },
  { name: 'log-opt', type: 'stringArray', typeName: 'list', help: 'Log driver options' },
  { name: 'oom-kill-disable', type: 'bool', help: 'Disable OOM Killer' },
  { name: 'privileged', type: 'bool', help: 'Give extended privileges to this container' },
  { name: 'read-only', type: 'bool', help: "Mount the container's root filesystem as read only" },
  { name: 'security-opt', type: 'stringArray', typeName: 'list', help: 'Security Options' },
  { name: 'shm-size', type: 'string', typeName: 'bytes', help: 'Size of /dev/shm' },
  { name: 'ulimit', type: 'stringArray', typeName: 'ulimit', help: 'Ulimit options (default [])' },
];

const label = (name: string, short?: string): string => (short ? `-${short}, --${name}` : `--${name}`);

function bytesFlag(args: ParsedArgs, name: string, short?: string, allowUnlimited = false): number | undefined {
  const raw = args.string(name);
  if (raw === undefined || raw === '') return undefined;
  if (allowUnlimited && raw === '-1') return -1;
  try {
    return ramInBytes(raw);
  } catch (err) {
    throw new FlagError(`invalid argument "${raw}" for "${label(name, short)}" flag: ${(err as Error).message}`);
  }
}

/** docker's NanoCPUs flag: a decimal number of CPUs, at most nine decimals. */
export function parseCpus(raw: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(raw.trim())) throw new FlagError(`invalid argument "${raw}" for "--cpus" flag: failed to parse ${raw} as a rational number`);
  const [whole, frac = ''] = raw.trim().split('.') as [string, string | undefined];
  if (frac.replace(/0+$/, '').length > 9) throw new FlagError(`invalid argument "${raw}" for "--cpus" flag: value is too precise`);
  return Number(whole || '0') * 1e9 + Number((frac + '000000000').slice(0, 9));
}

/** `--ulimit nofile=1024:2048` (or `nofile=1024`, soft = hard). */
export function parseUlimit(raw: string): Ulimit {
  const fail = (why: string): never => {
    throw new FlagError(`invalid argument "${raw}" for "--ulimit" flag: ${why}`);
  };
  const eq = raw.indexOf('=');
  if (eq <= 0) fail(`invalid ulimit argument: ${raw}`);
  const name = raw.slice(0, eq);
  const [softText, hardText, extra] = raw.slice(eq + 1).split(':');
  if (extra !== undefined) fail(`too many limit value arguments - ${raw.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const toInt = (t: string | undefined): number => (t !== undefined && /^-?\d+$/.test(t) ? Number(t) : fail(`invalid ulimit argument: ${raw}`));
  const soft = toInt(softText);
  const hard = hardText === undefined ? soft : toInt(hardText);
  if (soft > hard && hard !== -1) fail(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: name, Soft: soft, Hard: hard };
}

/** Resource limits from the flags that were given (update sends only those). */
export function resourcesFromFlags(args: ParsedArgs): Resources {
  const r: Resources = {};
  const memory = bytesFlag(args, 'memory', 'm');
  if (memory !== undefined) r.Memory = memory;
  const swap = bytesFlag(args, 'memory-swap', undefined, true);
  if (swap !== undefined) r.MemorySwap = swap;
  const reservation = bytesFlag(args, 'memory-reservation');
  if (reservation !== undefined) r.MemoryReservation = reservation;
  if (args.changed.has('cpus')) r.NanoCpus = parseCpus(args.string('cpus') ?? '');
  if (args.changed.has('cpu-shares')) r.CpuShares = args.int('cpu-shares');
  if (args.changed.has('cpu-quota')) r.CpuQuota = args.int('cpu-quota');
  if (args.changed.has('cpu-period')) r.CpuPeriod = args.int('cpu-period');
  if (args.changed.has('cpuset-cpus')) r.CpusetCpus = args.string('cpuset-cpus');
  if (args.changed.has('cpuset-mems')) r.CpusetMems = args.string('cpuset-mems');
  if (args.changed.has('pids-limit')) r.PidsLimit = args.int('pids-limit');
  return r;
}

/** seccomp=FILE becomes seccomp=<the file's JSON>, as the docker CLI sends it. */
function securityOpts(opts: string[]): string[] {
  return opts.map((opt) => {
    const m = /^seccomp[=:](.*)$/s.exec(opt);
    if (!m || m[1] === 'unconfined' || m[1] === 'builtin' || m[1]!.trimStart().startsWith('{')) return opt;
    let text: string;
    try {
      text = readFileSync(m[1]!, 'utf8');
    } catch (err) {
      throw new Error(`opening seccomp profile (${m[1]}) failed: ${(err as Error).message}`);
    }
    try {
      return `seccomp=${JSON.stringify(JSON.parse(text))}`;
    } catch (err) {
      throw new Error(`compacting json for seccomp profile (${m[1]}) failed: ${(err as Error).message}`);
    }
  });
}

const HEALTH_FLAGS = ['health-cmd', 'health-interval', 'health-retries', 'health-timeout', 'health-start-period'];

function healthcheck(args: ParsedArgs): ContainerCreateBody['Healthcheck'] | undefined {
  const given = HEALTH_FLAGS.some((f) => args.changed.has(f));
  if (args.bool('no-healthcheck')) {
    if (given) throw new FlagError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!given) return undefined;
  const ns = (name: string): number => {
    const secs = (args.values.get(name) as number | undefined) ?? 0;
    if (secs < 0) throw new FlagError(`--${name} cannot be negative`);
    return Math.round(secs * 1e9);
  };
  const retries = args.int('health-retries') ?? 0;
  if (retries < 0) throw new FlagError('--health-retries cannot be negative');
  const cmd = args.string('health-cmd');
  return {
    ...(cmd ? { Test: ['CMD-SHELL', cmd] } : {}),
    Interval: ns('health-interval'),
    Timeout: ns('health-timeout'),
    StartPeriod: ns('health-start-period'),
    Retries: retries,
  };
}

/** --log-opt key=value, as the docker CLI parses them. */
function logOpts(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new FlagError(`invalid argument "${v}" for "--log-opt" flag: invalid key value pair format in log-opt`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** Adds the limit, privilege, security and health flags to a create body. */
export function applyRunLimits(args: ParsedArgs, body: ContainerCreateBody): void {
  const host: HostConfig = (body.HostConfig ??= {});
  Object.assign(host, resourcesFromFlags(args));
  if (args.bool('oom-kill-disable')) host.OomKillDisable = true;
  const shm = bytesFlag(args, 'shm-size');
  if (shm !== undefined) host.ShmSize = shm;
  if (args.bool('read-only')) host.ReadonlyRootfs = true;
  if (args.bool('privileged')) host.Privileged = true;
  if (args.bool('init')) host.Init = true;
  const logDriver = args.string('log-driver');
  if (logDriver || args.list('log-opt').length) host.LogConfig = { Type: logDriver ?? '', Config: logOpts(args.list('log-opt')) };
  if (args.list('cap-add').length) host.CapAdd = args.list('cap-add');
  if (args.list('cap-drop').length) host.CapDrop = args.list('cap-drop');
  if (args.list('security-opt').length) host.SecurityOpt = securityOpts(args.list('security-opt'));
  if (args.list('ulimit').length) host.Ulimits = args.list('ulimit').map(parseUlimit);
  const health = healthcheck(args);
  if (health) body.Healthcheck = health;
}
