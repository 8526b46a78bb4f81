import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { SpecInput } from './types.js';
import type { OciMount, OciNamespace, OciRlimit, OciSpec, OciDeviceCgroup } from './oci.js';
import { ALL_CAPABILITIES, effectiveCapabilities } from './capabilities.js';
import { containerEnv } from './env.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE, defaultDeviceRules, defaultMounts } from './defaults.js';
import { DOCKER_DEFAULT_NOFILE, normalizeRlimitType, readHostRlimits } from './rlimits.js';
import { invalidParameter } from '../util/errors.js';
import { DEFAULT_PROFILE, toOciSeccomp } from './seccomp.js';
import { kernelRunsX32Syscalls } from '../sys/abi.js';

export const OCI_VERSION = '1.0.2';

export interface HostFacts {
  /** The daemon's hard RLIMIT_NOFILE; the default nofile limit never exceeds it. */
  nofileHardLimit: number;
  /**
   * The daemon's capability bounding set. "All capabilities" (--privileged, --cap-add ALL)
   * means all of these: runc can't grant one the daemon itself lacks.
   */
  boundingCapabilities?: readonly string[];
  /**
   * False when the kernel runs no x32 system calls: the seccomp filter then leaves SCMP_ARCH_X32
   * out (a filter's every architecture is compiled by runc at each start, about a tenth of its
   * run time here), which changes nothing for any program that can run on this kernel.
   */
  x32Syscalls?: boolean;
}

/** Capability names in the CapBnd mask of /proc/self/status. */
export function readBoundingCapabilities(statusText: string): string[] | undefined {
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(statusText);
  if (!m) return undefined;
  const mask = BigInt(`0x${m[1]}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

let cachedHostFacts: HostFacts | undefined;

/** Read once: the daemon's own limits don't change while it runs. */
export function hostFacts(): HostFacts {
  if (!cachedHostFacts) {
    const nofile = readHostRlimits()['RLIMIT_NOFILE'];
    let bounding: string[] | undefined;
    try {
      bounding = readBoundingCapabilities(readFileSync('/proc/self/status', 'utf8'));
    } catch {
      bounding = undefined;
    }
    cachedHostFacts = { nofileHardLimit: nofile?.hard ?? DOCKER_DEFAULT_NOFILE, boundingCapabilities: bounding, x32Syscalls: kernelRunsX32Syscalls() };
  }
  return cachedHostFacts;
}

/** Docker's order: mount, network, uts, pid, ipc. Host network simply has no network entry. */
function namespaces(network: SpecInput['network']): OciNamespace[] {
  const list: OciNamespace[] = [{ type: 'mount' }];
  if (network === 'new') list.push({ type: 'network' });
  else if (network !== 'host') list.push({ type: 'network', path: network.path });
  list.push({ type: 'uts' }, { type: 'pid' }, { type: 'ipc' });
  return list;
}

function pathDepth(path: string): number {
  return posix.normalize(path).split('/').filter(Boolean).length;
}

/**
 * Docker drops a default mount that a configured mount replaces (and every default under /dev
 * when /dev itself is replaced), then mounts configured mounts parents-first so a volume at
 * /a/b isn't hidden by one at /a.
 */
function mergeMounts(defaults: OciMount[], configured: SpecInput['mounts']): OciMount[] {
  const targets = new Set(configured.map((m) => posix.normalize(m.destination)));
  const kept = defaults.filter((m) => {
    if (targets.has(m.destination)) return false;
    if (targets.has('/dev') && m.destination.startsWith('/dev/')) return false;
    return true;
  });
  const ordered = configured
    .map((m, index) => ({ m, index }))
    .sort((a, b) => pathDepth(a.m.destination) - pathDepth(b.m.destination) || a.index - b.index)
    .map(({ m }) => ({ destination: m.destination, type: m.type, source: m.source, options: [...m.options] }));
  return [...kept, ...ordered];
}

function rlimits(given: SpecInput['rlimits'], host: HostFacts): OciRlimit[] {
  const list: OciRlimit[] = (given ?? []).map((r) => ({ type: normalizeRlimitType(r.type), soft: r.soft, hard: r.hard }));
  if (!list.some((r) => r.type === 'RLIMIT_NOFILE')) {
    // Docker's 1048576 would make runc fail on hosts with a lower hard limit (setrlimit EPERM).
    const nofile = Math.min(DOCKER_DEFAULT_NOFILE, host.nofileHardLimit);
    list.push({ type: 'RLIMIT_NOFILE', soft: nofile, hard: nofile });
  }
  return list;
}

function deviceRules(input: SpecInput): OciDeviceCgroup[] {
  const extra = input.resources?.['devices'];
  const configured = Array.isArray(extra) ? (extra as OciDeviceCgroup[]) : [];
  return [...defaultDeviceRules(input.privileged ?? false), ...configured];
}

function checkInput(input: SpecInput): void {
  if (!posix.isAbsolute(input.rootfs)) throw invalidParameter(`rootfs must be an absolute path: ${input.rootfs}`);
  if (!posix.isAbsolute(input.cwd)) throw invalidParameter(`the working directory '${input.cwd}' is invalid, it needs to be an absolute path`);
  if (input.args.length === 0) throw invalidParameter('no command specified');
  for (const m of input.mounts) {
    if (!posix.isAbsolute(m.destination)) throw invalidParameter(`invalid mount destination: ${m.destination}: must be absolute`);
  }
}

/**
 * Builds the OCI runtime spec docker would hand to runc for this container. Pure apart from
 * reading the daemon's rlimits once (pass `host` to make it fully deterministic).
 */
export function buildSpec(input: SpecInput, host: HostFacts = hostFacts()): OciSpec {
  checkInput(input);
  const privileged = input.privileged ?? false;
  let caps = effectiveCapabilities({ capAdd: input.capAdd, capDrop: input.capDrop, privileged });
  const allRequested = privileged || (input.capAdd ?? []).some((c) => c.toUpperCase() === 'ALL');
  if (allRequested && host.boundingCapabilities) caps = caps.filter((c) => host.boundingCapabilities!.includes(c));
  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: input.tty,
      user: { uid: input.user.uid, gid: input.user.gid, additionalGids: [...input.user.additionalGids] },
      args: [...input.args],
      env: containerEnv({ env: input.env, hostname: input.hostname, tty: input.tty, home: input.user.home }),
      cwd: input.cwd,
      // Docker stopped filling the inheritable set (CVE-2022-24769): execve must not hand
      // capabilities to a non-root program.
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      rlimits: rlimits(input.rlimits, host),
      noNewPrivileges: input.noNewPrivileges ?? false,
      oomScoreAdj: 0,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts: mergeMounts(defaultMounts({ shmSize: input.shmSize ?? DEFAULT_SHM_SIZE, privileged }), input.mounts),
    linux: {
      namespaces: namespaces(input.network),
      cgroupsPath: input.cgroupsPath,
      resources: { ...(input.resources ?? {}), devices: deviceRules(input) },
      maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
    },
  };
  if (input.domainname) spec.domainname = input.domainname;
  const seccomp = input.seccomp ?? 'default';
  if (!privileged && seccomp !== 'unconfined') {
    spec.linux.seccomp = toOciSeccomp(seccomp === 'default' ? DEFAULT_PROFILE : seccomp, caps, { withoutX32: host.x32Syscalls === false });
  }
  return spec;
}
