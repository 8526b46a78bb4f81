/**
 * Volumes, binds and tmpfs against a real berthd: data outlives containers and is shared,
 * new volumes get the image's files, read-only mounts refuse writes, docker's errors and
 * the volume commands.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('volumes', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let hostDir: string;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    hostDir = mkdtempSync(join(tmpdir(), 'berth-vol-host-'));
  });
  after(async () => {
    await d?.stop();
    rmSync(hostDir, { recursive: true, force: true });
  });

  const berth = (args: string[]) => d.berth(args);

  it('a named volume keeps data after its container is removed and is shared by two containers', T, async () => {
    expectOk('run writer', await berth(['run', '--name', 'writer', '-v', 'shared:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f']));
    expectOk('rm writer', await berth(['rm', '-v', 'writer']));
    assert.equal(expectOk('run reader', await berth(['run', '--rm', '-v', 'shared:/data', 'busybox', 'cat', '/data/f'])), 'persisted\n');
    expectOk('run -d', await berth(['run', '-d', '--name', 'holder', '-v', 'shared:/data', 'busybox', 'sleep', '60']));
    assert.equal(expectOk('second', await berth(['run', '--rm', '--volumes-from', 'holder:ro', 'busybox', 'cat', '/data/f'])), 'persisted\n');
    const inUse = await berth(['volume', 'rm', 'shared']);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /Error response from daemon: remove shared: volume is in use - \[[0-9a-f]{64}\]/);
    const mounts = JSON.parse(expectOk('inspect', await berth(['inspect', '-f', '{{json .Mounts}}', 'holder'])));
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0].Type, 'volume');
    assert.equal(mounts[0].Name, 'shared');
    assert.equal(mounts[0].Destination, '/data');
    assert.equal(mounts[0].Driver, 'local');
    assert.equal(mounts[0].Mode, 'z');
    assert.equal(mounts[0].RW, true);
    assert.match(mounts[0].Source, /\/volumes\/shared\/_data$/);
    expectOk('rm -f', await berth(['rm', '-f', 'holder']));
  });

  it('a new named volume is filled with the image content at its path (copy-up)', T, async () => {
    const r = await berth(['run', '--rm', '-v', 'etcvol:/etc', 'busybox', 'sh', '-c', 'cat /etc/group | head -1; stat -c %a /etc']);
    assert.equal(expectOk('copy-up', r), 'root:x:0:\n755\n');
    const inspect = JSON.parse(expectOk('volume inspect', await berth(['volume', 'inspect', 'etcvol'])));
    assert.ok(existsSync(join(inspect[0].Mountpoint, 'passwd')));
  });

  it('read-only mounts refuse writes; binds show host files; -v creates a missing host dir', T, async () => {
    writeFileSync(join(hostDir, 'hello'), 'from host\n');
    const ro = await berth(['run', '--rm', '-v', `${hostDir}:/h:ro`, 'busybox', 'sh', '-c', 'cat /h/hello; echo x > /h/new']);
    assert.notEqual(ro.code, 0);
    assert.equal(ro.stdout, 'from host\n');
    assert.match(ro.stderr, /Read-only file system/);
    const roMount = await berth(['run', '--rm', '--mount', `type=bind,src=${hostDir},dst=/h,readonly`, 'busybox', 'touch', '/h/x']);
    assert.notEqual(roMount.code, 0);
    expectOk('rw bind', await berth(['run', '--rm', '-v', `${hostDir}:/h`, 'busybox', 'sh', '-c', 'echo back > /h/out']));
    assert.equal(readFileSync(join(hostDir, 'out'), 'utf8'), 'back\n');
    const made = join(hostDir, 'made', 'deep');
    expectOk('-v missing', await berth(['run', '--rm', '-v', `${made}:/m`, 'busybox', 'true']));
    assert.ok(existsSync(made));
    const missing = await berth(['run', '--rm', '--mount', 'type=bind,source=/no/such/dir,target=/x', 'busybox', 'true']);
    assert.equal(missing.code, 125, describeResult('--mount missing', missing));
    assert.match(missing.stderr, /invalid mount config for type "bind": bind source path does not exist: \/no\/such\/dir/);
    const api = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { Mounts: [{ Type: 'bind', Source: '/no/such/dir', Target: '/x' }] } });
    assert.equal(api.status, 400);
  });

  it('tmpfs mounts and --mount volumes with options', T, async () => {
    const r = await berth(['run', '--rm', '--tmpfs', '/scratch:size=1m', 'busybox', 'sh', '-c', 'grep " /scratch " /proc/mounts']);
    assert.match(expectOk('tmpfs', r), /^tmpfs \/scratch tmpfs .*size=1024k/);
    const m = await berth(['run', '--rm', '--mount', 'type=volume,source=mvol,target=/v,volume-label=team=a', 'busybox', 'sh', '-c', 'echo ok > /v/f && cat /v/f']);
    assert.equal(expectOk('--mount volume', m), 'ok\n');
    const labels = expectOk('labels', await berth(['volume', 'inspect', '-f', '{{json .Labels}}', 'mvol'])).trim();
    assert.equal(labels, '{"team":"a"}');
  });

  it('anonymous volumes: -v /path and rm -v removes them but never named ones', T, async () => {
    expectOk('run', await berth(['run', '--name', 'anon', '-v', '/anon', '-v', 'keepme:/named', 'busybox', 'touch', '/anon/f']));
    const mounts = JSON.parse(expectOk('inspect', await berth(['inspect', '-f', '{{json .Mounts}}', 'anon']))) as Array<{ Name: string; Destination: string }>;
    const anon = mounts.find((m) => m.Destination === '/anon')!;
    assert.match(anon.Name, /^[0-9a-f]{64}$/);
    const dangling = expectOk('ls dangling', await berth(['volume', 'ls', '-q', '-f', 'dangling=true']));
    assert.ok(!dangling.includes(anon.Name), 'a volume in use is not dangling');
    expectOk('rm -v', await berth(['rm', '-v', 'anon']));
    const names = expectOk('ls -q', await berth(['volume', 'ls', '-q'])).split('\n');
    assert.ok(!names.includes(anon.Name), 'anonymous volume left after rm -v');
    assert.ok(names.includes('keepme'), 'named volume removed by rm -v');
  });

  it('volume create/ls/inspect/rm/prune and docker errors', T, async () => {
    assert.equal(expectOk('create', await berth(['volume', 'create', '--label', 'env=test', 'made'])), 'made\n');
    const ls = expectOk('ls', await berth(['volume', 'ls', '-f', 'label=env=test']));
    assert.deepEqual(ls.trimEnd().split('\n').map((l) => l.trim().split(/\s+/)), [['DRIVER', 'VOLUME', 'NAME'], ['local', 'made']]);
    const bad = await berth(['volume', 'create', 'bad/name']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /includes invalid characters for a local volume name/);
    assert.equal((await d.api('POST', '/volumes/create', { Name: 'x/y' })).status, 400);
    assert.equal((await d.api('POST', '/volumes/create', { Name: 'opt', DriverOpts: { bogus: '1' } })).status, 400);
    assert.equal((await d.api('GET', '/volumes/nope')).status, 404);
    const missing = await berth(['volume', 'inspect', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /No such volume: nope/);
    const runBad = await berth(['run', '--rm', '-v', 'a:b:c:d', 'busybox', 'true']);
    assert.equal(runBad.code, 125);
    assert.match(runBad.stderr, /invalid volume specification: 'a:b:c:d'/);
    // docker 23+: without -a only anonymous volumes go; named ones need --all.
    const anonOnly = expectOk('prune anonymous', await berth(['volume', 'prune', '-f']));
    assert.doesNotMatch(anonOnly, /\bmade\b/);
    assert.ok(expectOk('ls kept', await berth(['volume', 'ls', '-q'])).split('\n').includes('made'), 'prune without -a removed a named volume');
    const prune = expectOk('prune', await berth(['volume', 'prune', '-a', '-f']));
    assert.match(prune, /Deleted Volumes:\n/);
    assert.match(prune, /\bmade\b/);
    assert.match(prune, /Total reclaimed space: /);
    assert.equal(expectOk('ls after', await berth(['volume', 'ls', '-q'])), '');
    const rmMissing = await berth(['volume', 'rm', 'nope']);
    assert.equal(rmMissing.code, 1);
    assert.match(rmMissing.stderr, /no such volume/);
    expectOk('rm -f missing', await berth(['volume', 'rm', '-f', 'nope']));
  });
});
