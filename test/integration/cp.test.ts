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
import * as tar from 'tar-stream';

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

  /** A tar made in memory: [name, 'file' | 'directory', content]. */
  const tarOf = async (entries: Array<[string, 'file' | 'directory', string?]>): Promise<Buffer> => {
    const pack = tar.pack();
    for (const [name, type, content] of entries) {
      if (type === 'directory') pack.entry({ name, type, mode: 0o755 });
      else pack.entry({ name, type, mode: 0o644 }, content ?? '');
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  };
  const put = (container: string, path: string, body: Buffer, noOverwrite: boolean) =>
    d.api('PUT', `/containers/${container}/archive?path=${encodeURIComponent(path)}${noOverwrite ? '&noOverwriteDirNonDir=true' : ''}`, body, { headers: { 'Content-Type': 'application/x-tar' } });

  it('noOverwriteDirNonDir refuses dir<->file swaps with docker\'s words; without it the entry replaces', T, async () => {
    expectOk('create', await berth(['run', '--name', 'ow', 'busybox', 'sh', '-c', 'mkdir -p /dst/isdir/inner /dst/keep && echo f > /dst/isfile && echo k > /dst/isdir/inner/k']));
    const fileOverDir = await put('ow', '/dst', await tarOf([['isdir', 'file', 'x']]), true);
    assert.equal(fileOverDir.status, 400, fileOverDir.text);
    assert.match(fileOverDir.text, /cannot overwrite directory \\"\/dst\/isdir\\" with non-directory \\"\/dst\\"/);
    const dirOverFile = await put('ow', '/dst', await tarOf([['isfile', 'directory']]), true);
    assert.equal(dirOverFile.status, 400, dirOverFile.text);
    assert.match(dirOverFile.text, /cannot overwrite non-directory \\"\/dst\/isfile\\" with directory \\"\/dst\\"/);
    // Nothing was changed by the refused uploads.
    expectOk('cp back', await berth(['cp', 'ow:/dst', join(work, 'ow1')]));
    assert.equal(readFileSync(join(work, 'ow1', 'isdir', 'inner', 'k'), 'utf8'), 'k\n');
    assert.equal(readFileSync(join(work, 'ow1', 'isfile'), 'utf8'), 'f\n');
    // A directory over a directory merges, with or without the flag; .wh. names are plain files in cp.
    assert.equal((await put('ow', '/dst', await tarOf([['isdir', 'directory'], ['isdir/new', 'file', 'n'], ['.wh.keep', 'file', 'w']]), true)).status, 200);
    // Without the flag (API clients that ask for it) docker replaces either way.
    assert.equal((await put('ow', '/dst', await tarOf([['isfile', 'directory'], ['isfile/in', 'file', 'i']]), false)).status, 200);
    expectOk('cp back 2', await berth(['cp', 'ow:/dst', join(work, 'ow2')]));
    assert.equal(readFileSync(join(work, 'ow2', 'isdir', 'new'), 'utf8'), 'n');
    assert.equal(readFileSync(join(work, 'ow2', 'isdir', 'inner', 'k'), 'utf8'), 'k\n');
    assert.equal(readFileSync(join(work, 'ow2', '.wh.keep'), 'utf8'), 'w');
    assert.ok(statSync(join(work, 'ow2', 'keep')).isDirectory(), 'a .wh. entry deleted a file during cp');
    assert.equal(readFileSync(join(work, 'ow2', 'isfile', 'in'), 'utf8'), 'i');
    // A "./" entry does not change the extraction point's mode (/tmp stays 1777).
    assert.equal((await put('ow', '/tmp', await tarOf([['./', 'directory'], ['./t', 'file', 't']]), true)).status, 200);
    expectOk('cp tmp', await berth(['cp', 'ow:/tmp', join(work, 'owtmp')]));
    assert.equal(statSync(join(work, 'owtmp')).mode & 0o7777, 0o1777);
  });

  it('cp through the CLI: dir onto a file, file onto a dir entry, missing dir/ give docker\'s errors', T, async () => {
    expectOk('create', await berth(['run', '--name', 'cli', 'busybox', 'sh', '-c', 'mkdir -p /d/name && echo f > /file']));
    const localDir = join(work, 'name');
    mkdirSync(join(localDir, 'sub'), { recursive: true });
    writeFileSync(join(work, 'plain'), 'p\n');
    // Into the container.
    const dirOnFile = await berth(['cp', localDir, 'cli:/file']);
    assert.equal(dirOnFile.code, 1, describeResult('dir onto file', dirOnFile));
    assert.match(dirOnFile.stderr, /cannot copy directory/);
    const noDir = await berth(['cp', join(work, 'plain'), 'cli:/missing/']);
    assert.equal(noDir.code, 1, describeResult('file to missing dir/', noDir));
    assert.match(noDir.stderr, /no such directory/);
    // A local file named like a directory inside the destination: the daemon refuses the swap.
    writeFileSync(join(work, 'fname'), 'x');
    const swap = await berth(['cp', join(work, 'fname'), 'cli:/d/name']);
    assert.equal(swap.code, 0, describeResult('file into existing dir', swap));
    mkdirSync(join(work, 'nest'));
    writeFileSync(join(work, 'nest', 'name'), 'x');
    const refused = await berth(['cp', join(work, 'nest', 'name'), 'cli:/d/']);
    assert.equal(refused.code, 1, describeResult('file over dir', refused));
    assert.match(refused.stderr, /Error response from daemon: cannot overwrite directory "\/d\/name" with non-directory "\/d"/);
    // Out of the container.
    const outDirOnFile = await berth(['cp', 'cli:/d', join(work, 'plain')]);
    assert.equal(outDirOnFile.code, 1, describeResult('dir out onto file', outDirOnFile));
    assert.match(outDirOnFile.stderr, /cannot copy directory/);
    assert.equal(readFileSync(join(work, 'plain'), 'utf8'), 'p\n');
    const outNoDir = await berth(['cp', 'cli:/file', `${join(work, 'absent')}/`]);
    assert.equal(outNoDir.code, 1, describeResult('file out to missing dir/', outNoDir));
    assert.match(outNoDir.stderr, /no such directory/);
    assert.ok(!existsSync(join(work, 'absent')));
  });

  it('overlapping archive requests on a stopped container share its rootfs mount (docker cp sends HEAD then PUT at once)', T, async () => {
    expectOk('create', await berth(['run', '--name', 'race', 'busybox', 'mkdir', '-p', '/r']));
    const body = await tarOf([['f', 'file', 'x']]);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? d.api('HEAD', '/containers/race/archive?path=/r/') : put('race', '/r/', body, true))),
    );
    assert.deepEqual(answers.map((a) => a.status), Array.from({ length: 12 }, () => 200), answers.map((a) => a.text).join('\n'));
    expectOk('rm', await berth(['rm', 'race']));
  });
});
