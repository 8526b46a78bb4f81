import type { OciDeviceCgroup, OciMount } from './oci.js';

/** dockerd's default /dev/shm size (64 MiB). */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/**
 * The filesystems every docker container gets, in docker's order. /sys and /sys/fs/cgroup are
 * writable only for privileged containers, as in docker.
 */
export function defaultMounts(options: { shmSize: number; privileged: boolean }): OciMount[] {
  const sysMode = options.privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', sysMode] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [sysMode, 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${options.shmSize}`],
    },
  ];
}

/** Paths docker hides from unprivileged containers (bind of /dev/null or an empty tmpfs). */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

/** Paths docker remounts read-only in unprivileged containers. */
export const DEFAULT_READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

function charDevice(major: number, minor: number | undefined, access: string): OciDeviceCgroup {
  return minor === undefined
    ? { allow: true, type: 'c', major, access }
    : { allow: true, type: 'c', major, minor, access };
}

/**
 * Device cgroup rules: deny everything, then allow mknod of any node (so images can create
 * device files) and access to the nodes runc creates in every container. A missing major or
 * minor means "any" (the spec's wildcard).
 */
export function defaultDeviceRules(privileged: boolean): OciDeviceCgroup[] {
  if (privileged) return [{ allow: true, access: 'rwm' }];
  return [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', access: 'm' },
    { allow: true, type: 'b', access: 'm' },
    charDevice(1, 3, 'rwm'), // null
    charDevice(1, 5, 'rwm'), // zero
    charDevice(1, 7, 'rwm'), // full
    charDevice(1, 8, 'rwm'), // random
    charDevice(1, 9, 'rwm'), // urandom
    charDevice(5, 0, 'rwm'), // tty
    charDevice(5, 1, 'rwm'), // console
    charDevice(5, 2, 'rwm'), // ptmx
    charDevice(136, undefined, 'rwm'), // pts/*
  ];
}
