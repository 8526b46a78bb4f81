/**
 * Restart policies against a real berthd: on-failure's retry count, always after a crash,
 * a manual stop respected, and containers coming back when the daemon starts again.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { expectOk, sleep, waitFor } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('restart policies', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const state = async (name: string): Promise<{ Status: string; RestartCount: number; ExitCode: number; Pid: number }> => {
    const r = await d.api('GET', `/containers/${name}/json`);
    const j = r.json as { State: { Status: string; ExitCode: number; Pid: number }; RestartCount: number };
    return { Status: j.State.Status, ExitCode: j.State.ExitCode, Pid: j.State.Pid, RestartCount: j.RestartCount };
  };

  it('on-failure:2 restarts a failing container twice, then leaves it exited', T, async () => {
    expectOk('run', await d.berth(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 3']));
    // back-off 100 ms then 200 ms: both restarts are over well within a few seconds.
    const done = await waitFor(async () => {
      const s = await state('flaky');
      return s.Status === 'exited' && s.RestartCount === 2 ? s : undefined;
    }, { timeoutMs: 15_000 });
    assert.ok(done, JSON.stringify(await state('flaky')));
    assert.equal(done.ExitCode, 3);
    await sleep(700);
    assert.equal((await state('flaky')).RestartCount, 2, 'restarted past MaximumRetryCount');
    const inspect = expectOk('inspect', await d.berth(['inspect', '-f', '{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}', 'flaky']));
    assert.equal(inspect.trim(), '2 on-failure');
  });

  it('always: restarts after a crash, shows restarting with back-off, and respects a manual stop', T, async () => {
    expectOk('run', await d.berth(['run', '-d', '--name', 'crashy', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3; exit 1']));
    const seen = new Set<string>();
    const counted = await waitFor(async () => {
      const s = await state('crashy');
      seen.add(s.Status);
      return s.RestartCount >= 3 ? s : undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    assert.ok(counted, `never restarted 3 times: ${JSON.stringify(await state('crashy'))}`);
    assert.ok(seen.has('restarting'), `never saw restarting: ${[...seen].join(',')}`);
    const ps = expectOk('ps', await d.berth(['ps', '-a', '--filter', 'name=crashy', '--format', '{{.Status}}']));
    assert.match(ps.trim(), /^(Up .*|Restarting \(1\) .* ago)$/);
    expectOk('stop', await d.berth(['stop', '-t', '1', 'crashy']));
    const stopped = await state('crashy');
    assert.equal(stopped.Status, 'exited');
    await sleep(1500);
    const later = await state('crashy');
    assert.equal(later.Status, 'exited', 'a stopped container was restarted');
    assert.equal(later.RestartCount, stopped.RestartCount);
  });

  it('always: a container killed from outside comes back with a new pid', T, async () => {
    const id = expectOk('run', await d.berth(['run', '-d', '--name', 'svc', '--restart', 'always', 'busybox', 'sleep', '300'])).trim();
    const before = await state(id);
    process.kill(before.Pid, 'SIGKILL');
    const back = await waitFor(async () => {
      const s = await state(id);
      return s.Status === 'running' && s.Pid !== before.Pid ? s : undefined;
    }, { timeoutMs: 10_000 });
    assert.ok(back, JSON.stringify(await state(id)));
    assert.equal(back.RestartCount, 1);
  });

  it('after a daemon crash and start: always and unless-stopped come back, a stopped unless-stopped stays down', T, async () => {
    expectOk('run', await d.berth(['run', '-d', '--name', 'us-running', '--restart', 'unless-stopped', 'busybox', 'sleep', '300']));
    expectOk('run', await d.berth(['run', '-d', '--name', 'us-stopped', '--restart', 'unless-stopped', 'busybox', 'sleep', '300']));
    expectOk('stop', await d.berth(['stop', '-t', '1', 'us-stopped']));
    expectOk('run', await d.berth(['run', '-d', '--name', 'al-stopped', '--restart', 'always', 'busybox', 'sleep', '300']));
    expectOk('stop', await d.berth(['stop', '-t', '1', 'al-stopped']));
    expectOk('run', await d.berth(['run', '-d', '--name', 'no-policy', 'busybox', 'sleep', '300']));
    expectOk('stop', await d.berth(['stop', '-t', '1', 'no-policy', 'svc']));
    await d.kill9();
    // While no daemon runs, the unless-stopped container dies: the new daemon must restart it.
    const pid = await stateFromDisk('us-running');
    assert.ok(pid && pid > 0, 'no pid recorded for us-running');
    process.kill(pid, 'SIGKILL');
    await sleep(300);
    await d.start();
    const up = await waitFor(async () => (await state('us-running')).Status === 'running' && (await state('al-stopped')).Status === 'running', { timeoutMs: 15_000 });
    assert.ok(up, `us-running: ${JSON.stringify(await state('us-running'))}, al-stopped: ${JSON.stringify(await state('al-stopped'))}`);
    assert.equal((await state('us-stopped')).Status, 'exited');
    assert.equal((await state('no-policy')).Status, 'exited');
    expectOk('rm -f', await d.berth(['rm', '-f', 'us-running', 'us-stopped', 'al-stopped', 'no-policy', 'svc', 'crashy', 'flaky']));
  });

  /** The pid berthd last recorded, read while the daemon is down (from its container store). */
  async function stateFromDisk(name: string): Promise<number | undefined> {
    const { readdirSync, readFileSync } = await import('node:fs');
    const root = `${d.dataRoot}/containers`;
    for (const id of readdirSync(root)) {
      try {
        const rec = JSON.parse(readFileSync(`${root}/${id}/config.v2.json`, 'utf8')) as { name: string; state: { pid: number } };
        if (rec.name === name) return rec.state.pid;
      } catch {
        // not a container dir
      }
    }
    return undefined;
  }
});
