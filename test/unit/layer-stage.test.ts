/**
 * Staged layers: unpacked privately, published only by commit() after its checks, thrown away
 * by discard() or by a failed commit. What a pull relies on: nothing unverified is ever visible
 * under a chain ID or as a content blob, and layers staged concurrently commit in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chainIdOf } from '../../src/snapshot/chain.js';
import { LayerStore } from '../../src/snapshot/layer-store.js';
import { ContentStore } from '../../src/image/content.js';
import { ImageStore } from '../../src/image/store.js';
import { buildTar, chunksOf, tempDir } from './layer-apply-fixtures.js';

const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Names under ROOT/layers, ROOT/blobs/sha256 and ROOT/blobs/ingest (what a failure must not leave). */
async function visible(root: string): Promise<{ layers: string[]; blobs: string[]; ingest: string[] }> {
  const list = (path: string) => readdir(path).then((names) => names.sort(), () => []);
  return { layers: await list(join(root, 'layers')), blobs: await list(join(root, 'blobs', 'sha256')), ingest: await list(join(root, 'blobs', 'ingest')) };
}

/** Yields `data` in small pieces with a pause between them, so several streams interleave. */
async function* trickle(data: Buffer, size = 4096): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) {
    await new Promise((resolve) => setImmediate(resolve));
    yield data.subarray(i, i + size);
  }
}

test('layer store: a discarded stage leaves nothing, a committed one is whole', async () => {
  const dir = await tempDir('stage-discard');
  try {
    const store = await LayerStore.open(dir.path);
    const data = await buildTar([{ name: 'a', body: 'alpha' }]);
    const staged = await store.stageLayer(chunksOf(data));
    assert.equal(staged.diffId, sha(data));
    const [temp] = (await visible(dir.path)).layers;
    assert.match(temp ?? '', /^\.tmp-/, 'staged under a temp name only');
    assert.ok(!store.exists(sha(data)));
    await staged.discard();
    await staged.discard(); // idempotent
    assert.deepEqual((await visible(dir.path)).layers, []);
    await assert.rejects(staged.commit(undefined), /already committed or discarded/);

    const again = await store.stageLayer(chunksOf(data));
    const result = await again.commit(undefined, { expectedDiffId: sha(data) });
    assert.deepEqual(result, { chainId: sha(data), diffId: sha(data), size: 5 });
    assert.deepEqual((await visible(dir.path)).layers, [sha(data).slice(7)]);
    assert.equal(await readFile(join(store.diffPath(result.chainId), 'a'), 'utf8'), 'alpha');
    await again.discard(); // a no-op after commit
    assert.ok(store.exists(result.chainId));
    await assert.rejects(again.commit(undefined), /already committed or discarded/);
  } finally {
    await dir.cleanup();
  }
});

test('layer store: a commit whose checks fail publishes nothing and removes the stage', async () => {
  const dir = await tempDir('stage-refuse');
  try {
    const store = await LayerStore.open(dir.path);
    const data = await buildTar([{ name: 'b', body: 'beta' }]);
    const wrong = await store.stageLayer(chunksOf(data));
    let hookRan = false;
    await assert.rejects(wrong.commit(undefined, { expectedDiffId: sha('other'), onVerified: async () => void (hookRan = true) }), /does not match/);
    assert.equal(hookRan, false, 'onVerified runs only after the checks passed');
    const orphan = await store.stageLayer(chunksOf(data));
    await assert.rejects(orphan.commit(sha('missing parent')), /parent layer .* does not exist/);
    assert.deepEqual((await visible(dir.path)).layers, []);
    assert.deepEqual(store.list(), []);
  } finally {
    await dir.cleanup();
  }
});

test('layer store: a stage a crash left behind is removed on open', async () => {
  const dir = await tempDir('stage-crash');
  try {
    const store = await LayerStore.open(dir.path);
    await store.stageLayer(chunksOf(await buildTar([{ name: 'c', body: 'gamma' }])));
    assert.equal((await visible(dir.path)).layers.length, 1);
    const reopened = await LayerStore.open(dir.path);
    assert.deepEqual((await visible(dir.path)).layers, []);
    assert.deepEqual(reopened.list(), []);
  } finally {
    await dir.cleanup();
  }
});

test('image store: layers staged concurrently (plain and gzip) commit bottom up with their tar blobs', async () => {
  const dir = await tempDir('stage-concurrent');
  try {
    const store = await ImageStore.open(dir.path);
    const tars = await Promise.all([
      buildTar([{ name: 'base', body: randomBytes(200_000) }, { name: 'shared', body: 'bottom' }]),
      buildTar([{ name: 'middle', body: randomBytes(150_000) }, { name: 'shared', body: 'middle' }]),
      buildTar([{ name: 'top', body: 'top' }, { name: '.wh.base', body: '' }]),
    ]);
    // All three stream at once; the top one finishes first.
    const staged = await Promise.all([
      store.stageLayer(trickle(gzipSync(tars[0]!))),
      store.stageLayer(trickle(tars[1]!)),
      store.stageLayer(chunksOf(tars[2]!)),
    ]);
    assert.deepEqual(staged.map((s) => s.diffId), tars.map((t) => sha(t)), 'the diffID is the uncompressed tar\'s');
    assert.deepEqual((await visible(dir.path)).blobs, [], 'no blob before commit');
    let parent: string | undefined;
    for (const [i, layer] of staged.entries()) {
      const result = await layer.commit(parent, { expectedDiffId: sha(tars[i]!) });
      assert.equal(result.chainId, chainIdOf(parent, sha(tars[i]!)));
      assert.ok(await readFile(store.layerTarPath(result.diffId)).then((b) => b.equals(tars[i]!)), `layer ${i}'s tar blob holds the uncompressed tar`);
      parent = result.chainId;
    }
    const top = store.layers.diffPath(parent!);
    assert.equal(await readFile(join(top, 'top'), 'utf8'), 'top');
    assert.equal(await readFile(join(store.layers.diffPath(chainIdOf(sha(tars[0]!), sha(tars[1]!))), 'shared'), 'utf8'), 'middle');
    const after = await visible(dir.path);
    assert.equal(after.layers.filter((n) => n.startsWith('.')).length, 0, 'no temp dirs left');
    assert.deepEqual(after.ingest, []);
    assert.deepEqual(after.blobs, tars.map((t) => sha(t).slice(7)).sort());
  } finally {
    await dir.cleanup();
  }
});

test('image store: a discarded stage and a refused commit leave no layer, no blob, no ingest', async () => {
  const dir = await tempDir('stage-image-refuse');
  try {
    const store = await ImageStore.open(dir.path);
    const data = await buildTar([{ name: 'd', body: randomBytes(50_000) }]);
    const dropped = await store.stageLayer(chunksOf(data));
    assert.equal((await visible(dir.path)).ingest.length, 1, 'the tar is in an open ingest while staged');
    await dropped.discard();
    assert.deepEqual(await visible(dir.path), { layers: [], blobs: [], ingest: [] });

    const mismatched = await store.stageLayer(chunksOf(data));
    await assert.rejects(mismatched.commit(undefined, { expectedDiffId: sha('not this layer') }), /does not match/);
    assert.deepEqual(await visible(dir.path), { layers: [], blobs: [], ingest: [] });
    assert.ok(!store.layers.exists(sha(data)));

    const orphan = await store.stageLayer(chunksOf(data));
    await assert.rejects(orphan.commit(sha('missing parent')), /parent layer/);
    assert.deepEqual(await visible(dir.path), { layers: [], blobs: [], ingest: [] });

    // A tar that is not one fails in the stage itself, leaving nothing either.
    await assert.rejects(store.stageLayer(chunksOf(gzipSync(data).subarray(0, 30_000))), /gzip|truncated|unexpected end/i);
    assert.deepEqual(await visible(dir.path), { layers: [], blobs: [], ingest: [] });

    // applyLayer (load, build, commit, import) is stage + commit and refuses the same way.
    await assert.rejects(store.applyLayer(undefined, chunksOf(data), { expectedDiffId: sha('nope') }), /does not match/);
    assert.deepEqual(await visible(dir.path), { layers: [], blobs: [], ingest: [] });
    const applied = await store.applyLayer(undefined, chunksOf(data), { expectedDiffId: sha(data) });
    assert.equal(applied.chainId, sha(data));
    assert.deepEqual((await visible(dir.path)).blobs, [sha(data).slice(7)]);
  } finally {
    await dir.cleanup();
  }
});

test('content store: a large blob flushed while written commits whole; a writer hashed by its caller needs the digest', async () => {
  const dir = await tempDir('blob-flush');
  try {
    const content = await ContentStore.open(dir.path);
    const data = randomBytes(40 << 20);
    const writer = await content.writer();
    for (let i = 0; i < data.length; i += 1 << 20) await writer.write(data.subarray(i, i + (1 << 20)));
    assert.deepEqual(await writer.commit(sha(data)), { digest: sha(data), size: data.length });
    assert.ok((await readFile(content.path(sha(data)))).equals(data));

    const aborted = await content.writer();
    for (let i = 0; i < 20 << 20; i += 1 << 20) await aborted.write(data.subarray(i, i + (1 << 20)));
    await aborted.abort();

    const trusting = await content.writer({ hashedByCaller: true });
    await trusting.write(Buffer.from('x'));
    await assert.rejects(trusting.commit(), /needs the expected digest/);
    assert.deepEqual(await content.list(), [sha(data)]);
    assert.deepEqual((await visible(dir.path)).ingest, []);
  } finally {
    await dir.cleanup();
  }
});
