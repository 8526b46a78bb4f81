import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, OCI_VERSION } from '../../src/runtime/spec.js';
import { DEFAULT_CAPABILITIES, ALL_CAPABILITIES } from '../../src/runtime/capabilities.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../src/runtime/defaults.js';
import { replaceOrAppendEnv } from '../../src/runtime/env.js';
import { isBerthError } from '../../src/util/errors.js';
import type { SpecInput } from '../../src/runtime/types.js';

const host = { nofileHardLimit: 20000 };

function input(overrides: Partial<SpecInput> = {}): SpecInput {
  return {
    rootfs: '/var/lib/berth/rootfs',
    readonlyRootfs: false,
    args: ['sh', '-c', 'echo hi'],
    env: [],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
    hostname: 'abc123',
    tty: false,
    mounts: [],
    network: 'new',
    cgroupsPath: '/berth/abc123',
    ...overrides,
  };
}

describe('buildSpec', () => {
  it('is deterministic and carries the basics through', () => {
    const a = buildSpec(input(), host);
    assert.deepEqual(a, buildSpec(input(), host));
    assert.equal(a.ociVersion, OCI_VERSION);
    assert.equal(a.ociVersion, '1.0.2');
    assert.deepEqual(a.root, { path: '/var/lib/berth/rootfs', readonly: false });
    assert.equal(a.hostname, 'abc123');
    assert.equal(a.domainname, undefined);
    assert.deepEqual(a.process.args, ['sh', '-c', 'echo hi']);
    assert.equal(a.process.cwd, '/');
    assert.equal(a.process.terminal, false);
    assert.equal(a.process.oomScoreAdj, 0);
    assert.equal(a.process.noNewPrivileges, false);
    assert.equal(a.linux.cgroupsPath, '/berth/abc123');
    assert.equal(buildSpec(input({ readonlyRootfs: true, domainname: 'example.org' }), host).root.readonly, true);
    assert.equal(buildSpec(input({ domainname: 'example.org' }), host).domainname, 'example.org');
  });

  it('uses docker namespaces and handles host and joined networks', () => {
    assert.deepEqual(buildSpec(input(), host).linux.namespaces, [
      { type: 'mount' },
      { type: 'network' },
      { type: 'uts' },
      { type: 'pid' },
      { type: 'ipc' },
    ]);
    const hostNet = buildSpec(input({ network: 'host' }), host).linux.namespaces.map((n) => n.type);
    assert.deepEqual(hostNet, ['mount', 'uts', 'pid', 'ipc']);
    const joined = buildSpec(input({ network: { path: '/run/netns/x' } }), host).linux.namespaces;
    assert.deepEqual(joined[1], { type: 'network', path: '/run/netns/x' });
  });

  it("gives docker's default capabilities and no inheritable set", () => {
    const caps = buildSpec(input(), host).process.capabilities;
    assert.deepEqual(caps.bounding, DEFAULT_CAPABILITIES);
    assert.deepEqual(caps.effective, DEFAULT_CAPABILITIES);
    assert.deepEqual(caps.permitted, DEFAULT_CAPABILITIES);
    assert.equal(caps.inheritable, undefined);
    assert.equal(caps.ambient, undefined);
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
  });

  it('applies cap-add and cap-drop in any spelling', () => {
    const caps = buildSpec(input({ capAdd: ['net_admin', 'CAP_SYS_TIME'], capDrop: ['mknod', 'CAP_NET_RAW'] }), host).process.capabilities.bounding;
    assert.ok(caps.includes('CAP_NET_ADMIN'));
    assert.ok(caps.includes('CAP_SYS_TIME'));
    assert.ok(!caps.includes('CAP_MKNOD'));
    assert.ok(!caps.includes('CAP_NET_RAW'));
    assert.equal(caps.length, 14);
    // Adding a default capability again doesn't duplicate it.
    assert.equal(buildSpec(input({ capAdd: ['CHOWN'] }), host).process.capabilities.bounding.filter((c) => c === 'CAP_CHOWN').length, 1);
  });

  it('handles ALL in cap-drop and cap-add', () => {
    const dropAll = buildSpec(input({ capDrop: ['ALL'], capAdd: ['NET_BIND_SERVICE'] }), host).process.capabilities;
    assert.deepEqual(dropAll.bounding, ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(buildSpec(input({ capDrop: ['all'] }), host).process.capabilities.effective, []);
    const addAll = buildSpec(input({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }), host).process.capabilities.bounding;
    assert.equal(addAll.length, ALL_CAPABILITIES.length - 1);
    assert.ok(!addAll.includes('CAP_SYS_ADMIN'));
  });

  it('rejects unknown capabilities as invalid parameters', () => {
    assert.throws(
      () => buildSpec(input({ capAdd: ['FLY'] }), host),
      (err) => isBerthError(err, 'invalidParameter') && err.message === 'unknown capability: "CAP_FLY"',
    );
  });

  it('makes privileged containers all-powerful: every cap, no masks, all devices, writable /sys', () => {
    const spec = buildSpec(input({ privileged: true, capDrop: ['ALL'] }), host);
    assert.deepEqual(spec.process.capabilities.bounding, ALL_CAPABILITIES);
    assert.deepEqual(spec.linux.maskedPaths, []);
    assert.deepEqual(spec.linux.readonlyPaths, []);
    assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
    const sys = spec.mounts.find((m) => m.destination === '/sys')!;
    assert.ok(sys.options.includes('rw') && !sys.options.includes('ro'));
  });

  it("mounts docker's default filesystems with docker's options", () => {
    const mounts = buildSpec(input(), host).mounts;
    assert.deepEqual(
      mounts.map((m) => `${m.destination} ${m.type}`),
      ['/proc proc', '/dev tmpfs', '/dev/pts devpts', '/sys sysfs', '/sys/fs/cgroup cgroup', '/dev/mqueue mqueue', '/dev/shm tmpfs'],
    );
    const byDest = new Map(mounts.map((m) => [m.destination, m.options]));
    assert.deepEqual(byDest.get('/dev'), ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
    assert.deepEqual(byDest.get('/dev/pts'), ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']);
    assert.deepEqual(byDest.get('/sys'), ['nosuid', 'noexec', 'nodev', 'ro']);
    assert.ok(byDest.get('/sys/fs/cgroup')!.includes('ro'));
    assert.deepEqual(byDest.get('/dev/shm'), ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${64 * 1024 * 1024}`]);
    const shm = buildSpec(input({ shmSize: 1 << 20 }), host).mounts.find((m) => m.destination === '/dev/shm')!;
    assert.ok(shm.options.includes('size=1048576'));
  });

  it('lets configured mounts replace defaults and orders them parents first', () => {
    const mounts = buildSpec(
      input({
        mounts: [
          { destination: '/data/inner', type: 'bind', source: '/h/inner', options: ['rbind'] },
          { destination: '/data', type: 'bind', source: '/h/data', options: ['rbind'] },
          { destination: '/dev/shm', type: 'bind', source: '/h/shm', options: ['rbind'] },
          { destination: '/etc/hosts', type: 'bind', source: '/h/hosts', options: ['rbind', 'ro'] },
        ],
      }),
      host,
    ).mounts;
    const dests = mounts.map((m) => m.destination);
    assert.equal(dests.filter((d) => d === '/dev/shm').length, 1);
    assert.equal(mounts.find((m) => m.destination === '/dev/shm')!.source, '/h/shm');
    assert.ok(dests.indexOf('/data') < dests.indexOf('/data/inner'));
    const devReplaced = buildSpec(input({ mounts: [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }] }), host).mounts;
    assert.ok(!devReplaced.some((m) => m.destination.startsWith('/dev/')));
  });

  it("masks and read-only-mounts docker's /proc and /sys paths", () => {
    const linux = buildSpec(input(), host).linux;
    assert.deepEqual(linux.maskedPaths, DEFAULT_MASKED_PATHS);
    assert.ok(linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(linux.maskedPaths.includes('/sys/firmware'));
    assert.deepEqual(linux.readonlyPaths, ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
    assert.deepEqual(linux.readonlyPaths, DEFAULT_READONLY_PATHS);
  });

  it('denies all devices, then allows the standard nodes, and keeps configured resources', () => {
    const resources = buildSpec(
      input({ resources: { memory: { limit: 1 << 26 }, devices: [{ allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }] } }),
      host,
    ).linux.resources;
    assert.deepEqual(resources['memory'], { limit: 1 << 26 });
    const devices = resources.devices;
    assert.deepEqual(devices[0], { allow: false, access: 'rwm' });
    const allowed = devices.filter((d) => d.allow && d.type === 'c' && d.minor !== undefined).map((d) => `${d.major}:${d.minor}`);
    for (const node of ['1:3', '1:5', '1:7', '1:8', '1:9', '5:0', '5:1', '5:2', '10:200']) assert.ok(allowed.includes(node), node);
    assert.ok(devices.some((d) => d.allow && d.type === 'c' && d.major === 136 && d.minor === undefined));
  });

  it('fills PATH, HOSTNAME and HOME, and TERM only with a tty', () => {
    const env = buildSpec(input({ env: ['FOO=bar'] }), host).process.env;
    assert.deepEqual(env, [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'HOSTNAME=abc123',
      'FOO=bar',
      'HOME=/root',
    ]);
    const tty = buildSpec(input({ tty: true }), host);
    assert.equal(tty.process.terminal, true);
    assert.ok(tty.process.env.includes('TERM=xterm'));
    const own = buildSpec(input({ tty: true, env: ['PATH=/opt/bin', 'TERM=dumb', 'HOME=/srv'] }), host).process.env;
    assert.deepEqual(own, ['PATH=/opt/bin', 'HOSTNAME=abc123', 'TERM=dumb', 'HOME=/srv']);
  });

  it('takes the user from the resolved user', () => {
    const spec = buildSpec(input({ user: { uid: 1000, gid: 100, additionalGids: [10, 20], home: '/home/u' } }), host);
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 100, additionalGids: [10, 20] });
    assert.ok(spec.process.env.includes('HOME=/home/u'));
  });

  it('clamps the default nofile limit to the host hard limit and passes given rlimits through', () => {
    assert.deepEqual(buildSpec(input(), host).process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 20000, hard: 20000 }]);
    assert.deepEqual(buildSpec(input(), { nofileHardLimit: 4_000_000 }).process.rlimits, [{ type: 'RLIMIT_NOFILE', soft: 1048576, hard: 1048576 }]);
    const given = buildSpec(input({ rlimits: [{ type: 'nofile', soft: 100, hard: 200 }, { type: 'RLIMIT_NPROC', soft: 50, hard: 50 }] }), host).process.rlimits;
    assert.deepEqual(given, [
      { type: 'RLIMIT_NOFILE', soft: 100, hard: 200 },
      { type: 'RLIMIT_NPROC', soft: 50, hard: 50 },
    ]);
  });

  it("filters x32 syscalls only where the kernel has that ABI, and skips seccomp when unconfined or privileged", () => {
    const arches = (facts: typeof host & { x32Syscalls?: boolean }, extra: Partial<SpecInput> = {}) => buildSpec(input(extra), facts).linux.seccomp?.architectures;
    if (process.arch === 'x64') {
      assert.deepEqual(arches({ ...host, x32Syscalls: false }), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
      assert.deepEqual(arches({ ...host, x32Syscalls: true }), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
      // Unknown (no addon): docker's list as is.
      assert.deepEqual(arches(host), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    }
    assert.equal(arches(host, { seccomp: 'unconfined' }), undefined);
    assert.equal(arches(host, { privileged: true }), undefined);
  });
  it('passes noNewPrivileges and rejects relative paths and empty commands', () => {
    assert.equal(buildSpec(input({ noNewPrivileges: true }), host).process.noNewPrivileges, true);
    assert.throws(() => buildSpec(input({ cwd: 'work' }), host), (err) => isBerthError(err, 'invalidParameter'));
    assert.throws(() => buildSpec(input({ args: [] }), host), (err) => isBerthError(err, 'invalidParameter'));
  });
});

describe('replaceOrAppendEnv', () => {
  it('replaces in place, appends new keys and removes bare keys', () => {
    assert.deepEqual(replaceOrAppendEnv(['A=1', 'B=2', 'C=3'], ['B=20', 'D=4', 'C']), ['A=1', 'B=20', 'D=4']);
  });
});
