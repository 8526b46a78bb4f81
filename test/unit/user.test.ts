import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveUser, parsePasswd, parseGroup } from '../../src/runtime/user.js';
import { resolveInRoot } from '../../src/runtime/rootfs-path.js';
import { isBerthError } from '../../src/util/errors.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
broken line
app:x:1000:1000:App:/home/app:/bin/sh
1234:x:4321:4321::/home/numeric:/bin/sh
`;

const GROUP = `root:x:0:
daemon:x:1:
app:x:1000:
audio:x:29:app,other
video:x:44:other
staff:x:50: app
`;

let tmp: string;

function makeRoot(name: string, files: Record<string, string>): string {
  const root = join(tmp, name);
  mkdirSync(join(root, 'etc'), { recursive: true });
  for (const [path, content] of Object.entries(files)) writeFileSync(join(root, path), content);
  return root;
}

describe('resolveUser', () => {
  let root: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'berth-user-'));
    root = makeRoot('image', { 'etc/passwd': PASSWD, 'etc/group': GROUP });
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('resolves the empty user to root with its home', async () => {
    assert.deepEqual(await resolveUser(root, ''), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  });

  it('resolves a name to its uid, primary gid, home and supplementary groups', async () => {
    assert.deepEqual(await resolveUser(root, 'app'), { uid: 1000, gid: 1000, additionalGids: [29, 50], home: '/home/app' });
  });

  it('resolves a known uid like its name', async () => {
    assert.deepEqual(await resolveUser(root, '1000'), { uid: 1000, gid: 1000, additionalGids: [29, 50], home: '/home/app' });
  });

  it('prefers a passwd name that looks like a number', async () => {
    assert.equal((await resolveUser(root, '1234')).uid, 4321);
  });

  it('accepts an unknown numeric uid with gid 0 and home /', async () => {
    assert.deepEqual(await resolveUser(root, '5000'), { uid: 5000, gid: 0, additionalGids: [], home: '/' });
    assert.deepEqual(await resolveUser(root, '5000:6000'), { uid: 5000, gid: 6000, additionalGids: [], home: '/' });
  });

  it('uses an explicit group by name or number and then skips supplementary groups', async () => {
    assert.deepEqual(await resolveUser(root, 'app:video'), { uid: 1000, gid: 44, additionalGids: [], home: '/home/app' });
    assert.deepEqual(await resolveUser(root, '1000:29'), { uid: 1000, gid: 29, additionalGids: [], home: '/home/app' });
    assert.deepEqual(await resolveUser(root, ':audio'), { uid: 0, gid: 29, additionalGids: [], home: '/root' });
  });

  it("fails an unknown name with docker's message, as a server-side error", async () => {
    await assert.rejects(resolveUser(root, 'nobody'), (err) => isBerthError(err, 'system') && err.message === 'unable to find user nobody: no matching entries in passwd file');
    await assert.rejects(resolveUser(root, 'app:nogroup'), (err) => isBerthError(err, 'system') && err.message === 'unable to find group nogroup: no matching entries in group file');
  });

  it('appends --group-add groups by name or number', async () => {
    assert.deepEqual((await resolveUser(root, 'app', ['video', '777', 'audio'])).additionalGids, [29, 50, 44, 777]);
    await assert.rejects(resolveUser(root, 'app', ['missing']), /Unable to find group missing/);
  });

  it('rejects ids out of range', async () => {
    await assert.rejects(resolveUser(root, '4294967296'), /uids and gids must be in range/);
  });

  it('works without passwd and group files for numeric users only', async () => {
    const bare = makeRoot('bare', {});
    assert.deepEqual(await resolveUser(bare, ''), { uid: 0, gid: 0, additionalGids: [], home: '/' });
    assert.deepEqual(await resolveUser(bare, '10:20'), { uid: 10, gid: 20, additionalGids: [], home: '/' });
    await assert.rejects(resolveUser(bare, 'app'), /unable to find user app/);
  });

  it('follows symlinks inside the rootfs but never out of it', async () => {
    // /etc/passwd -> /real/passwd must mean ROOTFS/real/passwd, not the host's file.
    const linked = makeRoot('linked', {});
    mkdirSync(join(linked, 'real'));
    writeFileSync(join(linked, 'real/passwd'), 'svc:x:700:700::/srv:/bin/sh\n');
    symlinkSync('/real/passwd', join(linked, 'etc/passwd'));
    // Enough ../ to leave any host path: inside the root it stops at ROOTFS/, never above it.
    writeFileSync(join(linked, 'real/group'), 'inside:x:900:svc\n');
    symlinkSync('../../../../../../../real/group', join(linked, 'etc/group'));
    assert.deepEqual(await resolveUser(linked, 'svc'), { uid: 700, gid: 700, additionalGids: [900], home: '/srv' });

    const looping = makeRoot('looping', {});
    symlinkSync('/etc/passwd', join(looping, 'etc/passwd'));
    await assert.rejects(resolveUser(looping, 'root'), /too many levels of symbolic links/);
  });
});

describe('resolveInRoot', () => {
  it('keeps .. and absolute links inside the root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-rip-'));
    try {
      mkdirSync(join(root, 'a/b'), { recursive: true });
      symlinkSync('/a', join(root, 'a/b/up'));
      symlinkSync('../../../../..', join(root, 'a/dots'));
      assert.equal(await resolveInRoot(root, '/a/b/up/b'), join(root, 'a/b'));
      assert.equal(await resolveInRoot(root, '/../../etc/passwd'), join(root, 'etc/passwd'));
      assert.equal(await resolveInRoot(root, '/a/dots/etc/shadow'), join(root, 'etc/shadow'));
      assert.equal(await resolveInRoot(root, 'missing/file'), join(root, 'missing/file'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('passwd and group parsing', () => {
  it('skips comments and malformed lines', () => {
    assert.deepEqual(parsePasswd(PASSWD).map((p) => p.name), ['root', 'daemon', 'app', '1234']);
    const staff = parseGroup(GROUP).find((g) => g.name === 'staff');
    assert.deepEqual(staff?.members, ['app']);
  });
});
