import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { applyLayerTar } from '../../src/snapshot/tar-apply.js';
import { LayerStore } from '../../src/snapshot/layer-store.js';
import { isBerthError } from '../../src/util/errors.js';
import { buildTar, chunksOf, tempDir, type TarEntry } from './layer-apply-fixtures.js';

/**
 * Each case unpacks into <tmp>/target next to <tmp>/outside (holding a sentinel file) and
 * checks that the tar is refused and that nothing outside the target changed.
 */
async function assertRefused(entries: TarEntry[] | Buffer, message: RegExp): Promise<void> {
  const dir = await tempDir('safety');
  try {
    const target = join(dir.path, 'target');
    const outside = join(dir.path, 'outside');
    await mkdir(target);
    await mkdir(outside);
    await writeFile(join(outside, 'sentinel'), 'original');
    const data = Buffer.isBuffer(entries) ? entries : await buildTar(entries);
    await assert.rejects(applyLayerTar(chunksOf(data, 512), target), (err: unknown) => {
      assert.ok(isBerthError(err, 'invalidParameter'), `expected invalidParameter, got ${String(err)}`);
      assert.match((err as Error).message, message);
      return true;
    });
    assert.deepEqual(await readdir(outside), ['sentinel']);
    assert.equal(await readFile(join(outside, 'sentinel'), 'utf8'), 'original');
    assert.deepEqual((await readdir(dir.path)).sort(), ['outside', 'target']);
  } finally {
    await dir.cleanup();
  }
}

test('".." in an entry name is refused', async () => {
  await assertRefused([{ name: '../outside/sentinel', body: 'pwned' }], /"\.\." would leave/);
  await assertRefused([{ name: 'a/../../outside/new', body: 'pwned' }], /"\.\." would leave/);
});

test('absolute entry names are refused', async () => {
  await assertRefused([{ name: '/tmp/berth-absolute-escape', body: 'pwned' }], /absolute paths/);
});

test('an entry below a symlink is refused, never followed', async () => {
  // The classic escape: a -> / then a/etc/passwd; here a -> ../outside so the test is harmless.
  await assertRefused(
    [
      { name: 'a', type: 'symlink', linkname: '../outside' },
      { name: 'a/sentinel', body: 'pwned' },
    ],
    /parent a is a symlink/,
  );
  await assertRefused(
    [
      { name: 'root', type: 'symlink', linkname: '/' },
      { name: 'root/etc/passwd', body: 'pwned' },
    ],
    /parent root is a symlink/,
  );
  await assertRefused(
    [
      { name: 'd', type: 'symlink', linkname: '../outside' },
      { name: 'd/sub/', type: 'directory' },
    ],
    /parent d is a symlink/,
  );
});

test('hardlinks may only point inside the layer', async () => {
  await assertRefused([{ name: 'h', type: 'link', linkname: '../outside/sentinel' }], /"\.\." would leave/);
  await assertRefused([{ name: 'h', type: 'link', linkname: '/etc/passwd' }], /absolute paths/);
  await assertRefused([{ name: 'h', type: 'link', linkname: 'missing' }], /not in the layer/);
  await assertRefused(
    [
      { name: 's', type: 'symlink', linkname: '../outside' },
      { name: 'h', type: 'link', linkname: 's/sentinel' },
    ],
    /parent s is a symlink/,
  );
});

test('a file entry replaces a symlink of the same name instead of writing through it', async () => {
  const dir = await tempDir('through');
  try {
    const target = join(dir.path, 'target');
    await mkdir(target);
    await writeFile(join(dir.path, 'victim'), 'original');
    const data = await buildTar([
      { name: 'f', type: 'symlink', linkname: '../victim' },
      { name: 'f', body: 'replaced' },
      { name: 'g', type: 'symlink', linkname: '../victim' },
      { name: 'h', type: 'link', linkname: 'g' },
    ]);
    await applyLayerTar(chunksOf(data), target);
    assert.equal(await readFile(join(dir.path, 'victim'), 'utf8'), 'original');
    assert.equal(await readFile(join(target, 'f'), 'utf8'), 'replaced');
    assert.ok((await lstat(join(target, 'f'))).isFile());
    // A hardlink to a symlink is a second name for the symlink, not for what it points at.
    assert.equal(await readlink(join(target, 'h')), '../victim');
  } finally {
    await dir.cleanup();
  }
});

test('a truncated tar is refused', async () => {
  const data = await buildTar([
    { name: 'big', body: Buffer.alloc(10_000, 1) },
    { name: 'after', body: 'x' },
  ]);
  await assertRefused(data.subarray(0, 5_000), /truncated/);
  await assertRefused(gzipSync(data).subarray(0, 40), /invalid gzip data|truncated/);
});

test('a corrupt tar header is refused', async () => {
  const data = await buildTar([{ name: 'a', body: 'x' }]);
  const corrupt = Buffer.from(data);
  corrupt.fill(0x41, 100, 160); // mode/uid/gid/size fields become garbage, checksum fails
  await assertRefused(corrupt, /corrupt/);
});

test('layer store removes the partial layer when a tar is refused', async () => {
  const dir = await tempDir('partial');
  try {
    const store = await LayerStore.open(dir.path);
    const data = await buildTar([
      { name: 'ok', body: 'fine' },
      { name: 'a', type: 'symlink', linkname: '/' },
      { name: 'a/etc/shadow', body: 'pwned' },
    ]);
    await assert.rejects(store.applyLayer(undefined, chunksOf(data)), /symlink/);
    assert.deepEqual(await readdir(join(dir.path, 'layers')), [], 'no temp or final layer dir is left');
    assert.equal(store.list().length, 0);
    const truncated = (await buildTar([{ name: 'big', body: Buffer.alloc(4096, 2) }])).subarray(0, 2048);
    await assert.rejects(store.applyLayer(undefined, chunksOf(truncated)), /truncated/);
    assert.deepEqual(await readdir(join(dir.path, 'layers')), []);
  } finally {
    await dir.cleanup();
  }
});
