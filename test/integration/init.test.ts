/**
 * docker-init: `run --init`, HostConfig.Init, daemon.json "init"/"init-path" and compose's
 * `init: true` run Debian's tini (docker's init) as PID 1 with the command as its child, so a
 * SIGTERM reaches a command that has no handler of its own.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };
const INIT = '/usr/bin/tini-static';
const pid1 = (ps: string): string => ps.split('\n').find((l) => /^\s*1\s/.test(l)) ?? '';

describe('docker-init', { timeout: 600_000, skip: existsSync(INIT) ? false : `${INIT} missing (apt-get install -y tini)` }, () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    dir = mkdtempSync(join(tmpdir(), 'berth-init-'));
  });
  after(async () => {
    await d?.berth(['compose', '-p', 'initapp', 'down', '-t', '0'], { cwd: dir }).catch(() => undefined);
    await d?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('run --init: docker-init is PID 1 and the command its child (berth and docker CLI)', T, async () => {
    const ps = expectOk('run --init', await d.berth(['run', '--rm', '--init', 'busybox', 'ps']));
    assert.match(pid1(ps), /\/sbin\/docker-init -- ps$/, ps);
    assert.match(ps, /^\s*[2-9]\d*\s+root\s+ps$/m);
    const plain = expectOk('run', await d.berth(['run', '--rm', 'busybox', 'ps']));
    assert.match(pid1(plain), /\s+ps$/, plain);
    const viaDocker = await d.docker(['run', '--rm', '--init', 'busybox', 'ps']);
    assert.equal(viaDocker.code, 0, describeResult('docker run --init', viaDocker));
    assert.match(pid1(viaDocker.stdout), /\/sbin\/docker-init -- ps$/);
    const info = expectOk('create --init', await d.berth(['create', '--init', 'busybox', 'true'])).trim();
    const doc = (await d.api('GET', `/containers/${info}/json`)).json as { HostConfig: { Init?: boolean }; Path: string };
    assert.equal(doc.HostConfig.Init, true);
    assert.equal(doc.Path, 'true');
    expectOk('rm', await d.berth(['rm', info]));
  });

  it('forwards signals: stop ends a handler-less command at once through the init', T, async () => {
    // sleep as PID 1 ignores SIGTERM (no handler), so without an init stop waits out -t.
    const id = expectOk('run -d --init', await d.berth(['run', '-d', '--init', 'busybox', 'sleep', '300'])).trim();
    const started = Date.now();
    expectOk('stop', await d.berth(['stop', '-t', '20', id]));
    assert.ok(Date.now() - started < 10_000, `stop took ${Date.now() - started} ms`);
    const state = ((await d.api('GET', `/containers/${id}/json`)).json as { State: { ExitCode: number } }).State;
    assert.equal(state.ExitCode, 143);
    expectOk('rm', await d.berth(['rm', id]));
  });

  it('compose init: true', T, async () => {
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: busybox\n    init: true\n    command: ["sleep", "300"]\n');
    expectOk('compose up', await d.berth(['compose', '-p', 'initapp', 'up', '-d'], { cwd: dir, timeoutMs: 60_000 }));
    const ps = expectOk('exec ps', await d.berth(['exec', 'initapp-app-1', 'ps']));
    assert.match(pid1(ps), /\/sbin\/docker-init -- sleep 300$/, ps);
    expectOk('compose down', await d.berth(['compose', '-p', 'initapp', 'down', '-t', '0'], { cwd: dir }));
  });

  it('daemon.json "init" makes it the default; HostConfig.Init false opts out; a missing init-path fails the start', T, async () => {
    const conf = join(dir, 'daemon.json');
    writeFileSync(conf, JSON.stringify({ init: true, 'init-path': INIT }));
    const d2 = await startDaemon({ args: ['--config-file', conf] });
    try {
      await importBusybox(d2);
      const ps = expectOk('run', await d2.berth(['run', '--rm', 'busybox', 'ps']));
      assert.match(pid1(ps), /\/sbin\/docker-init -- ps$/, ps);
      const create = await d2.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['ps'], HostConfig: { Init: false } });
      assert.equal(create.status, 201, create.text);
      const id = (create.json as { Id: string }).Id;
      expectOk('start -a', await d2.berth(['start', '-a', id]).then((r) => (assert.match(pid1(r.stdout), /\s+ps$/, r.stdout), r)));
    } finally {
      await d2.stop();
    }
    writeFileSync(conf, JSON.stringify({ 'init-path': join(dir, 'no-such-init') }));
    const d3 = await startDaemon({ args: ['--config-file', conf] });
    try {
      await importBusybox(d3);
      const r = await d3.berth(['run', '--rm', '--init', 'busybox', 'true']);
      assert.equal(r.code, 125, describeResult('run --init with a missing init', r));
      assert.match(r.stderr, /docker-init binary not found at .*no-such-init/);
    } finally {
      await d3.stop();
    }
  });
});
