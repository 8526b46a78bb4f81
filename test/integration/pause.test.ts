/**
 * pause/unpause through the cgroup freezer, and top: berth CLI, API and the real docker CLI.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('pause, unpause and top', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const freezer = (id: string): string => readFileSync(`/sys/fs/cgroup/freezer/berth/${id}/freezer.state`, 'utf8').trim();

  it('freezes and thaws a container; ps and inspect show it', T, async () => {
    const id = expectOk('run', await d.berth(['run', '-d', '--name', 'p1', 'busybox', 'sleep', '300'])).trim();
    assert.equal(expectOk('pause', await d.berth(['pause', 'p1'])), 'p1\n');
    assert.equal(freezer(id), 'FROZEN');
    const status = expectOk('ps', await d.berth(['ps', '--filter', 'name=p1', '--format', '{{.Status}}'])).trim();
    assert.match(status, /^Up .* \(Paused\)$/);
    assert.equal(expectOk('inspect', await d.berth(['inspect', '-f', '{{.State.Status}} {{.State.Paused}} {{.State.Running}}', 'p1'])).trim(), 'paused true true');
    const again = await d.berth(['pause', 'p1']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Error response from daemon: Container [0-9a-f]{64} is already paused/);
    const start = await d.api('POST', '/containers/p1/start');
    assert.equal(start.status, 409);
    assert.equal(expectOk('unpause', await d.berth(['unpause', 'p1'])), 'p1\n');
    assert.equal(freezer(id), 'THAWED');
    const notPaused = await d.api('POST', '/containers/p1/unpause');
    assert.equal(notPaused.status, 409);
    assert.match(notPaused.text, /is not paused/);
  });

  it('the real docker CLI pauses and unpauses', T, async () => {
    const p = await d.docker(['pause', 'p1']);
    assert.equal(p.code, 0, describeResult('docker pause', p));
    assert.match(expectOk('docker ps', await d.docker(['ps', '--filter', 'name=p1', '--format', '{{.Status}}'])), /\(Paused\)/);
    expectOk('docker unpause', await d.docker(['unpause', 'p1']));
    assert.equal(expectOk('inspect', await d.docker(['inspect', '-f', '{{.State.Status}}', 'p1'])).trim(), 'running');
  });

  it('stops, kills and force-removes paused containers', T, async () => {
    expectOk('pause', await d.berth(['pause', 'p1']));
    const stop = await d.berth(['stop', '-t', '2', 'p1']);
    assert.equal(stop.code, 0, describeResult('stop paused', stop));
    assert.equal(expectOk('inspect', await d.berth(['inspect', '-f', '{{.State.Status}}', 'p1'])).trim(), 'exited');
    expectOk('run', await d.berth(['run', '-d', '--name', 'p2', 'busybox', 'sleep', '300']));
    expectOk('pause', await d.berth(['pause', 'p2']));
    const rm = await d.berth(['rm', '-f', 'p2']);
    assert.equal(rm.code, 0, describeResult('rm -f paused', rm));
    expectOk('run', await d.berth(['run', '-d', '--name', 'p3', 'busybox', 'sleep', '300']));
    expectOk('pause', await d.berth(['pause', 'p3']));
    expectOk('kill', await d.berth(['kill', 'p3']));
    const code = expectOk('wait', await d.berth(['wait', 'p3'])).trim();
    assert.equal(code, '137');
    expectOk('rm', await d.berth(['rm', 'p1', 'p3']));
  });

  it("top lists the container's processes with ps's columns", T, async () => {
    const id = expectOk('run', await d.berth(['run', '-d', '--name', 't1', 'busybox', 'sh', '-c', 'sleep 301 & sleep 302'])).trim();
    const api = await d.api('GET', `/containers/${id}/top`);
    assert.equal(api.status, 200, api.text);
    const top = api.json as { Titles: string[]; Processes: string[][] };
    assert.deepEqual(top.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    // busybox sh execs its last command, so the container holds exactly the two sleeps.
    const cmds = top.Processes.map((p) => p[7]).sort();
    assert.deepEqual(cmds, ['sleep 301', 'sleep 302']);
    const custom = await d.api('GET', `/containers/${id}/top?ps_args=${encodeURIComponent('-o pid,comm')}`);
    assert.deepEqual((custom.json as { Titles: string[] }).Titles, ['PID', 'COMMAND']);
    const cli = expectOk('top', await d.berth(['top', 't1']));
    assert.match(cli.split('\n')[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    assert.equal(cli.trim().split('\n').length, 3);
    const docker = await d.docker(['top', 't1', '-o', 'pid,args']);
    assert.equal(docker.code, 0, describeResult('docker top', docker));
    assert.match(docker.stdout, /sleep 302/);
    expectOk('stop', await d.berth(['stop', '-t', '0', 't1']));
    const stopped = await d.berth(['top', 't1']);
    assert.equal(stopped.code, 1);
    assert.match(stopped.stderr, /is not running/);
    expectOk('rm', await d.berth(['rm', 't1']));
  });
});
