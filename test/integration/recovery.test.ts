/**
 * Crash recovery: containers outlive a SIGKILLed berthd (their monitors hold them), and a new
 * berthd on the same roots finds them as they are: still running, or exited with the code the
 * monitor recorded while no daemon was watching, with their logs.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, sleep, waitFor } from '../helpers/exec.js';
import { isAlive, processesMentioning } from '../helpers/cleanup.js';

const T = { timeout: 120_000 };

interface Inspected {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number };
}

describe('recovery after berthd is killed', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let sleeperId = '';
  let quitterId = '';
  let sleeperPid = 0;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const inspect = async (name: string): Promise<Inspected> => {
    const r = await d.berth(['inspect', name]);
    return (JSON.parse(expectOk(`inspect ${name}`, r)) as Inspected[])[0]!;
  };
  const logsOf = async (name: string): Promise<string> => expectOk(`logs ${name}`, await d.berth(['logs', name]));

  it('starts a long sleeper and a container that will exit 7 while no daemon runs', T, async () => {
    sleeperId = expectOk('run sleeper', await d.berth(['run', '-d', '--name', 'sleeper', 'busybox', 'sh', '-c', 'echo sleeper says hi; exec sleep 1000'])).trim();
    // Both must have written their line before the crash, so "logs intact" means something.
    assert.ok(await waitFor(async () => (await logsOf('sleeper')) === 'sleeper says hi\n'), 'sleeper log line missing before the crash');
    const sleeper = await inspect('sleeper');
    assert.equal(sleeper.State.Status, 'running');
    sleeperPid = sleeper.State.Pid;
    assert.ok(sleeperPid > 0);
    // Started last: its 2 s of life must cover the kill below.
    quitterId = expectOk('run quitter', await d.berth(['run', '-d', '--name', 'quitter', 'busybox', 'sh', '-c', 'echo quitter says bye; sleep 2; exit 7'])).trim();
    assert.ok(await waitFor(async () => (await logsOf('quitter')) === 'quitter says bye\n'), 'quitter log line missing before the crash');
  });

  it('containers survive kill -9 of berthd', T, async (t) => {
    const oldPid = d.pid;
    // The quitter has ~2 s to live: kill the daemon at once so it exits while none is up. A slow
    // machine that misses the window still checks the recorded exit, so it only notes it.
    const quitterBefore = await d.api('GET', `/containers/${quitterId}/json`);
    await d.kill9();
    if ((quitterBefore.json as Inspected | undefined)?.State.Status !== 'running') {
      t.diagnostic('quitter exited before berthd was killed: its exit was seen live, not recovered');
    }
    assert.equal(isAlive(oldPid), false);
    await sleep(3_000); // the quitter exits (code 7) in this window
    assert.ok(isAlive(sleeperPid), 'the sleeper died with the daemon');
    // The monitor of each container is what keeps it alive and records its exit.
    assert.ok(processesMentioning(sleeperId).length > 0, 'no monitor process mentions the sleeper');
  });

  it('a new berthd on the same roots lists both containers as they are', T, async () => {
    await d.start();
    const ps = expectOk('ps -a', await d.berth(['ps', '-a', '--format', '{{.Names}} {{.Status}}']));
    const lines = ps.trim().split('\n').sort();
    assert.equal(lines.length, 2, ps);
    assert.match(lines[0]!, /^quitter Exited \(7\) /);
    assert.match(lines[1]!, /^sleeper Up /);

    const sleeper = await inspect('sleeper');
    assert.equal(sleeper.State.Status, 'running');
    assert.equal(sleeper.State.Running, true);
    assert.equal(sleeper.State.Pid, sleeperPid, 'the sleeper was restarted instead of recovered');
    const quitter = await inspect('quitter');
    assert.equal(quitter.Id, quitterId);
    assert.equal(quitter.State.Status, 'exited');
    assert.equal(quitter.State.ExitCode, 7);
    assert.equal(quitter.State.Running, false);
  });

  it('keeps the logs written before the crash', T, async () => {
    assert.equal(await logsOf('sleeper'), 'sleeper says hi\n');
    assert.equal(await logsOf('quitter'), 'quitter says bye\n');
  });

  it('the recovered sleeper can be stopped and removed', T, async () => {
    const stop = await d.berth(['stop', '-t', '1', 'sleeper']);
    assert.equal(stop.code, 0, describeResult('stop sleeper', stop));
    assert.ok(await waitFor(() => !isAlive(sleeperPid), { timeoutMs: 5_000 }), 'the sleeper process survived stop');
    const sleeper = await inspect('sleeper');
    assert.equal(sleeper.State.Status, 'exited');
    assert.equal(sleeper.State.ExitCode, 137);

    // A wait on the already-exited container returns its recorded code at once.
    assert.equal(expectOk('wait quitter', await d.berth(['wait', 'quitter'])).trim(), '7');

    const rm = await d.berth(['rm', 'sleeper', 'quitter']);
    assert.equal(rm.code, 0, describeResult('rm', rm));
    assert.equal(expectOk('ps -aq', await d.berth(['ps', '-a', '-q'])).trim(), '');
    assert.deepEqual(processesMentioning(sleeperId).concat(processesMentioning(quitterId)).map((p) => p.argv.join(' ')), []);
  });

  it('a second restart (SIGTERM this time) keeps the image and an empty container list', T, async () => {
    await d.restart();
    assert.equal(expectOk('ps -aq', await d.berth(['ps', '-a', '-q'])).trim(), '');
    const images = expectOk('images', await d.berth(['images', '--format', '{{.Repository}}:{{.Tag}}']));
    assert.equal(images.trim(), 'busybox:latest');
    const r = await d.berth(['run', '--rm', 'busybox', 'echo', 'after restart']);
    assert.equal(r.stdout, 'after restart\n', describeResult('run after restart', r));
  });
});
