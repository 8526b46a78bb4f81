/**
 * Resource limits and privileges, provoked for real: an OOM kill, a fork bomb stopped by the
 * pids limit, the CFS quota in the container's cgroup, ulimits seen from inside, a read-only
 * rootfs, dropped capabilities, the default seccomp profile, dockerd's validation errors, and
 * `update` on a running container (berth CLI, API and the real docker CLI).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };

const cgroupFile = (controller: string, id: string, file: string): string => readFileSync(`/sys/fs/cgroup/${controller}/berth/${id}/${file}`, 'utf8').trim();

describe('resource limits', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const inspect = (id: string) => d.inspectContainer(id);

  it('OOM-kills a container over its memory limit: exit 137, State.OOMKilled', T, async () => {
    const r = await d.berth(['run', '--name', 'oom', '-m', '8m', '--memory-swap', '8m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
    assert.equal(r.code, 137, describeResult('run -m 8m', r));
    const info = await inspect('oom');
    assert.equal(info.State.OOMKilled, true);
    assert.equal(info.State.ExitCode, 137);
    assert.equal(info.HostConfig.Memory, 8 * 1024 * 1024);
    assert.equal(info.HostConfig.MemorySwap, 8 * 1024 * 1024);
    expectOk('rm', await d.berth(['rm', 'oom']));
  });

  it('stops a fork bomb at the pids limit', T, async () => {
    // The subshell forks sleepers until fork fails; the outer shell then reads pids.current with
    // builtins only (no fork left) and must still be alive to say so.
    const script = '(while true; do sleep 100 & done); read n < /sys/fs/cgroup/pids/pids.current; read max < /sys/fs/cgroup/pids/pids.max; echo current=$n max=$max; echo survived';
    const r = await d.berth(['run', '--rm', '--pids-limit', '10', 'busybox', 'sh', '-c', script]);
    assert.equal(r.code, 0, describeResult('run --pids-limit 10', r));
    assert.match(r.stderr, /can't fork: Resource temporarily unavailable/);
    const m = /current=(\d+) max=(\d+)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[2], '10');
    assert.ok(Number(m[1]) <= 10 && Number(m[1]) >= 8, `pids.current ${m[1]}`);
    assert.match(r.stdout, /survived/);
  });

  it('sets the CFS quota for --cpus, shares, cpuset and reservation in the cgroup; inspect echoes them', T, async () => {
    const id = expectOk(
      'run -d',
      await d.berth(['run', '-d', '--cpus', '0.5', '--cpu-shares', '512', '--cpuset-cpus', '0', '--memory-reservation', '32m', '-m', '64m', 'busybox', 'sleep', '60']),
    ).trim();
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_period_us'), '100000');
    assert.equal(cgroupFile('cpu', id, 'cpu.shares'), '512');
    assert.equal(cgroupFile('cpuset', id, 'cpuset.cpus'), '0');
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(64 << 20));
    assert.equal(cgroupFile('memory', id, 'memory.soft_limit_in_bytes'), String(32 << 20));
    const info = await inspect(id);
    assert.equal(info.HostConfig.NanoCpus, 500_000_000);
    assert.equal(info.HostConfig.CpuShares, 512);
    assert.equal(info.HostConfig.CpusetCpus, '0');
    assert.equal(info.HostConfig.MemorySwap, 128 << 20);

    // update: the running container's cgroup changes at once, and inspect shows the new values.
    expectOk('update', await d.berth(['update', '-m', '96m', '--pids-limit', '40', '--cpus', '1', id]));
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(96 << 20));
    assert.equal(cgroupFile('pids', id, 'pids.max'), '40');
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_quota_us'), '100000');
    const updated = await inspect(id);
    assert.equal(updated.HostConfig.Memory, 96 << 20);
    assert.equal(updated.HostConfig.PidsLimit, 40);

    // the same through the real docker CLI
    const dr = await d.docker(['update', '--memory', '100m', id]);
    assert.equal(dr.code, 0, describeResult('docker update', dr));
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(100 << 20));
    const bad = await d.berth(['update', '-m', '300m', id]);
    assert.equal(bad.code, 1, describeResult('update above swap', bad));
    assert.match(bad.stderr, /Memory limit should be smaller than already set memoryswap limit/);
    const none = await d.berth(['update', id]);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /you must provide one or more flags when using this command/);
    expectOk('rm -f', await d.berth(['rm', '-f', id]));
  });

  it('update changes only the limits it is given (berth and docker CLI); they survive stop/start', T, async () => {
    const id = expectOk('run -d', await d.berth(['run', '-d', '-m', '64m', '--cpus', '0.5', '--pids-limit', '50', 'busybox', 'sleep', '300'])).trim();
    // The docker CLI and berth send every field, unset ones as 0: those must stay as they were.
    expectOk('update -m', await d.berth(['update', '-m', '80m', id]));
    let info = await inspect(id);
    assert.equal(info.HostConfig.Memory, 80 << 20);
    assert.equal(info.HostConfig.NanoCpus, 500_000_000);
    assert.equal(info.HostConfig.PidsLimit, 50);
    assert.equal(info.HostConfig.MemorySwap, 128 << 20);
    const dr = await d.docker(['update', '--restart', 'no', id]);
    assert.equal(dr.code, 0, describeResult('docker update --restart no', dr));
    const dc = await d.docker(['update', '--cpu-shares', '256', id]);
    assert.equal(dc.code, 0, describeResult('docker update --cpu-shares', dc));
    info = await inspect(id);
    assert.equal(info.HostConfig.Memory, 80 << 20);
    assert.equal(info.HostConfig.NanoCpus, 500_000_000);
    assert.equal(info.HostConfig.PidsLimit, 50);
    assert.equal(info.HostConfig.CpuShares, 256);
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(80 << 20));
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile('pids', id, 'pids.max'), '50');

    // A stopped container starts with the recorded limits.
    expectOk('stop', await d.berth(['stop', '-t', '0', id]));
    expectOk('start', await d.berth(['start', id]));
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(80 << 20));
    assert.equal(cgroupFile('cpu', id, 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile('cpu', id, 'cpu.shares'), '256');
    assert.equal(cgroupFile('pids', id, 'pids.max'), '50');

    // --pids-limit -1 (or 0) lifts the limit, as dockerd's update does; the rest stays.
    const dp = await d.docker(['update', '--pids-limit', '-1', id]);
    assert.equal(dp.code, 0, describeResult('docker update --pids-limit -1', dp));
    assert.equal(cgroupFile('pids', id, 'pids.max'), 'max');
    info = await inspect(id);
    assert.equal(info.HostConfig.PidsLimit, 0);
    assert.equal(info.HostConfig.Memory, 80 << 20);
    expectOk('restart', await d.berth(['restart', '-t', '0', id]));
    assert.equal(cgroupFile('pids', id, 'pids.max'), 'max');
    assert.equal(cgroupFile('memory', id, 'memory.limit_in_bytes'), String(80 << 20));
    expectOk('rm -f', await d.berth(['rm', '-f', id]));
  });

  it('applies --ulimit inside and refuses limits above the host hard limit with 400', T, async () => {
    const r = await d.berth(['run', '--rm', '--ulimit', 'nofile=1024:2048', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn']);
    assert.equal(r.code, 0, describeResult('run --ulimit', r));
    assert.equal(r.stdout, '1024\n2048\n');
    const hostHard = readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+\S+\s+(\S+)/)![1]!;
    if (hostHard !== 'unlimited') {
      const over = Number(hostHard) + 1;
      const api = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: over }] } });
      assert.equal(api.status, 400, api.text);
      assert.match(api.text, new RegExp(`ulimit nofile: hard limit ${over} exceeds the daemon's own hard limit`));
    }
  });

  it("refuses what dockerd refuses, with its messages and the CLI's 125", T, async () => {
    const low = await d.berth(['run', '--rm', '-m', '4m', 'busybox', 'true']);
    assert.equal(low.code, 125, describeResult('run -m 4m', low));
    assert.match(low.stderr, /Error response from daemon: Minimum memory limit allowed is 6MB/);
    const both = await d.berth(['create', '--cpus', '0.5', '--cpu-quota', '50000', 'busybox', 'true']);
    assert.equal(both.code, 125);
    assert.match(both.stderr, /Conflicting options: Nano CPUs and CPU Quota cannot both be set/);
    const cpuset = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { CpusetCpus: '0-64' } });
    assert.equal(cpuset.status, 400);
    assert.match(cpuset.text, /Requested CPUs are not available - requested 0-64, available: /);
    const size = await d.berth(['run', '--rm', '-m', 'lots', 'busybox', 'true']);
    assert.equal(size.code, 125);
    assert.match(size.stderr, /invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'/);
    const dockerLow = await d.docker(['run', '--rm', '-m', '4m', 'busybox', 'true']);
    assert.equal(dockerLow.code, 125, describeResult('docker run -m 4m', dockerLow));
    assert.match(dockerLow.stderr, /Minimum memory limit allowed is 6MB/);
  });

  it('makes the rootfs read-only with --read-only', T, async () => {
    const r = await d.berth(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'touch /x']);
    assert.equal(r.code, 1, describeResult('run --read-only', r));
    assert.match(r.stderr, /Read-only file system/);
    const w = await d.berth(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'echo ok > /dev/shm/x && cat /dev/shm/x']);
    assert.equal(w.stdout, 'ok\n', describeResult('write to /dev/shm', w));
  });

  it('drops and adds capabilities', T, async () => {
    const dropped = await d.berth(['run', '--rm', '--cap-drop', 'CHOWN', 'busybox', 'sh', '-c', 'touch /f && chown 65534 /f']);
    assert.notEqual(dropped.code, 0, describeResult('chown without CAP_CHOWN', dropped));
    assert.match(dropped.stderr, /Operation not permitted/);
    const kept = await d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'touch /f && chown 65534 /f']);
    assert.equal(kept.code, 0, describeResult('chown with the default caps', kept));
    const caps = await d.berth(['run', '--rm', '--cap-add', 'NET_ADMIN', 'busybox', 'sh', '-c', 'grep CapEff /proc/self/status']);
    // CAP_NET_ADMIN is bit 12: 0x1000 must be set in the effective set.
    const eff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(caps.stdout)![1]}`);
    assert.equal(eff & 0x1000n, 0x1000n, caps.stdout);
  });

  it('filters syscalls with the default seccomp profile unless unconfined or privileged', T, async () => {
    // unshare(CLONE_NEWUSER) needs no capability: only seccomp stops it.
    const confined = await d.berth(['run', '--rm', 'busybox', 'unshare', '-U', 'true']);
    assert.notEqual(confined.code, 0, describeResult('unshare -U under the default profile', confined));
    assert.match(confined.stderr, /Operation not permitted/);
    const unconfined = await d.berth(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-U', 'true']);
    assert.equal(unconfined.code, 0, describeResult('unshare -U unconfined', unconfined));
    const status = await d.berth(['run', '--rm', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']);
    assert.match(status.stdout, /Seccomp:\s+2/);
    const privileged = await d.berth(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']);
    assert.match(privileged.stdout, /Seccomp:\s+0/);
    const nnp = await d.berth(['run', '--rm', '--security-opt', 'no-new-privileges', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']);
    assert.match(nnp.stdout, /NoNewPrivs:\s+1/);
    const bad = await d.berth(['run', '--rm', '--security-opt', 'nonsense', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid --security-opt 1: "nonsense"/);
  });
});
