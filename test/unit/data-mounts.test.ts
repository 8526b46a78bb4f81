/**
 * Mount-spec parsing (-v, --mount, --tmpfs), path resolution inside a container root, and the
 * upper dir -> layer tar conversion with whiteouts and opaque directories.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { parseBind, parseMountObject, parseTmpfs, parseVolumesFrom } from '../../src/volume/mount-spec.js';
import { parseMountFlag } from '../../src/cli/commands/volume-flags.js';
import { resolveInRoot } from '../../src/container/mounts.js';
import { upperDirToLayerTar, upperDirChanges } from '../../src/snapshot/diff.js';
import { makeNode, setXattr } from '../../src/sys/fs.js';

describe('mount specs', () => {
  it('parses -v binds, named volumes and modes as docker does', () => {
    assert.deepEqual(
      { ...parseBind('/host/dir:/ctr:ro') },
      { Type: 'bind', Source: '/host/dir', Destination: '/ctr', RW: false, Mode: 'ro', Propagation: 'rprivate', CopyData: false, Origin: 'binds' },
    );
    const named = parseBind('data:/var/lib/x/');
    assert.equal(named.Type, 'volume');
    assert.equal(named.Name, 'data');
    assert.equal(named.Destination, '/var/lib/x');
    assert.equal(named.Mode, 'z');
    assert.equal(parseBind('data:/x:nocopy').CopyData, false);
    assert.equal(parseBind('/a:/b:rshared').Propagation, 'rshared');
    assert.throws(() => parseBind('a:b:c:d'), /invalid volume specification: 'a:b:c:d'/);
    assert.throws(() => parseBind('/a:relative'), /mount path must be absolute/);
    assert.throws(() => parseBind('/a:/'), /destination can't be '\/'/);
    assert.throws(() => parseBind('bad$name:/x'), /includes invalid characters for a local volume name/);
    assert.throws(() => parseBind('/a:/b:bogus'), /invalid mode: bogus/);
  });

  it('parses --mount objects and refuses docker-invalid ones', () => {
    const bind = parseMountObject({ Type: 'bind', Source: '/s', Target: '/t', ReadOnly: true });
    assert.equal(bind.RW, false);
    assert.equal(bind.Origin, 'mounts');
    const anon = parseMountObject({ Type: 'volume', Target: '/v' });
    assert.equal(anon.Anonymous, true);
    const tmpfs = parseMountObject({ Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } });
    assert.deepEqual(tmpfs.TmpfsOptions, ['size=1048576', 'mode=1777']);
    assert.throws(() => parseMountObject({ Type: 'bind', Target: '/t' }), /invalid mount config for type "bind": field Source must not be empty/);
    assert.throws(() => parseMountObject({ Type: 'tmpfs', Source: 'x', Target: '/t' }), /field Source must not be specified/);
    assert.throws(() => parseMountObject({ Type: 'nfs', Target: '/t' }), /mount type unknown/);
    assert.throws(() => parseMountObject({ Type: 'volume' }), /field Target must not be empty/);
  });

  it('parses the --mount CSV, --tmpfs and --volumes-from', () => {
    assert.deepEqual(parseMountFlag('type=bind,src=/a,dst=/b,readonly,bind-propagation=rslave'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true, BindOptions: { Propagation: 'rslave' } });
    assert.deepEqual(parseMountFlag('target=/v,volume-opt=type=tmpfs,volume-opt=device=tmpfs').VolumeOptions, { DriverConfig: { Options: { type: 'tmpfs', device: 'tmpfs' } } });
    assert.equal(parseMountFlag('type=tmpfs,dst=/t,tmpfs-size=64m').TmpfsOptions?.SizeBytes, 64 * 1024 * 1024);
    assert.throws(() => parseMountFlag('type=bind,src=/a'), /target is required/);
    assert.throws(() => parseMountFlag('target=/a,bogus=1'), /unexpected key 'bogus'/);
    assert.deepEqual(parseTmpfs('/run', 'size=64m,mode=1777').TmpfsOptions, ['size=64m', 'mode=1777']);
    assert.throws(() => parseTmpfs('/run', 'size=64m,evil'), /invalid tmpfs option/);
    assert.deepEqual(parseVolumesFrom('c1:ro'), { container: 'c1', mode: 'ro' });
    assert.throws(() => parseVolumesFrom('c1:xx'), /invalid volumes-from/);
  });
});

describe('resolveInRoot', () => {
  it('follows symlinks inside the root and never out of it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-resolve-'));
    try {
      mkdirSync(join(root, 'etc'));
      symlinkSync('/', join(root, 'up'));
      symlinkSync('../../../../etc', join(root, 'dots'));
      symlinkSync('/etc/passwd', join(root, 'abs'));
      assert.equal((await resolveInRoot(root, '/up/etc/shadow')).hostPath, join(root, 'etc/shadow'));
      assert.equal((await resolveInRoot(root, '/dots/x')).hostPath, join(root, 'etc/x'));
      assert.equal((await resolveInRoot(root, '/abs')).hostPath, join(root, 'etc/passwd'));
      assert.equal((await resolveInRoot(root, '/abs', false)).hostPath, join(root, 'abs'));
      assert.equal((await resolveInRoot(root, '/../../x')).containerPath, '/x');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

async function tarEntries(stream: NodeJS.ReadableStream): Promise<Array<{ name: string; type: string; linkname: string | null | undefined; mode: number | undefined }>> {
  const extract = tar.extract();
  (stream as unknown as import('node:stream').Readable).pipe(extract);
  const out = [];
  for await (const entry of extract) {
    out.push({ name: entry.header.name, type: entry.header.type ?? '', linkname: entry.header.linkname, mode: entry.header.mode });
    entry.resume();
  }
  return out;
}

describe('upper dir -> layer tar', () => {
  it('turns whiteouts and opaque dirs into OCI form, keeps hardlinks, sorts, drops runc placeholders', async () => {
    const root = mkdtempSync(join(tmpdir(), 'berth-upper-'));
    const upper = join(root, 'upper');
    const lower = join(root, 'lower');
    try {
      mkdirSync(join(upper, 'etc'), { recursive: true });
      mkdirSync(join(upper, 'opq'));
      mkdirSync(join(lower, 'etc'), { recursive: true });
      mkdirSync(join(lower, 'opq'));
      writeFileSync(join(lower, 'gone'), 'x');
      writeFileSync(join(upper, 'etc', 'hostname'), '');
      writeFileSync(join(upper, 'b'), 'b');
      linkSync(join(upper, 'b'), join(upper, 'a-link'));
      writeFileSync(join(upper, 'opq', 'new'), 'n');
      await makeNode(join(upper, 'gone'), 'char', 0, 0, 0);
      await setXattr(join(upper, 'opq'), 'trusted.overlay.opaque', Buffer.from('y'));
      const entries = await tarEntries(upperDirToLayerTar(upper));
      assert.deepEqual(
        entries.map((e) => `${e.type}:${e.name}${e.linkname ? `->${e.linkname}` : ''}`),
        ['file:a-link', 'link:b->a-link', 'file:.wh.gone', 'directory:opq', 'file:opq/.wh..wh..opq', 'file:opq/new'],
      );
      const changes = await upperDirChanges(upper, [lower]);
      assert.deepEqual(changes, [
        { Path: '/a-link', Kind: 1 },
        { Path: '/b', Kind: 1 },
        { Path: '/gone', Kind: 2 },
        { Path: '/opq', Kind: 0 },
        { Path: '/opq/new', Kind: 1 },
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
