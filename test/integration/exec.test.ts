/**
 * Exec instances against a real berthd: exit codes through berth and docker, env/user/workdir,
 * stdin, detached runs, the API's inspect and resize answers, and the refusals docker gives.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('exec', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let id = '';

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    id = expectOk('run -d', await d.berth(['run', '-d', '--name', 'ex1', 'busybox', 'sleep', '600'])).trim();
  });
  after(async () => {
    await d?.stop();
  });

  it('propagates exit codes: 0, 3, and 127 for a missing command', T, async () => {
    for (const cli of ['berth', 'docker'] as const) {
      const run = cli === 'berth' ? d.berth : d.docker;
      const ok = await run(['exec', 'ex1', 'true']);
      assert.equal(ok.code, 0, describeResult(`${cli} exec true`, ok));
      const three = await run(['exec', 'ex1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual([three.code, three.stdout, three.stderr], [3, 'out\n', 'err\n'], describeResult(`${cli} exec exit 3`, three));
      const missing = await run(['exec', 'ex1', 'no-such-command']);
      assert.equal(missing.code, 127, describeResult(`${cli} exec missing`, missing));
      assert.match(missing.stdout, /executable file not found in \$PATH/);
    }
  });

  it('gives 126 for a command that is not executable', T, async () => {
    const r = await d.berth(['exec', 'ex1', '/etc/passwd']);
    assert.equal(r.code, 126, describeResult('exec /etc/passwd', r));
  });

  it('applies -e, -u, -w and pipes stdin with -i', T, async () => {
    const r = await d.berth(['exec', '-e', 'GREETING=hey', '-u', 'nobody', '-w', '/tmp', 'ex1', 'sh', '-c', 'echo "$GREETING $(id -un) $(pwd)"']);
    assert.equal(expectOk('exec -e -u -w', r), 'hey nobody /tmp\n');
    const piped = await d.berth(['exec', '-i', 'ex1', 'sh', '-c', 'cat; echo end'], { input: 'line\n' });
    assert.equal(expectOk('exec -i', piped), 'line\nend\n');
  });

  it('--privileged gives the exec the daemon\'s full capability set, a plain exec the default set', T, async () => {
    const capEff = async (args: string[]): Promise<bigint> => {
      const r = await d.berth(['exec', ...args, 'ex1', 'sh', '-c', 'grep CapEff /proc/self/status']);
      const m = /CapEff:\s*([0-9a-f]+)/.exec(expectOk(`exec ${args.join(' ')}`, r));
      assert.ok(m, r.stdout);
      return BigInt(`0x${m[1]}`);
    };
    const plain = await capEff([]);
    const privileged = await capEff(['--privileged']);
    const daemonBounding = /CapBnd:\s*([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))![1]!;
    assert.equal(privileged, BigInt(`0x${daemonBounding}`));
    // The default set lacks CAP_SYS_ADMIN (bit 21); the privileged one has it.
    assert.equal((plain >> 21n) & 1n, 0n);
    assert.equal((privileged >> 21n) & 1n, 1n);
  });

  it('-d runs in the background; inspect shows Running, Pid and then ExitCode', T, async () => {
    const created = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['sh', '-c', 'sleep 1; exit 9'] });
    assert.equal(created.status, 201, created.text);
    const execId = (created.json as { Id: string }).Id;
    const before = (await d.api('GET', `/exec/${execId}/json`)).json as Record<string, unknown>;
    assert.deepEqual([before.Running, before.ExitCode, before.Pid, before.ContainerID], [false, null, 0, id]);
    const started = await d.api('POST', `/exec/${execId}/start`, { Detach: true });
    assert.equal(started.status, 200, started.text);
    const running = (await d.api('GET', `/exec/${execId}/json`)).json as Record<string, unknown>;
    assert.equal(running.Running, true);
    assert.ok((running.Pid as number) > 0);
    assert.deepEqual(running.ProcessConfig, { tty: false, entrypoint: 'sh', arguments: ['-c', 'sleep 1; exit 9'], privileged: false });
    const done = await waitFor(async () => {
      const j = (await d.api('GET', `/exec/${execId}/json`)).json as Record<string, unknown>;
      return j.Running === false ? j : undefined;
    }, { timeoutMs: 15_000 });
    assert.equal(done?.ExitCode, 9);
    const again = await d.api('POST', `/exec/${execId}/start`, { Detach: true });
    assert.equal(again.status, 409, again.text);
  });

  it('resize: a non-TTY exec takes it and does nothing (as dockerd); bad sizes and unknown ids are refused', T, async () => {
    const created = await d.api('POST', `/containers/${id}/exec`, { Cmd: ['sleep', '5'] });
    const execId = (created.json as { Id: string }).Id;
    await d.api('POST', `/exec/${execId}/start`, { Detach: true });
    const res = await d.api('POST', `/exec/${execId}/resize?h=20&w=80`);
    assert.equal(res.status, 200, res.text);
    const bad = await d.api('POST', `/exec/${execId}/resize?h=x&w=80`);
    assert.equal(bad.status, 400, bad.text);
    const missing = await d.api('POST', `/exec/${'0'.repeat(64)}/resize?h=20&w=80`);
    assert.equal(missing.status, 404, missing.text);
    assert.match(missing.text, /No such exec instance/);
  });

  it('refuses exec into stopped and paused containers with docker\'s messages', T, async () => {
    const paused = expectOk('run -d', await d.berth(['run', '-d', 'busybox', 'sleep', '600'])).trim();
    const pause = await d.api('POST', `/containers/${paused}/pause`);
    if (pause.status === 204) {
      const r = await d.api('POST', `/containers/${paused}/exec`, { Cmd: ['true'] });
      assert.equal(r.status, 409, r.text);
      assert.match(r.text, new RegExp(`Container ${paused} is paused, unpause the container before exec`));
      await d.api('POST', `/containers/${paused}/unpause`);
    }
    expectOk('stop', await d.berth(['stop', '-t', '0', paused]));
    const r = await d.api('POST', `/containers/${paused}/exec`, { Cmd: ['true'] });
    assert.equal(r.status, 409, r.text);
    assert.match(r.text, new RegExp(`Container ${paused} is not running`));
    const cli = await d.berth(['exec', paused, 'true']);
    assert.equal(cli.code, 1, describeResult('exec into stopped', cli));
    assert.match(cli.stderr, /is not running/);
    const empty = await d.api('POST', `/containers/${id}/exec`, { Cmd: [] });
    assert.equal(empty.status, 400, empty.text);
  });

  it('leaves no exec monitors or session files behind', T, async () => {
    expectOk('exec', await d.berth(['exec', 'ex1', 'true']));
    const leftovers = await waitFor(async () => {
      const r = await d.api('GET', '/containers/json');
      return r.status === 200;
    });
    assert.ok(leftovers);
    const { readdir } = await import('node:fs/promises');
    const sessions = await readdir(`${d.execRoot}/execs`).catch(() => [] as string[]);
    const stillThere = await waitFor(async () => (await readdir(`${d.execRoot}/execs`).catch(() => [] as string[])).length === 0, { timeoutMs: 10_000 });
    assert.ok(stillThere, `exec session dirs left: ${sessions.join(', ')}`);
  });
});
