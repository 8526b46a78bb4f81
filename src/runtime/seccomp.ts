/**
 * Seccomp: a default profile with the effect of docker's (an allow-list: every syscall not named
 * fails with EPERM; namespace and mount syscalls only with CAP_SYS_ADMIN, ptrace-like ones with
 * CAP_SYS_PTRACE, and so on), and the conversion of a profile in docker's JSON format (with
 * archMap and includes/excludes by capability and architecture) to the OCI spec's
 * linux.seccomp for this container's capabilities. Unknown syscall names are fine: runc skips
 * names libseccomp doesn't know.
 */
import { arch } from 'node:os';
import { invalidParameter } from '../util/errors.js';

export interface ProfileArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}

interface Condition {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

/** One rule of a docker-format profile. */
export interface ProfileSyscall {
  name?: string;
  names?: string[];
  action: string;
  args?: ProfileArg[] | null;
  errnoRet?: number;
  includes?: Condition;
  excludes?: Condition;
}

/** A profile as docker's --security-opt seccomp=FILE takes it. */
export interface DockerSeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] }>;
  syscalls?: ProfileSyscall[];
}

/** linux.seccomp of the OCI runtime spec. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: Array<{ names: string[]; action: string; errnoRet?: number; args?: ProfileArg[] }>;
}

const EPERM = 1;
const ENOSYS = 38;
/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may not make namespaces without CAP_SYS_ADMIN. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const AF_VSOCK = 40;

/** The syscalls every container may make. */
const ALLOWED: readonly string[] = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake
futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register
io_uring_setup ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat
lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod
mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd
msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2
pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir
rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send
sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs
statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create
timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill
truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimensat_time64 utimes
vfork vmsplice wait4 waitid waitpid write writev ptrace
`
  .split(/\s+/)
  .filter(Boolean);

const allow = (names: string[], includes?: Condition, extra: Partial<ProfileSyscall> = {}): ProfileSyscall => ({
  names,
  action: 'SCMP_ACT_ALLOW',
  ...(includes ? { includes } : {}),
  ...extra,
});

/** Docker's default profile in docker's own format: data, converted per container like a user's profile. */
export const DEFAULT_PROFILE: DockerSeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: EPERM,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  ],
  syscalls: [
    allow([...ALLOWED]),
    // Only the execution domains programs really use (Linux, its 32-bit forms, and the query).
    ...[0x0, 0x8, 0x20000, 0x20008, 0xffffffff].map((value) => allow(['personality'], undefined, { args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
    // socket(2) except AF_VSOCK, which would reach the host's hypervisor sockets.
    allow(['socket'], undefined, { args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] }),
    allow(['arch_prctl', 'modify_ldt'], { arches: ['amd64', 'x32', 'x86'] }),
    allow(['sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls', 'arm_fadvise64_64', 'arm_sync_file_range'], { arches: ['arm', 'arm64'] }),
    {
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
    },
    // glibc falls back to clone when clone3 says ENOSYS; clone3's flags can't be filtered.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    allow(
      ['bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie', 'mount', 'mount_setattr', 'move_mount', 'open_tree', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare'],
      { caps: ['CAP_SYS_ADMIN'] },
    ),
    allow(['reboot'], { caps: ['CAP_SYS_BOOT'] }),
    allow(['chroot'], { caps: ['CAP_SYS_CHROOT'] }),
    allow(['delete_module', 'init_module', 'finit_module'], { caps: ['CAP_SYS_MODULE'] }),
    allow(['acct'], { caps: ['CAP_SYS_PACCT'] }),
    allow(['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace'], { caps: ['CAP_SYS_PTRACE'] }),
    allow(['iopl', 'ioperm'], { caps: ['CAP_SYS_RAWIO'] }),
    allow(['settimeofday', 'stime', 'clock_settime', 'clock_settime64'], { caps: ['CAP_SYS_TIME'] }),
    allow(['vhangup'], { caps: ['CAP_SYS_TTY_CONFIG'] }),
    allow(['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node'], { caps: ['CAP_SYS_NICE'] }),
    allow(['syslog'], { caps: ['CAP_SYSLOG'] }),
    allow(['bpf'], { caps: ['CAP_BPF'] }),
    allow(['perf_event_open'], { caps: ['CAP_PERFMON'] }),
  ],
};

/** docker's GOARCH names for this machine, as the profile's arches conditions use them. */
function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', s390x: 's390x', ppc64: 'ppc64le' };
  return map[arch()] ?? arch();
}

const NATIVE_SCMP_ARCH: Record<string, string> = { amd64: 'SCMP_ARCH_X86_64', arm64: 'SCMP_ARCH_AARCH64', arm: 'SCMP_ARCH_ARM', '386': 'SCMP_ARCH_X86', s390x: 'SCMP_ARCH_S390X', ppc64le: 'SCMP_ARCH_PPC64LE' };

function conditionHolds(cond: Condition, caps: Set<string>, machine: string): boolean {
  if (cond.caps && !cond.caps.every((c) => caps.has(c))) return false;
  if (cond.arches && !cond.arches.includes(machine)) return false;
  return true;
}

function excluded(cond: Condition | undefined, caps: Set<string>, machine: string): boolean {
  if (!cond) return false;
  if (cond.caps && cond.caps.some((c) => caps.has(c))) return true;
  if (cond.arches && cond.arches.includes(machine)) return true;
  return false;
}

export interface SeccompHost {
  /** docker's GOARCH name of this machine (the profile's arches conditions); this one's by default. */
  machine?: string;
  /** The kernel runs no x32 system calls (see HostFacts.x32Syscalls): SCMP_ARCH_X32 is left out. */
  withoutX32?: boolean;
}

/** Converts a docker-format profile to linux.seccomp for a container with these capabilities. */
export function toOciSeccomp(profile: DockerSeccompProfile, capabilities: readonly string[], options: SeccompHost = {}): OciSeccomp {
  const machine = options.machine ?? goArch();
  const caps = new Set(capabilities);
  let architectures = profile.architectures ?? [];
  if (architectures.length === 0 && profile.archMap) {
    const native = NATIVE_SCMP_ARCH[machine];
    const entry = profile.archMap.find((a) => a.architecture === native);
    if (entry) architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
  }
  // x32 shares x86-64's audit arch: listed beside it, it only adds a branch the kernel can never
  // take when it has no x32 ABI. Alone it stays, as the profile's author asked.
  if (options.withoutX32 && architectures.includes('SCMP_ARCH_X86_64')) architectures = architectures.filter((a) => a !== 'SCMP_ARCH_X32');
  const syscalls: OciSeccomp['syscalls'] = [];
  for (const rule of profile.syscalls ?? []) {
    if (rule.includes && !conditionHolds(rule.includes, caps, machine)) continue;
    if (excluded(rule.excludes, caps, machine)) continue;
    const names = rule.names ?? (rule.name ? [rule.name] : []);
    if (names.length === 0) continue;
    const out: OciSeccomp['syscalls'][number] = { names: [...names], action: rule.action };
    if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
    if (rule.args && rule.args.length) out.args = rule.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op }));
    syscalls.push(out);
  }
  const result: OciSeccomp = { defaultAction: profile.defaultAction, architectures, syscalls };
  if (profile.defaultErrnoRet !== undefined) result.defaultErrnoRet = profile.defaultErrnoRet;
  return result;
}

/** Parses the JSON text of a user's profile (the CLI sends the file's content, as docker's does). */
export function parseProfile(text: string): DockerSeccompProfile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidParameter(`Decoding seccomp profile failed: ${(err as Error).message}`);
  }
  const profile = parsed as DockerSeccompProfile;
  if (typeof profile !== 'object' || profile === null || typeof profile.defaultAction !== 'string') {
    throw invalidParameter('Decoding seccomp profile failed: defaultAction is required');
  }
  if (profile.syscalls !== undefined && !Array.isArray(profile.syscalls)) {
    throw invalidParameter('Decoding seccomp profile failed: syscalls must be an array');
  }
  return profile;
}
