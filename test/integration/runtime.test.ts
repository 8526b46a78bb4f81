/**
 * The runc driver against the real runc and conmon, on a plain-directory busybox rootfs.
 * Every container, monitor, cgroup and temp dir made here is removed in after(), pass or fail.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuncDriver } from '../../src/runtime/driver.js';
import { buildSpec } from '../../src/runtime/spec.js';
import { resolveUser } from '../../src/runtime/user.js';
import { RuntimeStartError } from '../../src/runtime/errors.js';
import { readHostRlimits } from '../../src/runtime/rlimits.js';
import { isBerthError } from '../../src/util/errors.js';
import type { SpecInput } from '../../src/runtime/types.js';

const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'echo', 'true', 'sleep', 'cat', 'id', 'tty'];
const canRun = process.getuid?.() === 0 && existsSync(BUSYBOX) && existsSync('/usr/sbin/runc') && existsSync('/usr/bin/conmon');

const tmp = mkdtempSync(join(tmpdir(), 'berth-rt-'));
const rootfs = join(tmp, 'rootfs');
const cgroupParent = `berth-test-${randomBytes(4).toString('hex')}`;
const driver = new RuncDriver({ execRoot: join(tmp, 'exec') });
const created: string[] = [];

function newId(): string {
  const id = randomBytes(32).toString('hex');
  created.push(id);
  return id;
}

function buildRootfs(): void {
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n');
}

async function specFor(args: string[], extra: Partial<SpecInput> = {}, userSpec = ''): Promise<SpecInput> {
  return {
    rootfs,
    readonlyRootfs: false,
    args,
    env: [],
    cwd: '/',
    user: await resolveUser(rootfs, userSpec),
    hostname: 'berthtest',
    tty: false,
    mounts: [],
    network: 'new',
    cgroupsPath: `/${cgroupParent}/${randomBytes(6).toString('hex')}`,
    ...extra,
  };
}

interface Launched {
  id: string;
  pid: number;
  monitorPid: number;
  logPath: string;
}

async function createContainer(args: string[], extra: Partial<SpecInput> = {}, userSpec = ''): Promise<Launched> {
  const id = newId();
  const input = await specFor(args, extra, userSpec);
  const bundleDir = join(tmp, 'bundles', id);
  const logPath = join(tmp, 'logs', `${id}.log`);
  const { pid, monitorPid } = await driver.create({ id, bundleDir, spec: buildSpec(input), logPath, tty: input.tty, openStdin: false });
  return { id, pid, monitorPid, logPath };
}

/** Resolves when the driver reports this container's exit (or rejects after timeoutMs). */
function exitOf(id: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no exit reported for ${id} within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = driver.onExit((exited) => {
      if (exited !== id) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
  });
}

function conmonsFor(id: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if ((argv[0] ?? '').endsWith('conmon') && argv.includes(id)) pids.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}

function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

describe('runc driver (integration)', { skip: canRun ? false : 'needs root, /bin/busybox, runc and conmon' }, () => {
  before(buildRootfs);

  after(async () => {
    for (const id of created) {
      await driver.delete(id, true).catch(() => undefined);
      for (const pid of conmonsFor(id)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const controller of readdirSync('/sys/fs/cgroup')) {
      const dir = join('/sys/fs/cgroup', controller, cgroupParent);
      if (!existsSync(dir)) continue;
      for (const child of readdirSync(dir, { withFileTypes: true })) {
        if (child.isDirectory()) rmdirSync(join(dir, child.name));
      }
      rmdirSync(dir);
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs a command, logs its output in k8s-file format and records its exit code', async () => {
    const c = await createContainer(['sh', '-c', 'echo hello; echo oops >&2; exit 3']);
    assert.ok(c.pid > 0 && c.monitorPid > 0);
    assert.equal((await driver.state(c.id))?.status, 'created');
    const exited = exitOf(c.id);
    await driver.start(c.id);
    await exited;
    const status = await driver.exitStatus(c.id);
    assert.equal(status?.exitCode, 3);
    assert.equal(status?.oomKilled, false);
    assert.ok(status && Math.abs(status.finishedAt.getTime() - Date.now()) < 60_000);
    const log = readFileSync(c.logPath, 'utf8');
    assert.match(log, /^\S+ stdout F hello$/m);
    assert.match(log, /^\S+ stderr F oops$/m);
    assert.equal((await driver.state(c.id))?.status, 'stopped');

    await driver.delete(c.id, false);
    assert.equal(await driver.state(c.id), undefined);
    assert.equal(await driver.exitStatus(c.id), undefined);
    assert.equal(existsSync(join(tmp, 'exec', 'runc', c.id)), false);
    assert.equal(existsSync(join(tmp, 'bundles', c.id)), false, 'the bundle goes with the runtime state');
    assert.deepEqual(conmonsFor(c.id), []);
  });

  it('kills a running container with SIGKILL and records 137', async () => {
    const c = await createContainer(['sleep', '1000']);
    await driver.start(c.id);
    const state = await driver.state(c.id);
    assert.deepEqual(state, { status: 'running', pid: c.pid });
    await assert.rejects(driver.kill(c.id, 'NOPE'), (err) => isBerthError(err, 'invalidParameter') && err.message === 'Invalid signal: NOPE');
    const exited = exitOf(c.id);
    await driver.kill(c.id, 'SIGKILL');
    await exited;
    assert.equal((await driver.exitStatus(c.id))?.exitCode, 137);
    await driver.delete(c.id, false);
    assert.equal(await driver.state(c.id), undefined);
    assert.deepEqual(conmonsFor(c.id), []);
  });

  it('pauses and resumes, and force-deletes a running container without leaving its monitor', async () => {
    const c = await createContainer(['sleep', '1000']);
    await driver.start(c.id);
    await driver.pause(c.id);
    assert.equal((await driver.state(c.id))?.status, 'paused');
    await driver.resume(c.id);
    assert.equal((await driver.state(c.id))?.status, 'running');
    await assert.rejects(driver.delete(c.id, false), (err) => isBerthError(err, 'conflict'));
    await driver.delete(c.id, true);
    assert.equal(await driver.state(c.id), undefined);
    assert.equal(pidAlive(c.pid), false);
    assert.deepEqual(conmonsFor(c.id), []);
    assert.equal(await driver.exitStatus(c.id), undefined);
  });

  it('holds an open stdin for interactive containers so cat keeps waiting', async () => {
    const id = newId();
    const input = await specFor(['cat']);
    await driver.create({ id, bundleDir: join(tmp, 'bundles', id), spec: buildSpec(input), logPath: join(tmp, 'logs', `${id}.log`), tty: false, openStdin: true });
    await driver.start(id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await driver.state(id))?.status, 'running');
    assert.ok(existsSync(driver.attachSocketPath(id)), 'conmon serves the attach socket');
    await driver.delete(id, true);
    assert.deepEqual(conmonsFor(id), []);
  });

  it('fails create with exit code 127 for a missing command and 126 for a non-executable one', async () => {
    writeFileSync(join(rootfs, 'bin/not-executable'), '#!/bin/sh\necho no\n', { mode: 0o644 });
    const missing = newId();
    const input = await specFor(['no-such-command']);
    await assert.rejects(
      driver.create({ id: missing, bundleDir: join(tmp, 'bundles', missing), spec: buildSpec(input), logPath: join(tmp, 'logs', missing), tty: false, openStdin: false }),
      (err) => err instanceof RuntimeStartError && err.exitCode === 127 && /executable file not found in \$PATH/.test(err.message) && err.kind === 'invalidParameter',
    );
    assert.equal(await driver.state(missing), undefined);
    assert.deepEqual(conmonsFor(missing), []);

    const denied = newId();
    const deniedInput = await specFor(['/bin/not-executable']);
    await assert.rejects(
      driver.create({ id: denied, bundleDir: join(tmp, 'bundles', denied), spec: buildSpec(deniedInput), logPath: join(tmp, 'logs', denied), tty: false, openStdin: false }),
      (err) => err instanceof RuntimeStartError && err.exitCode === 126 && /permission denied/.test(err.message),
    );
    assert.equal(await driver.state(denied), undefined);
  });

  it('gives a tty container a terminal and TERM=xterm', async () => {
    const c = await createContainer(['sh', '-c', 'tty; echo "TERM=$TERM"'], { tty: true });
    const exited = exitOf(c.id);
    await driver.start(c.id);
    await exited;
    const log = readFileSync(c.logPath, 'utf8');
    assert.match(log, /stdout F \/dev\/pts\/0/);
    assert.match(log, /stdout F TERM=xterm/);
    assert.equal((await driver.exitStatus(c.id))?.exitCode, 0);
    await driver.delete(c.id, false);
  });

  it('runs as the resolved user with supplementary groups, HOME and the clamped nofile limit', async () => {
    const c = await createContainer(['sh', '-c', 'id; echo "HOME=$HOME"; ulimit -n'], {}, 'app');
    const exited = exitOf(c.id);
    await driver.start(c.id);
    await exited;
    const log = readFileSync(c.logPath, 'utf8');
    assert.match(log, /stdout F uid=1000\(app\) gid=1000\(app\) groups=2000\(extra\)$/m);
    assert.match(log, /stdout F HOME=\/home\/app/);
    const hard = readHostRlimits()['RLIMIT_NOFILE']!.hard;
    assert.match(log, new RegExp(`stdout F ${Math.min(1048576, hard)}$`, 'm'));
    await driver.delete(c.id, false);
  });

  it('runs with the host network on a read-only rootfs, with /proc/kcore masked', async () => {
    const script = 'echo > /written || echo readonly; [ -s /proc/kcore ] && echo kcore-visible; cat /proc/sys/kernel/hostname; exit 42';
    const c = await createContainer(['sh', '-c', script], { network: 'host', readonlyRootfs: true });
    const exited = exitOf(c.id);
    await driver.start(c.id);
    await exited;
    const log = readFileSync(c.logPath, 'utf8');
    assert.match(log, /stdout F readonly$/m);
    assert.doesNotMatch(log, /kcore-visible/);
    assert.match(log, /stdout F berthtest$/m);
    assert.equal((await driver.exitStatus(c.id))?.exitCode, 42);
    assert.equal(existsSync(join(rootfs, 'written')), false);
    await driver.delete(c.id, false);
  });

  it('keeps the container running when the process that launched it is killed with SIGKILL', async () => {
    const id = newId();
    const input = await specFor(['sleep', '1000']);
    const driverModule = fileURLToPath(new URL('../../src/runtime/driver.js', import.meta.url));
    const script = join(tmp, 'launcher.mjs');
    writeFileSync(
      script,
      `import { RuncDriver } from ${JSON.stringify(driverModule)};
const [execRoot, id, bundleDir, logPath, spec] = process.argv.slice(2);
const driver = new RuncDriver({ execRoot });
const created = await driver.create({ id, bundleDir, spec: JSON.parse(spec), logPath, tty: false, openStdin: false });
await driver.start(id);
process.stdout.write(JSON.stringify(created) + '\\n');
setInterval(() => {}, 1000);
`,
    );
    const launcher = spawn(process.execPath, [script, join(tmp, 'exec'), id, join(tmp, 'bundles', id), join(tmp, 'logs', `${id}.log`), JSON.stringify(buildSpec(input))], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      launcher.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.trim());
      });
      launcher.on('exit', (code) => reject(new Error(`launcher exited early with ${code}`)));
    });
    const { pid, monitorPid } = JSON.parse(line) as { pid: number; monitorPid: number };
    const gone = new Promise((resolve) => launcher.on('exit', resolve));
    launcher.kill('SIGKILL');
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(await driver.state(id), { status: 'running', pid });
    assert.ok(pidAlive(monitorPid), 'conmon survived its launcher');

    // A later driver (the restarted daemon) still hears about the exit through the exit dir.
    const exited = exitOf(id);
    await driver.kill(id, 9);
    await exited;
    assert.equal((await driver.exitStatus(id))?.exitCode, 137);
    await driver.delete(id, false);
    assert.deepEqual(conmonsFor(id), []);
  });
});
