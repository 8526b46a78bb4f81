import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ImageStore } from '../../src/image/store.js';
import { encodeImageConfig } from '../../src/image/config-json.js';
import type { ImageConfig, RemoveImageOptions } from '../../src/image/types.js';
import { isBerthError } from '../../src/util/errors.js';
import { buildTar, tempDir } from './layer-apply-fixtures.js';

const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const short = (id: string) => id.slice(7, 19);

const notUsed: RemoveImageOptions = { force: false, noprune: false, isInUse: () => ({ inUse: false, running: false }) };
const usedBy = (running: boolean, containerId = 'c0ffee'.repeat(10)): RemoveImageOptions['isInUse'] => () => ({ inUse: true, running, containerId });

async function rootfsTar(marker: string): Promise<Buffer> {
  return buildTar([
    { name: 'bin/', type: 'directory', mode: 0o755 },
    { name: 'bin/hello', body: `#!/bin/sh\necho ${marker}\n`, mode: 0o755 },
  ]);
}

async function expectError(promise: Promise<unknown> | (() => unknown), kind: 'conflict' | 'notFound' | 'invalidParameter', message: string | RegExp): Promise<void> {
  const run = typeof promise === 'function' ? Promise.resolve().then(promise) : promise;
  await assert.rejects(run, (err: unknown) => {
    assert.ok(isBerthError(err, kind), `expected ${kind}, got ${String(err)}`);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('import builds docker-shaped config, keeps the layer and its tar, and tags', async () => {
  const dir = await tempDir('import');
  try {
    const store = await ImageStore.open(dir.path);
    const tar = await rootfsTar('one');
    const image = await store.importRootfs(Readable.from([gzipSync(tar)]), {
      repo: 'example/app',
      tag: 'v1',
      changes: ['CMD ["/bin/hello"]', 'ENV A=b'],
    });
    const raw = await readFile(join(dir.path, 'blobs/sha256', image.id.slice(7)));
    assert.equal(sha(raw), image.id, 'image ID is the digest of the stored config bytes');
    assert.deepEqual(raw, encodeImageConfig(image.config), 'stored bytes are the canonical encoding');
    const parsed = JSON.parse(raw.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed), ['architecture', 'comment', 'config', 'container_config', 'created', 'docker_version', 'history', 'os', 'rootfs']);
    assert.equal(image.config.comment, 'Imported from -');
    assert.deepEqual(image.config.history, [{ created: image.config.created, comment: 'Imported from -' }]);
    assert.deepEqual(image.config.config.Cmd, ['/bin/hello']);
    assert.deepEqual(image.config.config.Env, ['A=b']);
    assert.equal(image.config.container_config?.Cmd, null);
    assert.equal(image.config.os, 'linux');
    assert.deepEqual(image.config.rootfs, { type: 'layers', diff_ids: [sha(tar)] });
    assert.deepEqual(image.repoTags, ['example/app:v1']);
    assert.deepEqual(image.chainIds, [sha(tar)]);
    assert.equal(image.parent, '');
    assert.ok(image.lastTagTime);
    assert.equal(image.size, (await stat(join(store.layerPaths(image.id)[0]!, 'bin/hello'))).size);
    assert.deepEqual(await readFile(store.layerTarPath(sha(tar))), tar, 'the uncompressed layer tar is kept by diffID');

    const untagged = await store.importRootfs(Readable.from([tar]), { message: 'my message' });
    assert.deepEqual(untagged.repoTags, []);
    assert.equal(untagged.config.comment, 'my message');
    assert.deepEqual(untagged.chainIds, image.chainIds, 'same tar, same layer');
    assert.equal(store.layers.list().length, 1);
    assert.deepEqual(store.list().map((i) => i.id).sort(), [image.id, untagged.id].sort());

    await expectError(store.importRootfs(Readable.from([tar]), { changes: ['RUN x'] }), 'invalidParameter', 'run is not a valid change command');
    await expectError(store.importRootfs(Readable.from([tar]), { repo: `a@sha256:${'1'.repeat(64)}` }), 'invalidParameter', 'cannot import digest reference');
    await expectError(store.importRootfs(Readable.from([tar.subarray(0, 700)]), {}), 'invalidParameter', /truncated/);
    assert.equal(store.list().length, 2, 'failed imports leave no image');
    assert.deepEqual(await readdir(join(dir.path, 'blobs/ingest')), [], 'no half-written blobs');
  } finally {
    await dir.cleanup();
  }
});

test('resolve by name, tag, full ID, sha256: prefix and bare prefix; not found and ambiguity', async () => {
  const dir = await tempDir('resolve');
  try {
    const store = await ImageStore.open(dir.path);
    const image = await store.importRootfs(Readable.from([await rootfsTar('r')]), { repo: 'busybox' });
    const hex = image.id.slice(7);
    for (const input of ['busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest', image.id, hex, hex.slice(0, 12), `sha256:${hex.slice(0, 5)}`]) {
      assert.equal(store.resolve(input).id, image.id, input);
    }
    assert.equal(store.tryResolve('nope'), undefined);
    await expectError(() => store.resolve('nope'), 'notFound', 'No such image: nope:latest');
    await expectError(() => store.resolve('busybox:1'), 'notFound', 'No such image: busybox:1');
    await expectError(() => store.resolve(`sha256:${'0'.repeat(64)}`), 'notFound', `No such image: sha256:${'0'.repeat(64)}`);
    await expectError(() => store.resolve('Bad'), 'invalidParameter', 'invalid reference format: repository name must be lowercase');

    // Empty-layer configs are cheap: make images until two IDs share a first hex digit.
    const firstDigits = new Map<string, string>([[hex[0]!, image.id]]);
    let clash: [string, string] | undefined;
    for (let i = 0; !clash; i++) {
      const config: ImageConfig = { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, comment: `n${i}` };
      const made = await store.createImage(config);
      const seen = firstDigits.get(made.id[7]!);
      if (seen) clash = [seen, made.id];
      else firstDigits.set(made.id[7]!, made.id);
    }
    await expectError(() => store.resolve(clash[0].slice(7, 8)), 'invalidParameter', /ambiguous image ID prefix/);
  } finally {
    await dir.cleanup();
  }
});

test('tag adds or moves references; digests and "sha256" names are refused', async () => {
  const dir = await tempDir('tag');
  try {
    const store = await ImageStore.open(dir.path);
    const a = await store.importRootfs(Readable.from([await rootfsTar('a')]), { repo: 'app', tag: '1' });
    const b = await store.importRootfs(Readable.from([await rootfsTar('b')]), {});
    await store.tag(a.id, 'app:latest');
    await store.tag('app:1', 'registry.local:5000/team/app');
    assert.deepEqual(store.resolve(a.id).repoTags, ['app:1', 'app:latest', 'registry.local:5000/team/app:latest']);
    await store.tag(b.id.slice(7, 19), 'app');
    assert.deepEqual(store.resolve(a.id).repoTags, ['app:1', 'registry.local:5000/team/app:latest']);
    assert.deepEqual(store.resolve(b.id).repoTags, ['app:latest']);
    await expectError(store.tag(a.id, `app@sha256:${'1'.repeat(64)}`), 'invalidParameter', 'refusing to create a tag with a digest reference');
    await expectError(store.tag(a.id, 'sha256:abc'), 'invalidParameter', /ambiguous tag using digest algorithm/);
    await expectError(store.tag('missing', 'x'), 'notFound', 'No such image: missing:latest');

    const reopened = await ImageStore.open(dir.path);
    assert.deepEqual(reopened.resolve('app:1').repoTags, ['app:1', 'registry.local:5000/team/app:latest']);
    assert.equal(reopened.resolve('app').id, b.id);
    assert.equal(reopened.resolve(b.id).lastTagTime, store.resolve(b.id).lastTagTime);
  } finally {
    await dir.cleanup();
  }
});

test('remove: untag only while other tags remain; by ID needs force with several repositories', async () => {
  const dir = await tempDir('rmi');
  try {
    const store = await ImageStore.open(dir.path);
    const image = await store.importRootfs(Readable.from([await rootfsTar('x')]), { repo: 'one' });
    await store.tag(image.id, 'two:t');
    const layerDir = store.layerPaths(image.id)[0]!;

    assert.deepEqual(await store.remove('two:t', notUsed), [{ Untagged: 'two:t' }]);
    await store.tag(image.id, 'two:t');
    await expectError(
      store.remove(short(image.id), notUsed),
      'conflict',
      `conflict: unable to delete ${short(image.id)} (must be forced) - image is referenced in multiple repositories`,
    );
    const removed = await store.remove(short(image.id), { ...notUsed, force: true });
    assert.deepEqual(removed, [{ Untagged: 'one:latest' }, { Untagged: 'two:t' }, { Deleted: image.id }, { Deleted: image.chainIds[0]! }]);
    assert.equal(store.list().length, 0);
    await assert.rejects(stat(layerDir), /ENOENT/);
    assert.deepEqual(await readdir(join(dir.path, 'blobs/sha256')), [], 'config and layer tar blobs are gone');
    assert.deepEqual(await readdir(join(dir.path, 'imagedb')), []);
    const reopened = await ImageStore.open(dir.path);
    assert.equal(reopened.list().length, 0);
  } finally {
    await dir.cleanup();
  }
});

test('remove: containers using the image', async () => {
  const dir = await tempDir('rmi-inuse');
  try {
    const store = await ImageStore.open(dir.path);
    const image = await store.importRootfs(Readable.from([await rootfsTar('u')]), { repo: 'used' });
    const container = 'c0ffee'.repeat(10);
    await expectError(
      store.remove('used', { ...notUsed, isInUse: usedBy(false) }),
      'conflict',
      `conflict: unable to remove repository reference "used" (must force) - container ${container.slice(0, 12)} is using its referenced image ${short(image.id)}`,
    );
    await expectError(
      store.remove(image.id, { ...notUsed, isInUse: usedBy(false) }),
      'conflict',
      `conflict: unable to delete ${short(image.id)} (must be forced) - image is being used by stopped container ${container.slice(0, 12)}`,
    );
    await expectError(
      store.remove(image.id, { ...notUsed, force: true, isInUse: usedBy(true) }),
      'conflict',
      `conflict: unable to delete ${short(image.id)} (cannot be forced) - image is being used by running container ${container.slice(0, 12)}`,
    );
    // Forcing by name while a container runs only takes the name away, as docker does.
    assert.deepEqual(await store.remove('used', { ...notUsed, force: true, isInUse: usedBy(true) }), [{ Untagged: 'used:latest' }]);
    assert.equal(store.resolve(image.id).repoTags.length, 0);
    // A stopped container does not stop a forced delete, but its layers stay for it.
    const items = await store.remove(image.id, { ...notUsed, force: true, isInUse: usedBy(false) });
    assert.deepEqual(items, [{ Deleted: image.id }]);
    assert.ok((await stat(store.layers.diffPath(image.chainIds[0]!))).isDirectory());
  } finally {
    await dir.cleanup();
  }
});

test('remove: shared layers stay until the last image using them goes; children and pruning', async () => {
  const dir = await tempDir('rmi-shared');
  try {
    const store = await ImageStore.open(dir.path);
    const tar = await rootfsTar('s');
    const first = await store.importRootfs(Readable.from([tar]), { repo: 'first' });
    const second = await store.importRootfs(Readable.from([tar]), { repo: 'second' });
    assert.notEqual(first.id, second.id);
    assert.deepEqual(await store.remove('first', notUsed), [{ Untagged: 'first:latest' }, { Deleted: first.id }]);
    assert.ok(store.layers.exists(second.chainIds[0]!), 'layer still used by the second image');
    assert.ok((await stat(store.layerTarPath(second.config.rootfs.diff_ids[0]!))).isFile());

    // A child built on `second` with one more layer.
    const top = await store.applyLayer(second.chainIds[0], Readable.from([await buildTar([{ name: 'extra', body: 'e' }])]));
    const child = await store.createImage(
      { ...second.config, rootfs: { type: 'layers', diff_ids: [...second.config.rootfs.diff_ids, top.diffId] } },
      { parent: second.id },
    );
    assert.equal(child.parent, second.id);
    assert.equal(store.layerPaths(child.id).length, 2);
    assert.equal(store.layerPaths(child.id)[0], store.layers.diffPath(top.chainId), 'topmost layer first');
    assert.deepEqual(store.layerSizes(child.id), [store.layers.get(second.chainIds[0]!)!.size, 1], 'own size of each layer, bottom first');
    await store.tag(child.id, 'child');
    await store.remove('second', notUsed);
    await expectError(
      store.remove(second.id, { ...notUsed, force: true }),
      'conflict',
      `conflict: unable to delete ${short(second.id)} (cannot be forced) - image has dependent child images`,
    );
    // Removing the child prunes the now-dangling parent, and every layer goes.
    const items = await store.remove('child', notUsed);
    assert.deepEqual(items, [
      { Untagged: 'child:latest' },
      { Deleted: child.id },
      { Deleted: top.chainId },
      { Deleted: second.id },
      { Deleted: second.chainIds[0]! },
    ]);
    assert.equal(store.list().length, 0);
    assert.equal(store.layers.list().length, 0);
  } finally {
    await dir.cleanup();
  }
});

test('createImage refuses configs whose layers are not unpacked', async () => {
  const dir = await tempDir('create');
  try {
    const store = await ImageStore.open(dir.path);
    await expectError(
      store.createImage({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha('nothing')] } }),
      'notFound',
      /is not unpacked/,
    );
    await expectError(store.createImageFromConfigBytes(Buffer.from('{nope')), 'invalidParameter', /invalid image config/);
  } finally {
    await dir.cleanup();
  }
});
