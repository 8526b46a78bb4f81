/**
 * spawnProcess (src/sys/spawn.ts over native/spawn.c): how the monitor and the system tools start. Checked with
 * /bin/sh as the child: pipes both ways on chosen fds, /dev/null elsewhere, its own session, the
 * working directory and environment given, the exit code reaped, and a clear throw for a file
 * that cannot be run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { spawnProcess } from '../../src/sys/spawn.js';

function readAll(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (s: string) => (text += s));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

test('pipes on chosen fds, /dev/null elsewhere, its own session, cwd and env, exit code', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'berth-spawn-')));
  try {
    // fd 3: the child writes; fd 4: the child reads. fd 0 and 1 are /dev/null.
    const script = [
      'read line <&4',
      'echo "got:$line" >&3',
      'echo "cwd:$(pwd) env:$GREETING" >&3',
      'echo "sid:$(cut -d" " -f6 /proc/$$/stat) pid:$$" >&3',
      'echo "stdin:$(cat)" >&3',
      'echo oops >&2',
      'exit 7',
    ].join('\n');
    const child = spawnProcess('/bin/sh', ['-c', script], {
      cwd: dir,
      env: { GREETING: 'hello', PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'ignore', 'childWrites', 'childWrites', 'childReads'],
      newSession: true,
    });
    assert.ok(child.pid > 0);
    assert.equal(child.stdio[0], null);
    const out = readAll(child.stdio[3] as Readable);
    const err = readAll(child.stdio[2] as Readable);
    (child.stdio[4] as Writable).end('ping\n');
    assert.deepEqual(await child.exited, { code: 7, signal: null });
    const lines = (await out).trim().split('\n');
    assert.equal(lines[0], 'got:ping');
    assert.equal(lines[1], `cwd:${dir} env:hello`);
    const m = /^sid:(\d+) pid:(\d+)$/.exec(lines[2]!);
    assert.ok(m, lines[2]);
    assert.equal(m[1], m[2], 'the child leads a session of its own');
    assert.equal(lines[3], 'stdin:', 'stdin is /dev/null');
    assert.equal(await err, 'oops\n');
    // Reaped: no zombie left under this process.
    assert.throws(() => readFileSync(`/proc/${child.pid}/stat`), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file that cannot be run throws at once with its errno name', () => {
  assert.throws(
    () => spawnProcess('/nonexistent/monitor', [], { cwd: '/', env: {}, stdio: ['ignore'] }),
    (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
  );
  const dir = mkdtempSync(join(tmpdir(), 'berth-spawn-'));
  try {
    const plain = join(dir, 'not-executable');
    writeFileSync(plain, '#!/bin/sh\n', { mode: 0o644 });
    assert.throws(
      () => spawnProcess(plain, [], { cwd: '/', env: {}, stdio: ['ignore'] }),
      (err: NodeJS.ErrnoException) => err.code === 'EACCES',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
