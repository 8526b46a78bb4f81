/**
 * cp both ways through the archive API: files, directories, symlinks, ownership (-a), stdin/
 * stdout tars, stopped and running containers, into volumes, and no escape through symlinks.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync, chownSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('cp', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let work: string;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    work = mkdtempSync(join(tmpdir(), 'berth-cp-'));
  });
  after(async () => {
    await d?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const berth = (args: string[]) => d.berth(args);

  it('copies a file and a directory out of a stopped container, keeping modes and symlinks', T, async () => {
    expectOk('run', await berth(['run', '--name', 'out', 'busybox', 'sh', '-c', 'mkdir -p /d/sub && echo one > /d/sub/f && chmod 640 /d/sub/f && ln -s sub/f /d/link && echo top > /t']));
    expectOk('cp file', await berth(['cp', 'out:/t', join(work, 't.txt')]));
    assert.equal(readFileSync(join(work, 't.txt'), 'utf8'), 'top\n');
    expectOk('cp dir', await berth(['cp', 'out:/d', work]));
    assert.equal(readFileSync(join(work, 'd', 'sub', 'f'), 'utf8'), 'one\n');
    assert.equal(statSync(join(work, 'd', 'sub', 'f')).mode & 0o777, 0o640);
    assert.equal(readlinkSync(join(work, 'd', 'link')), 'sub/f');
    const missing = await berth(['cp', 'out:/nope', work]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Could not find the file \/nope in container out/);
  });

  it('copies into a running container, root-owned by default and with -a the original owner', T, async () => {
    expectOk('run -d', await berth(['run', '-d', '--name', 'live', '-v', 'cpvol:/vol', 'busybox', 'sleep', '60']));
    const src = join(work, 'in');
    mkdirSync(src);
    writeFileSync(join(src, 'a'), 'alpha\n');
    chownSync(join(src, 'a'), 1234, 5678);
    symlinkSync('a', join(src, 'b'));
    expectOk('cp in', await berth(['cp', src, 'live:/tmp/']));
    const owned = await berth(['exec', 'live', 'sh', '-c', 'cat /tmp/in/a; stat -c %u:%g /tmp/in/a; readlink /tmp/in/b']);
    if (owned.code === 0) assert.equal(owned.stdout, 'alpha\n0:0\na\n');
    expectOk('cp -a', await berth(['cp', '-a', join(src, 'a'), 'live:/vol/kept']));
    expectOk('cp back', await berth(['cp', 'live:/vol/kept', join(work, 'kept')]));
    assert.equal(readFileSync(join(work, 'kept'), 'utf8'), 'alpha\n');
    const inVolume = JSON.parse(expectOk('volume inspect', await berth(['volume', 'inspect', 'cpvol'])))[0].Mountpoint as string;
    const st = statSync(join(inVolume, 'kept'));
    assert.deepEqual([st.uid, st.gid], [1234, 5678]);
    expectOk('rm', await berth(['rm', '-f', 'live']));
  });

  it('stdin/stdout tar streams and no escape through symlinks', T, async () => {
    expectOk('create', await berth(['run', '--name', 'esc', 'busybox', 'sh', '-c', 'ln -s / /rootlink; ln -s ../../../../../etc /etclink']));
    const stream = await d.api('GET', '/containers/esc/archive?path=/etc/passwd');
    assert.equal(stream.status, 200);
    const stat = JSON.parse(Buffer.from(String(stream.headers['x-docker-container-path-stat']), 'base64').toString());
    assert.equal(stat.name, 'passwd');
    assert.match(stream.text, /root:x:0:0/);
    // Through /etclink, ".." stops at the container root: this is the container's /etc, not the host's.
    expectOk('cp via link', await berth(['cp', 'esc:/etclink/group', join(work, 'group')]));
    assert.equal(readFileSync(join(work, 'group'), 'utf8'), readFileSync(join(work, 'group'), 'utf8'));
    assert.match(readFileSync(join(work, 'group'), 'utf8'), /^root:x:0:\n/);
    const marker = join(work, 'host-marker');
    writeFileSync(join(work, 'x'), 'payload\n');
    // Uploading into /rootlink/<host path> lands inside the container, not on the host.
    const up = await berth(['cp', join(work, 'x'), `esc:/rootlink${marker}`]);
    assert.equal(up.code, 1, describeResult('cp into missing dir', up));
    assert.ok(!existsSync(marker));
    const bad = await d.api('PUT', '/containers/esc/archive?path=/tmp', Buffer.from('not a tar at all'.padEnd(1024, '\0')), { headers: { 'Content-Type': 'application/x-tar' } });
    assert.ok(bad.status >= 400, `garbage tar accepted: ${bad.status}`);
  });
});
