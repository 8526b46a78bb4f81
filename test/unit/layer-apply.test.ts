import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { applyLayerTar } from '../../src/snapshot/tar-apply.js';
import { chainIdOf, chainIds } from '../../src/snapshot/chain.js';
import { LayerStore } from '../../src/snapshot/layer-store.js';
import { ContainerLayers } from '../../src/snapshot/container-layers.js';
import { isMountPoint } from '../../src/sys/fs.js';
import { buildTar, chunksOf, tempDir } from './layer-apply-fixtures.js';
import { drainTrash } from '../../src/sys/trash.js';

const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function getfattr(path: string, name: string): string {
  return execFileSync('getfattr', ['--absolute-names', '--only-values', '-h', '-n', name, path], { encoding: 'utf8' });
}

test('chain IDs follow the OCI definition', () => {
  const d0 = sha('layer0');
  const d1 = sha('layer1');
  const d2 = sha('layer2');
  assert.equal(chainIdOf(undefined, d0), d0);
  const c1 = sha(`${d0} ${d1}`);
  assert.equal(chainIdOf(d0, d1), c1);
  assert.deepEqual(chainIds([d0, d1, d2]), [d0, c1, sha(`${c1} ${d2}`)]);
  assert.deepEqual(chainIds([]), []);
});

test('whiteouts become overlay whiteouts: 0:0 char devices and the opaque xattr', async () => {
  const dir = await tempDir('whiteout');
  try {
    const data = await buildTar([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/.wh.passwd', body: '' },
      { name: 'var/', type: 'directory', mode: 0o755 },
      { name: 'var/cache/', type: 'directory', mode: 0o750 },
      { name: 'var/cache/.wh..wh..opq', body: '' },
      { name: 'var/cache/new', body: 'fresh' },
      { name: '.wh.toplevel', body: '' },
      { name: 'opt/.wh..wh.plnk', body: '' },
    ]);
    const result = await applyLayerTar(chunksOf(data), dir.path);
    assert.equal(result.diffId, sha(data));

    for (const hidden of ['etc/passwd', 'toplevel']) {
      const info = await lstat(join(dir.path, hidden));
      assert.ok(info.isCharacterDevice(), `${hidden} is a char device`);
      assert.equal(info.rdev, 0, `${hidden} is device 0:0`);
    }
    const names = await readdir(join(dir.path, 'etc'));
    assert.deepEqual(names, ['passwd'], 'the .wh. file itself is not unpacked');
    assert.equal(getfattr(join(dir.path, 'var/cache'), 'trusted.overlay.opaque'), 'y');
    assert.equal(await readFile(join(dir.path, 'var/cache/new'), 'utf8'), 'fresh');
    assert.deepEqual(await readdir(join(dir.path, 'var/cache')), ['new'], 'no .wh..wh..opq file');
    assert.deepEqual(await readdir(join(dir.path, 'opt')), [], 'aufs metadata entries are skipped');
  } finally {
    await dir.cleanup();
  }
});

test('mode, ownership, times, symlinks, hardlinks, devices and xattrs are preserved', async () => {
  const dir = await tempDir('meta');
  try {
    const mtime = new Date('2021-03-04T05:06:07Z');
    const data = await buildTar([
      { name: 'bin/', type: 'directory', mode: 0o755, mtime },
      { name: 'bin/tool', body: '#!/bin/sh\n', mode: 0o4755, uid: 1234, gid: 5678, mtime },
      { name: 'bin/alias', type: 'link', linkname: 'bin/tool', mode: 0o4755, uid: 1234, gid: 5678 },
      { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8, mtime },
      { name: 'dev/', type: 'directory', mode: 0o755 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/fifo', type: 'fifo', mode: 0o600 },
      { name: 'tagged', body: 'x', pax: { 'SCHILY.xattr.user.note': 'hello' } },
      { name: 'private/', type: 'directory', mode: 0o700, uid: 99, gid: 98, mtime },
      { name: 'private/secret', body: 's', mode: 0o600 },
    ]);
    await applyLayerTar(chunksOf(gzipSync(data)), dir.path);

    const tool = await stat(join(dir.path, 'bin/tool'));
    assert.equal(tool.mode & 0o7777, 0o4755, 'setuid survives chown');
    assert.equal(tool.uid, 1234);
    assert.equal(tool.gid, 5678);
    assert.equal(tool.mtimeMs, mtime.getTime());
    const alias = await stat(join(dir.path, 'bin/alias'));
    assert.equal(alias.ino, tool.ino, 'hardlink shares the inode');
    assert.equal(await readlink(join(dir.path, 'bin/sh')), '/bin/busybox');
    const link = await lstat(join(dir.path, 'bin/sh'));
    assert.equal(link.uid, 7);
    assert.equal(link.mtimeMs, mtime.getTime());
    const devNull = await lstat(join(dir.path, 'dev/null'));
    assert.ok(devNull.isCharacterDevice());
    assert.equal(devNull.rdev, (1 << 8) | 3);
    assert.equal(devNull.mode & 0o777, 0o666);
    assert.ok((await lstat(join(dir.path, 'dev/fifo'))).isFIFO());
    assert.equal(getfattr(join(dir.path, 'tagged'), 'user.note'), 'hello');
    const priv = await stat(join(dir.path, 'private'));
    assert.equal(priv.mode & 0o777, 0o700);
    assert.equal(priv.uid, 99);
    assert.equal(priv.mtimeMs, mtime.getTime(), 'directory mtime is set after its children');
    const bin = await stat(join(dir.path, 'bin'));
    assert.equal(bin.mtimeMs, mtime.getTime());
  } finally {
    await dir.cleanup();
  }
});

test('gzip and plain input give the same diffID (of the uncompressed tar)', async () => {
  const a = await tempDir('gz-a');
  const b = await tempDir('gz-b');
  try {
    const data = await buildTar([{ name: 'f', body: 'content' }]);
    const plain = await applyLayerTar(chunksOf(data, 7), a.path);
    const gz = await applyLayerTar(chunksOf(gzipSync(data), 3), b.path);
    assert.equal(plain.diffId, sha(data));
    assert.equal(gz.diffId, sha(data));
  } finally {
    await a.cleanup();
    await b.cleanup();
  }
});

test('later entries replace earlier ones without writing through them', async () => {
  const dir = await tempDir('replace');
  try {
    const data = await buildTar([
      { name: 'x', body: 'first' },
      { name: 'x', body: 'second' },
      { name: 'd/', type: 'directory' },
      { name: 'd/inner', body: 'i' },
      { name: 'd', body: 'now a file' },
    ]);
    await applyLayerTar(chunksOf(data), dir.path);
    assert.equal(await readFile(join(dir.path, 'x'), 'utf8'), 'second');
    assert.equal(await readFile(join(dir.path, 'd'), 'utf8'), 'now a file');
  } finally {
    await dir.cleanup();
  }
});

test('layer store: chain-keyed dirs, size, dedupe and removal', async () => {
  const dir = await tempDir('layerstore');
  try {
    const store = await LayerStore.open(dir.path);
    const base = await buildTar([{ name: 'a', body: '12345' }, { name: 'l', type: 'symlink', linkname: 'a' }]);
    const top = await buildTar([{ name: 'b', body: 'xy' }]);
    const l0 = await store.applyLayer(undefined, chunksOf(base));
    assert.equal(l0.diffId, sha(base));
    assert.equal(l0.chainId, l0.diffId);
    assert.equal(l0.size, 5 + 1, 'file bytes plus symlink target length');
    const l1 = await store.applyLayer(l0.chainId, chunksOf(top));
    assert.equal(l1.chainId, chainIdOf(l0.chainId, sha(top)));
    assert.equal(store.diffPath(l1.chainId), join(dir.path, 'layers', l1.chainId.slice(7), 'diff'));
    assert.equal(await readFile(join(store.diffPath(l1.chainId), 'b'), 'utf8'), 'xy');

    const again = await store.applyLayer(undefined, chunksOf(base));
    assert.deepEqual(again, l0);
    assert.deepEqual((await readdir(join(dir.path, 'layers'))).sort(), [l0.chainId.slice(7), l1.chainId.slice(7)].sort());

    await assert.rejects(store.applyLayer(undefined, chunksOf(top), { expectedDiffId: sha('other') }), /does not match/);
    await assert.rejects(store.applyLayer(sha('missing'), chunksOf(top)), (e: Error) => /parent layer/.test(e.message));

    const reopened = await LayerStore.open(dir.path);
    assert.equal(reopened.get(l1.chainId)?.parent, l0.chainId);
    await reopened.remove(l1.chainId);
    assert.ok(!reopened.exists(l1.chainId));
    assert.deepEqual(await readdir(join(dir.path, 'layers')), [l0.chainId.slice(7)]);
  } finally {
    await dir.cleanup();
  }
});

test('container layer: overlay of two layers honours whiteouts; unmount and remove clean up', async () => {
  const dir = await tempDir('overlay');
  const containers = await ContainerLayers.open(dir.path);
  try {
    const store = await LayerStore.open(dir.path);
    const l0 = await store.applyLayer(undefined, chunksOf(await buildTar([
      { name: 'keep', body: 'k' },
      { name: 'gone', body: 'g' },
      { name: 'cache/', type: 'directory' },
      { name: 'cache/old', body: 'o' },
    ])));
    const l1 = await store.applyLayer(l0.chainId, chunksOf(await buildTar([
      { name: '.wh.gone', body: '' },
      { name: 'cache/', type: 'directory' },
      { name: 'cache/.wh..wh..opq', body: '' },
      { name: 'cache/new', body: 'n' },
    ])));
    const lowers = [store.diffPath(l1.chainId), store.diffPath(l0.chainId)];
    const layer = await containers.mount('c1', lowers);
    assert.ok(await isMountPoint(layer.mergedDir));
    assert.deepEqual(await containers.mount('c1', lowers), layer, 'mounting twice is a no-op');
    assert.deepEqual((await readdir(layer.mergedDir)).sort(), ['cache', 'keep']);
    assert.deepEqual(await readdir(join(layer.mergedDir, 'cache')), ['new']);

    await writeFile(join(layer.mergedDir, 'written'), 'abcdef');
    assert.equal(await containers.sizeRw('c1'), 6);
    assert.equal(await readFile(join(layer.upperDir, 'written'), 'utf8'), 'abcdef');

    await containers.unmount('c1');
    assert.ok(!(await isMountPoint(layer.mergedDir)));
    await containers.unmount('c1');
    await containers.remove('c1');
    assert.ok(!(await readdir(join(dir.path, 'containers'))).includes('c1'), 'gone under its name at once');
    await drainTrash();
    assert.deepEqual(await readdir(join(dir.path, 'containers')), [], 'and deleted in the background');
    await assert.rejects(containers.create('../escape'), /invalid container ID/);
  } finally {
    await containers.unmount('c1').catch(() => undefined);
    await dir.cleanup();
  }
});

test('container layer: many layers use short numbered lowerdir links; no layers get an empty lower', async () => {
  const dir = await tempDir('manylayers');
  const containers = await ContainerLayers.open(dir.path);
  try {
    const store = await LayerStore.open(dir.path);
    let parent: string | undefined;
    const lowers: string[] = [];
    for (let i = 0; i < 60; i++) {
      const layer = await store.applyLayer(parent, chunksOf(await buildTar([{ name: `f${i}`, body: String(i) }])));
      parent = layer.chainId;
      lowers.unshift(store.diffPath(layer.chainId));
    }
    assert.ok(lowers.join(':').length > 4096, 'absolute lowerdir list exceeds a page');
    const layer = await containers.mount('many', lowers);
    assert.equal((await readdir(layer.mergedDir)).length, 60);
    assert.equal(await readFile(join(layer.mergedDir, 'f59'), 'utf8'), '59');
    await containers.remove('many');

    const empty = await containers.mount('scratch', []);
    assert.deepEqual(await readdir(empty.mergedDir), []);
    await mkdir(join(empty.mergedDir, 'made'));
    await containers.remove('scratch');
  } finally {
    await containers.unmount('many').catch(() => undefined);
    await containers.unmount('scratch').catch(() => undefined);
    await dir.cleanup();
  }
});
