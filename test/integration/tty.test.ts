/**
 * Interactive containers driven through a real pseudo-terminal: `script` gives the CLI a pty
 * (so raw mode and TTY detection are the real thing) and we type into it through a pipe.
 * Also stdin piping, start -ai, detach keys validation and the real docker CLI's hijack.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';
import { berthBin } from '../helpers/paths.js';

const T = { timeout: 120_000 };

/** A CLI command running under `script`, i.e. on a pseudo-terminal we can type into. */
class PtySession {
  private readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number>;

  constructor(command: string, env: NodeJS.ProcessEnv) {
    this.child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => (this.output += b.toString('utf8')));
    this.child.stderr!.on('data', (b: Buffer) => (this.output += b.toString('utf8')));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
  }

  type(text: string): void {
    this.child.stdin!.write(text);
  }

  async expect(pattern: RegExp, what: string): Promise<void> {
    const seen = await waitFor(() => pattern.test(this.output), { timeoutMs: 20_000 });
    assert.ok(seen, `${what}: ${pattern} not seen; terminal so far: ${JSON.stringify(this.output)}`);
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

describe('TTY and stdin', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  const sessions: PtySession[] = [];
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, BERTH_HOST: d.host, TERM: 'xterm' });
  const pty = (args: string): PtySession => {
    const s = new PtySession(`${berthBin} ${args}`, env());
    sessions.push(s);
    return s;
  };

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    for (const s of sessions) s.kill();
    await d?.stop();
  });

  it('run -it answers a command, ctrl-p ctrl-q detaches leaving it running, attach works again', T, async () => {
    const s = pty('run -it --name tty1 busybox sh');
    await s.expect(/\/ # /, 'the shell prompt');
    // Quoted so the echo of what we typed cannot satisfy the match on its own.
    s.type("echo 'he''llo' $((6*7))\r");
    await s.expect(/hello 42/, 'the command output');
    s.type('\x10\x11');
    assert.equal(await s.exited, 0, `detach exit status; terminal: ${s.output}`);
    const state = expectOk('inspect', await d.berth(['inspect', '-f', '{{.State.Status}} {{.Config.Tty}}', 'tty1'])).trim();
    assert.equal(state, 'running true');

    const a = pty('attach tty1');
    a.type('\r');
    await a.expect(/\/ # /, 'the prompt after attach');
    // Resize goes to conmon's control fifo; the shell's terminal reports the new size.
    const resized = await d.api('POST', '/containers/tty1/resize?h=33&w=77');
    assert.equal(resized.status, 200, resized.text);
    a.type("echo 'ag''ain' $(stty size)\r");
    await a.expect(/again 33 77/, 'output after re-attach, with the new terminal size');
    a.type('exit 5\r');
    assert.equal(await a.exited, 5, `attach exit status is the container's; terminal: ${a.output}`);
    const after = expectOk('inspect', await d.berth(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'tty1'])).trim();
    assert.equal(after, 'exited 5');
    // The TTY's output is in the log too: conmon writes it.
    const logs = expectOk('logs', await d.berth(['logs', 'tty1']));
    assert.match(logs, /hello 42/);
    expectOk('rm', await d.berth(['rm', 'tty1']));
  });

  it('exec -it runs a shell on a terminal inside a running container', T, async () => {
    expectOk('run -d', await d.berth(['run', '-d', '--name', 'tty2', 'busybox', 'sleep', '600']));
    const s = pty('exec -it tty2 sh');
    await s.expect(/\/ # /, 'the exec shell prompt');
    s.type("tty; echo 'ex''ec' $TERM\r");
    await s.expect(/\/dev\/pts\/\d+[\s\S]*exec xterm/, 'a pty and TERM in the exec');
    s.type('exit 4\r');
    assert.equal(await s.exited, 4, `exec exit status; terminal: ${s.output}`);
    expectOk('rm -f', await d.berth(['rm', '-f', 'tty2']));
  });

  it('run -i pipes stdin and exits 0 when it closes (StdinOnce)', T, async () => {
    const r = await d.berth(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'hi\nthere\n', timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeResult('run -i', r));
    assert.equal(r.stdout, 'hi\nthere\ndone\n');
  });

  it('run -a STDERR shows only stderr', T, async () => {
    const r = await d.berth(['run', '--rm', '-a', 'STDERR', 'busybox', 'sh', '-c', 'echo out; echo err >&2'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeResult('run -a', r));
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'err\n');
  });

  it('start -ai attaches stdin of a created container', T, async () => {
    const id = expectOk('create', await d.berth(['create', '-i', 'busybox', 'sh', '-c', 'read x; echo "got $x"; exit 2'])).trim();
    const r = await d.berth(['start', '-ai', id], { input: 'word\n', timeoutMs: 30_000 });
    assert.equal(r.code, 2, describeResult('start -ai', r));
    assert.equal(r.stdout, 'got word\n');
    expectOk('rm', await d.berth(['rm', id]));
  });

  it('rejects bad detach keys with docker\'s message', T, async () => {
    const id = expectOk('run -d', await d.berth(['run', '-d', 'busybox', 'sleep', '600'])).trim();
    const res = await d.api('POST', `/containers/${id}/attach?stream=1&stdout=1&detachKeys=ctrl-1`);
    assert.equal(res.status, 400);
    assert.match(res.text, /Invalid detach keys \(ctrl-1\) provided/);
    expectOk('rm -f', await d.berth(['rm', '-f', id]));
  });

  it('a client that disconnects mid-attach leaves the container running and attachable', T, async () => {
    const id = expectOk('run -d', await d.berth(['run', '-d', '-i', 'busybox', 'sh', '-c', 'while read l; do echo "echo:$l"; done'])).trim();
    const first = await d.berth(['attach', id], { input: '', timeoutMs: 2_000 });
    // Killed by the deadline or ended on stdin EOF: either way the container must live on.
    assert.ok(first.code !== undefined);
    const state = expectOk('inspect', await d.berth(['inspect', '-f', '{{.State.Running}}', id])).trim();
    assert.equal(state, 'true');
    expectOk('rm -f', await d.berth(['rm', '-f', id]));
  });

  it('the real docker CLI hijacks: run, run -i, exec, attach', T, async () => {
    const echo = await d.docker(['run', '--rm', 'busybox', 'echo', 'via docker'], { timeoutMs: 30_000 });
    assert.equal(echo.code, 0, describeResult('docker run', echo));
    assert.equal(echo.stdout, 'via docker\n');
    const piped = await d.docker(['run', '--rm', '-i', 'busybox', 'cat'], { input: 'piped\n', timeoutMs: 30_000 });
    assert.equal(piped.code, 0, describeResult('docker run -i', piped));
    assert.equal(piped.stdout, 'piped\n');
    const code = await d.docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo o; echo e >&2; exit 3'], { timeoutMs: 30_000 });
    assert.deepEqual([code.code, code.stdout, code.stderr], [3, 'o\n', 'e\n']);

    expectOk('run -d', await d.docker(['run', '-d', '--name', 'dk1', 'busybox', 'sh', '-c', 'sleep 1; echo late; sleep 600']));
    const ex = await d.docker(['exec', 'dk1', 'sh', '-c', 'echo in-exec; exit 6'], { timeoutMs: 30_000 });
    assert.deepEqual([ex.code, ex.stdout], [6, 'in-exec\n'], describeResult('docker exec', ex));
    const attached = await d.docker(['attach', '--no-stdin', 'dk1'], { timeoutMs: 4_000 });
    assert.match(attached.stdout, /late/, describeResult('docker attach', attached));
    assert.equal(expectOk('inspect', await d.berth(['inspect', '-f', '{{.State.Running}}', 'dk1'])).trim(), 'true');
    expectOk('rm -f', await d.docker(['rm', '-f', 'dk1']));
  });
});
