import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSignal } from '../../src/runtime/signals.js';
import { classifyStartError, runtimeErrorMessage } from '../../src/runtime/start-error.js';
import { RuntimeStartError } from '../../src/runtime/errors.js';
import { parseProcLimits, normalizeRlimitType } from '../../src/runtime/rlimits.js';
import { conmonArgs, parseSyncMessage } from '../../src/runtime/conmon.js';
import { ExitWatcher, readExitStatus } from '../../src/runtime/exits.js';
import { isBerthError } from '../../src/util/errors.js';
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('parseSignal', () => {
  it('accepts names with and without SIG, any case, and numbers', () => {
    assert.equal(parseSignal('TERM'), 15);
    assert.equal(parseSignal('SIGTERM'), 15);
    assert.equal(parseSignal('sigkill'), 9);
    assert.equal(parseSignal('15'), 15);
    assert.equal(parseSignal(9), 9);
    assert.equal(parseSignal('HUP'), 1);
    assert.equal(parseSignal('SIGUSR1'), 10);
    assert.equal(parseSignal('RTMIN+3'), 37);
    assert.equal(parseSignal('SIGRTMAX'), 64);
  });

  it("rejects unknown signals with docker's message", () => {
    for (const bad of ['NOPE', 'SIGFOO', '0', '65', 0, -1, 1.5, 'RTMIN+40', '']) {
      assert.throws(() => parseSignal(bad), (err) => isBerthError(err, 'invalidParameter') && err.message === `Invalid signal: ${bad}`);
    }
  });
});

describe('classifyStartError', () => {
  it('maps runtime errors to the exit status docker run gives', () => {
    assert.equal(classifyStartError('runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH'), 127);
    assert.equal(classifyStartError('exec /app/run: no such file or directory'), 127);
    assert.equal(classifyStartError('exec: "/bin/x": permission denied'), 126);
    assert.equal(classifyStartError('exec: "/bin": is a directory'), 126);
    assert.equal(classifyStartError('cgroup: cannot write memory.limit_in_bytes'), 125);
  });

  it('makes RuntimeStartError a 400 for a bad command and a 500 otherwise', () => {
    const notFound = new RuntimeStartError('OCI runtime create failed: exec: "x": executable file not found in $PATH');
    assert.equal(notFound.exitCode, 127);
    assert.equal(notFound.kind, 'invalidParameter');
    const other = new RuntimeStartError('OCI runtime create failed: something else');
    assert.equal(other.exitCode, 125);
    assert.equal(other.kind, 'system');
  });

  it("extracts runc's logrus message", () => {
    const raw = 'time="2026-01-01T00:00:00Z" level=error msg="runc create failed: exec: \\"nope\\": executable file not found in $PATH"\n';
    assert.equal(runtimeErrorMessage(raw), 'runc create failed: exec: "nope": executable file not found in $PATH');
    assert.equal(runtimeErrorMessage('  plain failure \n'), 'plain failure');
  });
});

describe('conmon protocol', () => {
  it('reads the pid or the error from the sync pipe line', () => {
    assert.deepEqual(parseSyncMessage('{"data": 4242}'), { ok: true, pid: 4242 });
    const failed = parseSyncMessage('{"data": -1, "message": "time=\\"x\\" level=error msg=\\"runc create failed: boom\\"\\n"}');
    assert.deepEqual(failed, { ok: false, message: 'runc create failed: boom' });
    assert.equal(parseSyncMessage('garbage').ok, false);
  });

  it('passes runc its state root and the tty/stdin flags', () => {
    const base = {
      conmonPath: '/usr/bin/conmon',
      runcPath: '/usr/sbin/runc',
      runcRoot: '/run/berth/runc',
      id: 'abc',
      bundleDir: '/b',
      conmonPidFile: '/b/conmon.pid',
      containerPidFile: '/b/pidfile',
      logPath: '/l/abc.log',
      exitDir: '/run/berth/exits',
      persistDir: '/run/berth/persist/abc',
      socketDir: '/run/berth/socket',
      tty: false,
      openStdin: false,
      leaveStdinOpen: false,
    };
    const args = conmonArgs(base);
    assert.ok(args.includes('--runtime-arg=--root=/run/berth/runc'));
    assert.ok(args.includes('k8s-file:/l/abc.log'));
    assert.equal(args[args.indexOf('--exit-dir') + 1], '/run/berth/exits');
    assert.ok(!args.includes('--terminal') && !args.includes('--stdin'));
    const interactive = conmonArgs({ ...base, tty: true, openStdin: true, leaveStdinOpen: true });
    assert.ok(interactive.includes('--terminal') && interactive.includes('--stdin') && interactive.includes('--leave-stdin-open'));
  });
});

describe('host rlimits', () => {
  it('parses /proc/self/limits, unlimited as Infinity', () => {
    const text = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 20000                files
Max processes             96365                96365                processes
`;
    const limits = parseProcLimits(text);
    assert.deepEqual(limits['RLIMIT_NOFILE'], { soft: 1024, hard: 20000 });
    assert.deepEqual(limits['RLIMIT_CPU'], { soft: Infinity, hard: Infinity });
    assert.deepEqual(limits['RLIMIT_NPROC'], { soft: 96365, hard: 96365 });
    assert.equal(normalizeRlimitType('nofile'), 'RLIMIT_NOFILE');
    assert.equal(normalizeRlimitType('RLIMIT_CORE'), 'RLIMIT_CORE');
  });
});

describe('ExitWatcher and readExitStatus', () => {
  /** Writes like conmon (g_file_set_contents): a temp name next to the target, then a rename. */
  function writeLikeConmon(dir: string, id: string, content: string): void {
    const temp = join(dir, `${id}.X1Y2Z3`);
    writeFileSync(temp, content);
    renameSync(temp, join(dir, id));
  }

  function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const tick = () => {
        if (check()) return resolve();
        if (Date.now() - started > timeoutMs) return reject(new Error('timed out'));
        setTimeout(tick, 20);
      };
      tick();
    });
  }

  it('reports each exit once, ignores temp names, and reports a rerun under the same id', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-exits-'));
    const exitDir = join(root, 'exits');
    const watcher = new ExitWatcher(exitDir);
    const seen: string[] = [];
    const unsubscribe = watcher.subscribe((id) => seen.push(id));
    try {
      writeLikeConmon(exitDir, 'c1', '3');
      writeLikeConmon(exitDir, 'c2', '137');
      await waitFor(() => seen.length >= 2);
      await new Promise((r) => setTimeout(r, 150));
      assert.deepEqual([...seen].sort(), ['c1', 'c2']);

      const persist = join(root, 'persist', 'c2');
      mkdirSync(persist, { recursive: true });
      writeFileSync(join(persist, 'oom'), '');
      const status = await readExitStatus(exitDir, persist, 'c2');
      assert.equal(status?.exitCode, 137);
      assert.equal(status?.oomKilled, true);
      assert.ok(status?.finishedAt instanceof Date);
      assert.equal(await readExitStatus(exitDir, join(root, 'persist', 'none'), 'none'), undefined);

      unlinkSync(join(exitDir, 'c1'));
      watcher.forget('c1');
      writeLikeConmon(exitDir, 'c1', '0');
      await waitFor(() => seen.filter((id) => id === 'c1').length === 2);
    } finally {
      unsubscribe();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('falls back to the persist dir exit file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-exits-'));
    try {
      const persist = join(root, 'persist', 'c9');
      mkdirSync(persist, { recursive: true });
      writeFileSync(join(persist, 'exit'), '127');
      assert.deepEqual({ ...(await readExitStatus(join(root, 'exits'), persist, 'c9')), finishedAt: undefined }, { exitCode: 127, oomKilled: false, finishedAt: undefined });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
