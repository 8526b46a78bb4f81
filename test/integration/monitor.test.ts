/**
 * berth-monitor (native/berth-monitor.c), the per-container monitor, driven through a real berthd
 * the way users reach it: the k8s-file log it writes (partial last line included), stdout/stderr
 * kept apart, attach output and stdin, a TTY and its resize, exit codes (signals as 128+N), an
 * OOM kill, exec sessions, surviving a kill -9 of berthd, and its memory (VmRSS < 2 MiB).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';
import { isAlive, processName, processesMentioning } from '../helpers/cleanup.js';

const T = { timeout: 120_000 };
/** The monitor this build made: DIST/native/berth-monitor, from DIST/test/integration/. */
const MONITOR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'berth-monitor');
/** conmon's k8s-file record: RFC 3339 time with nanoseconds and offset, stream, F or P, text. */
const RECORD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d) (stdout|stderr) ([FP]) (.*)$/;

/** The berth-monitor processes serving a container (its id is on their command line). */
function monitorsOf(id: string): number[] {
  return processesMentioning(id)
    .filter((p) => processName(p.pid) === 'berth-monitor')
    .map((p) => p.pid);
}

function vmRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  assert.ok(m, `no VmRSS for ${pid}`);
  return Number(m[1]);
}

describe('berth-monitor', { timeout: 900_000, skip: existsSync(MONITOR) ? false : `${MONITOR} not built` }, () => {
  let d: TestDaemon;

  before(async () => {
    d = await startDaemon({ args: ['--monitor', MONITOR] });
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const inspect = (name: string) => d.inspectContainer(name);

  it('writes the k8s-file log: F records per line, a P record for an unfinished last line', T, async () => {
    const r = await d.berth(['run', '--name', 'logfmt', 'busybox', 'sh', '-c', 'echo one; echo two >&2; printf "three\\nfour"']);
    assert.equal(r.code, 0, describeResult('run', r));
    assert.equal(r.stdout, 'one\nthree\nfour');
    assert.equal(r.stderr, 'two\n');
    const info = await inspect('logfmt');
    const lines = readFileSync(info.LogPath as string, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'every record ends with a newline');
    const records = lines.map((l) => {
      const m = RECORD.exec(l);
      assert.ok(m, `not a k8s-file record: ${JSON.stringify(l)}`);
      return `${m[1]} ${m[2]} ${m[3]}`;
    });
    // stdout and stderr arrive through different pipes: their relative order is not fixed.
    assert.deepEqual(records.filter((x) => x.startsWith('stdout')), ['stdout F one', 'stdout F three', 'stdout P four']);
    assert.deepEqual(records.filter((x) => x.startsWith('stderr')), ['stderr F two']);
    const logs = await d.berth(['logs', 'logfmt']);
    assert.equal(logs.stdout, 'one\nthree\nfour');
    assert.equal(logs.stderr, 'two\n');
    expectOk('rm', await d.berth(['rm', 'logfmt']));
  });

  it('a line written in pieces is P records then an F record, and reads back whole', T, async () => {
    const r = await d.berth(['run', '--name', 'pieces', 'busybox', 'sh', '-c', 'printf ab; sleep 0.3; printf cd; sleep 0.3; echo ef']);
    assert.equal(r.stdout, 'abcdef\n', describeResult('run', r));
    const text = readFileSync((await inspect('pieces')).LogPath as string, 'utf8');
    const tags = text.trim().split('\n').map((l) => RECORD.exec(l)?.slice(2, 4).join(' '));
    assert.deepEqual(tags, ['P ab', 'P cd', 'F ef']);
    expectOk('logs', await d.berth(['logs', 'pieces']));
    assert.equal((await d.berth(['logs', 'pieces'])).stdout, 'abcdef\n');
    expectOk('rm', await d.berth(['rm', 'pieces']));
  });

  it('passes stdin to the container and closes it at the client\'s EOF (run -i)', T, async () => {
    const r = await d.berth(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; done; echo "eof" >&2'], { input: 'a\nb\n' });
    assert.equal(r.code, 0, describeResult('run -i', r));
    assert.equal(r.stdout, 'got a\ngot b\n');
    assert.equal(r.stderr, 'eof\n');
  });

  it('streams output to an attached client and keeps the streams apart (docker attach)', T, async () => {
    const id = expectOk('run -d', await d.berth(['run', '-d', '--name', 'att', 'busybox', 'sh', '-c', 'sleep 1; for i in 1 2 3; do echo out$i; echo err$i >&2; sleep 0.2; done'])).trim();
    const a = await d.berth(['attach', id]);
    assert.equal(a.stdout, 'out1\nout2\nout3\n', describeResult('attach', a));
    assert.equal(a.stderr, 'err1\nerr2\nerr3\n');
    expectOk('rm', await d.berth(['rm', 'att']));
  });

  it('runs a TTY: output through the pty, resize through the ctl fifo', T, async () => {
    const id = expectOk('run -dt', await d.berth(['run', '-d', '-t', '--name', 'tty', 'busybox', 'sh', '-c', 'until [ -e /tmp/go ]; do sleep 0.1; done; stty size; tty'])).trim();
    const resized = await d.api('POST', `/containers/${id}/resize?h=41&w=123`);
    assert.equal(resized.status, 200, resized.text);
    expectOk('exec touch', await d.berth(['exec', id, 'touch', '/tmp/go']));
    const wait = expectOk('wait', await d.berth(['wait', id])).trim();
    assert.equal(wait, '0');
    const logs = await d.berth(['logs', id]);
    // A terminal turns \n into \r\n (ONLCR), as docker's do.
    assert.match(logs.stdout, /^41 123\r\n\/dev\/pts\/\d+\r\n$/, describeResult('logs', logs));
    expectOk('rm', await d.berth(['rm', id]));
  });

  it('records exit codes: a status as is, a signal as 128+N', T, async () => {
    const r = await d.berth(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3, describeResult('exit 3', r));
    // The container's init ignores signals it has no handler for, except SIGKILL from outside.
    const id = expectOk('run -d', await d.berth(['run', '-d', 'busybox', 'sleep', '100'])).trim();
    expectOk('kill', await d.berth(['kill', id]));
    assert.equal(expectOk('wait', await d.berth(['wait', id])).trim(), '137');
    // An exec'd process is no init: a signal it sends itself kills it, and its monitor says so.
    const ex = expectOk('run -d', await d.berth(['run', '-d', 'busybox', 'sleep', '100'])).trim();
    for (const [signal, code] of [
      ['TERM', 143],
      ['USR1', 138],
    ] as const) {
      const e = await d.berth(['exec', ex, 'sh', '-c', `kill -${signal} $$`]);
      assert.equal(e.code, code, describeResult(`exec kill -${signal}`, e));
    }
    expectOk('rm', await d.berth(['rm', '-f', id, ex]));
  });

  it('notices an OOM kill: exit 137 and State.OOMKilled', T, async () => {
    const r = await d.berth(['run', '--name', 'oom', '-m', '8m', '--memory-swap', '8m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
    assert.equal(r.code, 137, describeResult('run', r));
    const info = await inspect('oom');
    assert.equal(info.State.OOMKilled, true);
    assert.equal(info.State.ExitCode, 137);
    expectOk('rm', await d.berth(['rm', 'oom']));
  });

  it('runs exec sessions: output, stdin, exit code, tty', T, async () => {
    const id = expectOk('run -d', await d.berth(['run', '-d', '--name', 'ex', 'busybox', 'sleep', '300'])).trim();
    const e = await d.berth(['exec', id, 'sh', '-c', 'echo o; echo e >&2; exit 5']);
    assert.equal(e.code, 5, describeResult('exec', e));
    assert.equal(e.stdout, 'o\n');
    assert.equal(e.stderr, 'e\n');
    const i = await d.berth(['exec', '-i', id, 'sh', '-c', 'cat; echo done'], { input: 'piped\n' });
    assert.equal(i.stdout, 'piped\ndone\n', describeResult('exec -i', i));
    const t = await d.berth(['exec', '-t', id, 'sh', '-c', 'tty; exit 2']);
    assert.equal(t.code, 2, describeResult('exec -t', t));
    assert.match(t.stdout, /^\/dev\/pts\/\d+\r\n$/);
    const detached = expectOk('exec -d', await d.berth(['exec', '-d', id, 'sh', '-c', 'echo bg > /tmp/bg']));
    assert.equal(detached, '');
    assert.ok(await waitFor(async () => (await d.berth(['exec', id, 'cat', '/tmp/bg'])).stdout === 'bg\n'), 'exec -d did not run');
    expectOk('rm', await d.berth(['rm', '-f', id]));
  });

  it('stays under 2 MiB of RSS per container', T, async (t) => {
    const id = expectOk('run -d', await d.berth(['run', '-d', 'busybox', 'sleep', '300'])).trim();
    const [pid] = monitorsOf(id);
    assert.ok(pid, `no berth-monitor for ${id}`);
    const rss = vmRssKiB(pid);
    t.diagnostic(`berth-monitor VmRSS: ${rss} KiB`);
    assert.ok(rss < 2048, `berth-monitor VmRSS ${rss} KiB`);
    expectOk('rm', await d.berth(['rm', '-f', id]));
  });

  it('keeps the container (and itself) running through a kill -9 of berthd', T, async () => {
    const id = expectOk('run -d', await d.berth(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', 'echo before; sleep 2; echo after; exec sleep 300'])).trim();
    const monitors = monitorsOf(id);
    assert.equal(monitors.length, 1, `monitors of ${id}: ${monitors.join(', ')}`);
    const pid = (await inspect(id)).State.Pid as number;
    await d.kill9();
    // Over the next 2 s the container writes "after" through its monitor, with no daemon up.
    assert.ok(isAlive(monitors[0]!), 'the monitor died with berthd');
    assert.ok(isAlive(pid), 'the container died with berthd');
    await d.start();
    const info = await inspect(id);
    assert.equal(info.State.Status, 'running');
    assert.equal(info.State.Pid, pid);
    assert.ok(await waitFor(async () => (await d.berth(['logs', id])).stdout === 'before\nafter\n'), 'log written while berthd was down');
    // The monitor still serves the recovered container: attach sees new output, stop records the exit.
    expectOk('stop', await d.berth(['stop', '-t', '1', id]));
    assert.equal((await inspect(id)).State.ExitCode, 137);
    assert.ok(await waitFor(() => !isAlive(monitors[0]!)), 'the monitor outlived its container');
    expectOk('rm', await d.berth(['rm', id]));
  });

  it('is what berthd runs when no monitor is configured', T, async () => {
    const plain = await startDaemon();
    try {
      await importBusybox(plain);
      const id = expectOk('run -d', await plain.berth(['run', '-d', 'busybox', 'sleep', '300'])).trim();
      const names = processesMentioning(id).map((p) => processName(p.pid));
      assert.ok(names.includes('berth-monitor') && !names.includes('conmon'), `processes naming ${id}: ${names.join(', ')}`);
      expectOk('rm', await plain.berth(['rm', '-f', id]));
    } finally {
      await plain.stop();
    }
  });
});
