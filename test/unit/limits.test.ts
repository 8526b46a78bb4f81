/**
 * Unit tests for the operational pieces that need no kernel: size and flag parsing, dockerd's
 * resource validation messages, the OCI translation, restart-policy decisions and back-off,
 * healthcheck state transitions, ps filtering, seccomp profile conversion and stats figures.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ramInBytes } from '../../src/util/bytes.js';
import { parseCpus, parseUlimit } from '../../src/cli/commands/resourceopts.js';
import { FlagError } from '../../src/cli/flags.js';
import { checkHostConfig, normalizeResources, readResources, toOciResources, toRlimits, validateResources, type HostLimits } from '../../src/container/resources.js';
import { nextBackoff, shouldRestartAfterExit, shouldRestartOnDaemonStart } from '../../src/container/restart.js';
import { applyResult, probePlan, type HealthState } from '../../src/container/health.js';
import { filterPsOutput, psArguments } from '../../src/container/top.js';
import { DEFAULT_PROFILE, toOciSeccomp } from '../../src/runtime/seccomp.js';
import { parseSecurityOpts } from '../../src/container/security.js';
import { computeFigures } from '../../src/cli/render/stats.js';
import { parseCpuList } from '../../src/runtime/cgroups.js';
import { initialState, type ContainerRecord } from '../../src/container/model.js';
import { updateContainer } from '../../src/container/update.js';
import { readBoundingCapabilities } from '../../src/runtime/spec.js';

const HOST: HostLimits = {
  cpu: { cpus: '0-1', mems: '0', onlineCpus: 2 },
  rlimits: { RLIMIT_NOFILE: { soft: 20000, hard: 20000 }, RLIMIT_NPROC: { soft: Infinity, hard: Infinity } },
};

const invalid = (fn: () => unknown, message: string | RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.equal((err as { kind?: string }).kind, 'invalidParameter');
    if (typeof message === 'string') assert.equal((err as Error).message, message);
    else assert.match((err as Error).message, message);
    return true;
  });
};

const validate = (raw: Record<string, unknown>): string[] => validateResources(normalizeResources(readResources(raw)), HOST);

describe('size and flag parsing', () => {
  it('reads sizes like RAMInBytes', () => {
    assert.equal(ramInBytes('512m'), 512 * 1024 * 1024);
    assert.equal(ramInBytes('1g'), 1024 ** 3);
    assert.equal(ramInBytes('1GB'), 1024 ** 3);
    assert.equal(ramInBytes('64k'), 65536);
    assert.equal(ramInBytes('1.5m'), 1572864);
    assert.equal(ramInBytes('100'), 100);
    assert.equal(ramInBytes('2MiB'), 2 * 1024 * 1024);
    assert.throws(() => ramInBytes('12x'), /invalid size: '12x'/);
    assert.throws(() => ramInBytes('-1'), /invalid size/);
  });

  it('reads --cpus as nano CPUs and refuses what docker refuses', () => {
    assert.equal(parseCpus('1.5'), 1_500_000_000);
    assert.equal(parseCpus('0.01'), 10_000_000);
    assert.equal(parseCpus('2'), 2_000_000_000);
    assert.throws(() => parseCpus('abc'), (e: unknown) => e instanceof FlagError && /failed to parse abc as a rational number/.test(e.message));
    assert.throws(() => parseCpus('0.0000000001'), /value is too precise/);
  });

  it('reads --ulimit name=soft[:hard]', () => {
    assert.deepEqual(parseUlimit('nofile=1024:2048'), { Name: 'nofile', Soft: 1024, Hard: 2048 });
    assert.deepEqual(parseUlimit('nproc=50'), { Name: 'nproc', Soft: 50, Hard: 50 });
    assert.throws(() => parseUlimit('nofile'), /invalid ulimit argument: nofile/);
    assert.throws(() => parseUlimit('nofile=2048:1024'), /soft limit must be less than or equal to hard limit: 2048 > 1024/);
    assert.throws(() => parseUlimit('nofile=1:2:3'), /too many limit value arguments/);
  });

  it('parses cpuset lists', () => {
    assert.deepEqual(parseCpuList('0-2,5'), [0, 1, 2, 5]);
    assert.equal(parseCpuList('a'), undefined);
    assert.equal(parseCpuList('3-1'), undefined);
  });
});

describe('resource validation (dockerd messages)', () => {
  it('refuses memory under 6 MB', () => {
    invalid(() => validate({ Memory: 4 * 1024 * 1024 }), 'Minimum memory limit allowed is 6MB');
    assert.deepEqual(validate({ Memory: 6 * 1024 * 1024 }), []);
  });
  it('checks swap against memory', () => {
    invalid(() => validate({ MemorySwap: 100 << 20 }), 'You should always set the Memory limit when using Memoryswap limit, see usage');
    invalid(() => validate({ Memory: 100 << 20, MemorySwap: 50 << 20 }), 'Minimum memoryswap limit should be larger than memory limit, see usage');
    assert.deepEqual(validate({ Memory: 100 << 20, MemorySwap: -1 }), []);
  });
  it('checks the reservation', () => {
    invalid(() => validate({ Memory: 50 << 20, MemoryReservation: 100 << 20 }), 'Minimum memory limit can not be less than memory reservation limit, see usage');
  });
  it('warns for OomKillDisable without a memory limit', () => {
    assert.match(validate({ OomKillDisable: true })[0]!, /OOM killer is disabled/);
  });
  it('refuses --cpus with --cpu-quota or --cpu-period, and out-of-range values', () => {
    invalid(() => validate({ NanoCpus: 5e8, CpuQuota: 50000 }), 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    invalid(() => validate({ NanoCpus: 5e8, CpuPeriod: 50000 }), 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
    invalid(() => validate({ NanoCpus: 3e9 }), 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
    invalid(() => validate({ CpuPeriod: 500 }), /CPU cfs period can not be less than 1ms/);
    invalid(() => validate({ CpuQuota: 500 }), 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
  });
  it('refuses cpusets outside the host', () => {
    invalid(() => validate({ CpusetCpus: '0-3' }), 'Requested CPUs are not available - requested 0-3, available: 0-1');
    invalid(() => validate({ CpusetCpus: 'x' }), 'Invalid value x for cpuset cpus');
    invalid(() => validate({ CpusetMems: '1' }), 'Requested memory nodes are not available - requested 1, available: 0');
    assert.deepEqual(validate({ CpusetCpus: '1', CpusetMems: '0' }), []);
  });
  it('refuses ulimits above the daemon hard limit, naming the limit', () => {
    invalid(() => validate({ Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1_048_576 }] }), /ulimit nofile: hard limit 1048576 exceeds the daemon's own hard limit 20000/);
    invalid(() => validate({ Ulimits: [{ Name: 'bogus', Soft: 1, Hard: 1 }] }), 'invalid ulimit type: bogus');
    assert.deepEqual(validate({ Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }, { Name: 'nproc', Soft: -1, Hard: -1 }] }), []);
  });
  it('rejects a wrongly typed field like the JSON decoder', () => {
    invalid(() => readResources({ Memory: '1g' }), /cannot unmarshal string into Go struct field HostConfig.Memory of type int/);
  });
});

describe('translation to the runtime spec', () => {
  it('maps limits to OCI linux.resources', () => {
    const r = normalizeResources(readResources({ Memory: 64 << 20, NanoCpus: 5e8, PidsLimit: 20, CpuShares: 512, CpusetCpus: '0', OomKillDisable: true }));
    assert.deepEqual(toOciResources(r), {
      memory: { limit: 64 << 20, swap: 128 << 20, disableOOMKiller: true },
      cpu: { shares: 512, period: 100000, quota: 50000, cpus: '0' },
      pids: { limit: 20 },
    });
    assert.deepEqual(toOciResources(normalizeResources(readResources({}))), {});
    assert.deepEqual(toOciResources(normalizeResources(readResources({ PidsLimit: -5 }))), { pids: { limit: -1 } });
  });
  it('maps ulimits to rlimits, -1 as unlimited', () => {
    assert.deepEqual(toRlimits([{ Name: 'nofile', Soft: 1024, Hard: 2048 }]), [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 2048 }]);
    assert.equal(toRlimits([{ Name: 'core', Soft: -1, Hard: -1 }])[0]!.hard, 2 ** 64 - 1);
  });
  it('fills docker zero values and the default swap into the HostConfig', () => {
    const hc: Record<string, unknown> = { Memory: 100 << 20 };
    assert.deepEqual(checkHostConfig(hc, HOST), []);
    assert.equal(hc.MemorySwap, 200 << 20);
    assert.equal(hc.NanoCpus, 0);
    assert.equal(hc.PidsLimit, null);
    assert.equal(hc.CpusetCpus, '');
  });
  it('validates security options', () => {
    assert.deepEqual(parseSecurityOpts(['no-new-privileges']), { noNewPrivileges: true, seccomp: 'default' });
    assert.equal(parseSecurityOpts(['no-new-privileges:false', 'seccomp=unconfined']).seccomp, 'unconfined');
    invalid(() => parseSecurityOpts(['bogus']), 'invalid --security-opt 1: "bogus"');
    invalid(() => parseSecurityOpts(['foo=bar']), 'invalid --security-opt 2: "foo=bar"');
    invalid(() => parseSecurityOpts(['seccomp={']), /Decoding seccomp profile failed/);
  });
});

describe('seccomp profile', () => {
  const names = (caps: string[]) => toOciSeccomp(DEFAULT_PROFILE, caps, { machine: 'amd64' }).syscalls.flatMap((s) => s.names);
  it('is an allow-list that fails the rest with EPERM', () => {
    const p = toOciSeccomp(DEFAULT_PROFILE, [], { machine: 'amd64' });
    assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(p.defaultErrnoRet, 1);
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    for (const n of ['read', 'write', 'execve', 'clone', 'arch_prctl', 'socket']) assert.ok(names([]).includes(n), n);
    for (const n of ['mount', 'unshare', 'setns', 'reboot', 'keyctl', 'add_key', 'kexec_load', 'init_module']) assert.ok(!names([]).includes(n), n);
  });
  it('allows namespace and mount syscalls with CAP_SYS_ADMIN, and clone only without namespace flags otherwise', () => {
    assert.ok(names(['CAP_SYS_ADMIN']).includes('mount'));
    assert.ok(names(['CAP_SYS_ADMIN']).includes('unshare'));
    const clone = toOciSeccomp(DEFAULT_PROFILE, [], { machine: 'amd64' }).syscalls.find((s) => s.names.includes('clone') && s.args);
    assert.equal(clone?.args?.[0]?.op, 'SCMP_CMP_MASKED_EQ');
    assert.ok(!toOciSeccomp(DEFAULT_PROFILE, ['CAP_SYS_ADMIN'], { machine: 'amd64' }).syscalls.some((s) => s.names.includes('clone') && s.args));
    const clone3 = toOciSeccomp(DEFAULT_PROFILE, [], { machine: 'amd64' }).syscalls.find((s) => s.names.includes('clone3'));
    assert.deepEqual([clone3?.action, clone3?.errnoRet], ['SCMP_ACT_ERRNO', 38]);
  });
  it('leaves x32 out on a kernel without that ABI, and only beside x86-64', () => {
    const withoutX32 = toOciSeccomp(DEFAULT_PROFILE, [], { machine: 'amd64', withoutX32: true });
    assert.deepEqual(withoutX32.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    // The rules are the same ones: only the architecture list differs.
    assert.deepEqual(withoutX32.syscalls, toOciSeccomp(DEFAULT_PROFILE, [], { machine: 'amd64' }).syscalls);
    const own = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X32'], syscalls: [] };
    assert.deepEqual(toOciSeccomp(own, [], { machine: 'amd64', withoutX32: true }).architectures, ['SCMP_ARCH_X32']);
    const listed = { ...own, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'] };
    assert.deepEqual(toOciSeccomp(listed, [], { machine: 'amd64', withoutX32: true }).architectures, ['SCMP_ARCH_X86_64']);
    assert.deepEqual(toOciSeccomp(listed, [], { machine: 'amd64' }).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32']);
  });
});

describe('privileged capabilities', () => {
  it("are the daemon's own bounding set", () => {
    const caps = readBoundingCapabilities('Name:\tx\nCapBnd:\t000001fffeffffff\n')!;
    assert.equal(caps.length, 40);
    assert.ok(!caps.includes('CAP_SYS_RESOURCE'));
    assert.ok(caps.includes('CAP_SYS_ADMIN') && caps.includes('CAP_CHECKPOINT_RESTORE'));
  });
});

describe('restart policies', () => {
  const exit = (exitCode: number, restartCount = 0, stoppedByUser = false) => ({ exitCode, restartCount, stoppedByUser });
  it('decides like dockerd', () => {
    assert.equal(shouldRestartAfterExit({ Name: 'no', MaximumRetryCount: 0 }, exit(1)), false);
    assert.equal(shouldRestartAfterExit({ Name: 'always', MaximumRetryCount: 0 }, exit(0)), true);
    assert.equal(shouldRestartAfterExit({ Name: 'always', MaximumRetryCount: 0 }, exit(0, 0, true)), false);
    assert.equal(shouldRestartAfterExit({ Name: 'unless-stopped', MaximumRetryCount: 0 }, exit(3)), true);
    assert.equal(shouldRestartAfterExit({ Name: 'on-failure', MaximumRetryCount: 0 }, exit(0)), false);
    assert.equal(shouldRestartAfterExit({ Name: 'on-failure', MaximumRetryCount: 2 }, exit(1, 1)), true);
    assert.equal(shouldRestartAfterExit({ Name: 'on-failure', MaximumRetryCount: 2 }, exit(1, 2)), false);
  });
  it('brings always back after a daemon restart even if stopped, unless-stopped only if not', () => {
    const rec = (name: 'always' | 'unless-stopped', stoppedByUser: boolean) =>
      ({ hostConfig: { RestartPolicy: { Name: name, MaximumRetryCount: 0 } }, state: { ...initialState(), status: 'exited', startedAt: '2024-01-01T00:00:00Z', stoppedByUser }, restartCount: 0 }) as unknown as ContainerRecord;
    assert.equal(shouldRestartOnDaemonStart(rec('always', true)), true);
    assert.equal(shouldRestartOnDaemonStart(rec('unless-stopped', true)), false);
    assert.equal(shouldRestartOnDaemonStart(rec('unless-stopped', false)), true);
  });
  it('backs off 100 ms doubling, reset after 10 s of running', () => {
    assert.equal(nextBackoff(0, 5), 100);
    assert.equal(nextBackoff(100, 5), 200);
    assert.equal(nextBackoff(400, 5), 800);
    assert.equal(nextBackoff(800, 10_000), 100);
    assert.equal(nextBackoff(40_000, 5), 60_000);
  });
});

describe('update', () => {
  const record = (hostConfig: Record<string, unknown>) => ({ id: 'c1', hostConfig, state: initialState() }) as unknown as ContainerRecord;
  it('merges new limits, applies them first, and refuses memory above the set swap', async () => {
    const r = record({ Memory: 100 << 20, MemorySwap: 200 << 20 });
    const applied: Array<Record<string, unknown>> = [];
    await updateContainer(r, { Memory: 150 << 20, PidsLimit: 30 }, { host: HOST, apply: async (res) => void applied.push(res) });
    assert.equal(r.hostConfig.Memory, 150 << 20);
    assert.deepEqual(applied[0], { memory: { limit: 150 << 20, swap: 200 << 20 }, pids: { limit: 30 } });
    await assert.rejects(updateContainer(r, { Memory: 300 << 20 }, { host: HOST }), /Memory limit should be smaller than already set memoryswap limit/);
  });
  it('leaves the record alone when the runtime refuses', async () => {
    const r = record({ Memory: 100 << 20, MemorySwap: -1 });
    await assert.rejects(
      updateContainer(r, { Memory: 50 << 20 }, { host: HOST, apply: async () => Promise.reject(new Error('device busy')) }),
      /Cannot update container c1: .*device busy/,
    );
    assert.equal(r.hostConfig.Memory, 100 << 20);
  });
});

describe('healthchecks', () => {
  const plan = probePlan({ Test: ['CMD-SHELL', 'test -f /ok'], Interval: 1e9, Retries: 2 })!;
  const entry = (code: number) => ({ Start: '', End: '', ExitCode: code, Output: '' });
  it('plans CMD and CMD-SHELL checks, none for NONE', () => {
    assert.deepEqual(plan.argv, ['/bin/sh', '-c', 'test -f /ok']);
    assert.equal(plan.intervalMs, 1000);
    assert.equal(plan.timeoutMs, 30_000);
    assert.deepEqual(probePlan({ Test: ['CMD', 'true'] })!.argv, ['true']);
    assert.equal(probePlan({ Test: ['NONE'] }), undefined);
  });
  it('goes healthy on success and unhealthy after Retries failures', () => {
    let s: HealthState = { Status: 'starting', FailingStreak: 0, Log: [] };
    s = applyResult(s, plan, entry(1), false);
    assert.deepEqual([s.Status, s.FailingStreak], ['starting', 1]);
    s = applyResult(s, plan, entry(1), false);
    assert.deepEqual([s.Status, s.FailingStreak], ['unhealthy', 2]);
    s = applyResult(s, plan, entry(0), false);
    assert.deepEqual([s.Status, s.FailingStreak], ['healthy', 0]);
    for (let i = 0; i < 7; i++) s = applyResult(s, plan, entry(0), false);
    assert.equal(s.Log.length, 5);
  });
  it("doesn't count failures during the start period", () => {
    const s = applyResult({ Status: 'starting', FailingStreak: 0, Log: [] }, plan, entry(1), true);
    assert.deepEqual([s.Status, s.FailingStreak], ['starting', 0]);
  });
});

describe('top and stats', () => {
  it("keeps the container's rows of ps output, the command with its spaces", () => {
    const out = 'UID  PID  PPID  CMD\nroot 10   1     sleep 100\nroot 11   10    sh -c echo hi\nroot 12   1     other\n';
    assert.deepEqual(filterPsOutput(out, new Set([10, 11])), {
      Titles: ['UID', 'PID', 'PPID', 'CMD'],
      Processes: [
        ['root', '10', '1', 'sleep 100'],
        ['root', '11', '10', 'sh -c echo hi'],
      ],
    });
    invalid(() => filterPsOutput('USER COMMAND\n', new Set()), "Couldn't find PID field in ps output");
    assert.deepEqual(psArguments(null), ['-ef']);
    assert.deepEqual(psArguments('aux'), ['aux']);
  });
  it('computes CPU % and memory as the docker CLI does', () => {
    const f = computeFigures({
      cpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, system_cpu_usage: 20_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 10_000_000_000 },
      memory_stats: { usage: 10_000, limit: 100_000, stats: { total_inactive_file: 2_000 } },
      blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 5 }, { op: 'Write', value: 7 }, { op: 'Total', value: 12 }] },
      pids_stats: { current: 3 },
    });
    assert.equal(f.cpuPercent, 20);
    assert.equal(f.memory, 8_000);
    assert.equal(f.memoryPercent, 8);
    assert.deepEqual([f.blockRead, f.blockWrite, f.pids], [5, 7, 3]);
  });
});
