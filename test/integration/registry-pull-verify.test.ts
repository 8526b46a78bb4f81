/**
 * A pull unpacks layers while they download, so what it must never do is publish one before
 * its compressed digest matched the manifest: a layer blob corrupted in the registry's storage
 * (or replaced by another valid layer) fails the pull with docker's verification error and
 * leaves no layer, no blob and no temp dir in the daemon. A digest that appears twice in one
 * manifest (as empty layers do) still pulls. Images are put into berth's registry over
 * loopback HTTP, built here from small tars.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { describeResult, expectOk } from '../helpers/exec.js';
import { startBerthRegistry, type TestRegistry } from '../helpers/registry.js';
import { ustarOf } from '../helpers/tar.js';

const T = { timeout: 180_000 };
const sha = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const hex = (digest: string): string => digest.slice(7);


interface Layer {
  tar: Buffer;
  gz: Buffer;
}

/** Level 0 (stored blocks): a layer's compressed size depends only on its tar's size. */
const layer = (tar: Buffer): Layer => ({ tar, gz: gzipSync(tar, { level: 0 }) });

async function putBlob(reg: TestRegistry, repo: string, blob: Buffer): Promise<void> {
  const start = await fetch(`http://${reg.addr}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  assert.equal(start.status, 202);
  const url = new URL(start.headers.get('location')!, `http://${reg.addr}`);
  url.searchParams.set('digest', sha(blob));
  const put = await fetch(url, { method: 'PUT', body: new Uint8Array(blob), headers: { 'Content-Type': 'application/octet-stream' } });
  await put.arrayBuffer();
  assert.equal(put.status, 201, `PUT blob -> ${put.status}`);
}

/** Puts the layers, a config naming their diffIDs and a schema 2 manifest under repo:tag. */
async function putImage(reg: TestRegistry, repo: string, tag: string, layers: Layer[]): Promise<void> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2026-11-23T00:00:00Z',
      config: { Cmd: ['/data'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha(l.tar)) },
      history: layers.map(() => ({ created: '2026-11-23T00:00:00Z', created_by: 'test' })),
    }),
  );
  for (const blob of new Set([config, ...layers.map((l) => l.gz)])) await putBlob(reg, repo, blob);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: l.gz.length, digest: sha(l.gz) })),
  });
  const res = await fetch(`http://${reg.addr}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  await res.arrayBuffer();
  assert.equal(res.status, 201, `PUT manifest -> ${res.status}`);
}

describe('pull: layers verified before they become visible', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;

  before(async () => {
    reg = await startBerthRegistry(['-q']);
    d = await startDaemon();
  });
  after(async () => {
    await Promise.allSettled([d?.stop(), reg?.stop()]);
  });

  const storedBlob = (digest: string): string => join(reg.root, 'blobs', 'sha256', hex(digest));
  const list = (...parts: string[]): string[] => {
    try {
      return readdirSync(join(d.dataRoot, 'image', ...parts)).sort();
    } catch {
      return [];
    }
  };

  it('refuses a layer corrupted in the registry\'s storage, leaving no layer, blob or temp dir; pulls once it is repaired', T, async () => {
    // Two layers big enough to stream in many chunks; the bottom one is corrupted, so the
    // top one (staged at the same time) must be thrown away too.
    const bottom = layer(ustarOf([{ name: 'bottom', body: randomBytes(3_000_000) }]));
    const top = layer(ustarOf([{ name: 'top', body: randomBytes(2_000_000) }]));
    await putImage(reg, 'verify/corrupt', '1', [bottom, top]);
    const path = storedBlob(sha(bottom.gz));
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    for (let i = 1_000_000; i < 1_000_064; i++) bad[i] = bad[i]! ^ 0xff;
    writeFileSync(path, bad);
    const before = { layers: list('layers'), blobs: list('blobs', 'sha256') };

    const ref = `${reg.addr}/verify/corrupt:1`;
    const r = await d.berth(['pull', ref], { timeoutMs: 120_000 });
    assert.notEqual(r.code, 0, describeResult('pull of a corrupted layer', r));
    assert.ok(r.stderr.includes(`filesystem layer verification failed for digest ${sha(bottom.gz)}`), describeResult('pull', r));
    assert.deepEqual(list('layers'), before.layers, 'no layer and no temp dir left');
    assert.deepEqual(list('blobs', 'sha256'), before.blobs, 'no blob left');
    assert.deepEqual(list('blobs', 'ingest'), [], 'no ingest left');
    assert.equal((await d.api('GET', `/images/${ref}/json`)).status, 404);

    writeFileSync(path, good);
    expectOk('pull after the repair', await d.berth(['pull', ref], { timeoutMs: 120_000 }));
    const inspect = await d.api('GET', `/images/${ref}/json`);
    assert.deepEqual((inspect.json as { RootFS: { Layers: string[] } }).RootFS.Layers, [sha(bottom.tar), sha(top.tar)]);
    expectOk('rmi', await d.berth(['rmi', ref]));
  });

  it('refuses a layer the registry serves as another valid layer of the same size: the unpack succeeds, the commit never happens', T, async () => {
    const bottom = layer(ustarOf([{ name: 'kept', body: randomBytes(100_000) }]));
    const top = layer(ustarOf([{ name: 'real', body: randomBytes(1_500_000) }]));
    const impostor = layer(ustarOf([{ name: 'fake', body: randomBytes(1_500_000) }]));
    assert.equal(impostor.gz.length, top.gz.length);
    await putImage(reg, 'verify/swapped', '1', [bottom, top]);
    writeFileSync(storedBlob(sha(top.gz)), impostor.gz);
    const blobsBefore = list('blobs', 'sha256');

    const res = await d.api('POST', `/images/create?fromImage=${reg.addr}/verify/swapped&tag=1`, undefined, { timeoutMs: 120_000 });
    assert.equal(res.status, 200, res.text);
    const last = JSON.parse(res.text.trim().split('\n').at(-1)!) as { error?: string };
    assert.equal(last.error, `filesystem layer verification failed for digest ${sha(top.gz)}: got ${sha(impostor.gz)}`);
    assert.ok(!res.text.includes(`"status":"Pull complete","progressDetail":{},"id":"${hex(sha(top.gz)).slice(0, 12)}"`), 'the swapped layer never completes');
    // The verified bottom layer may stay (docker keeps it too); nothing of the other does.
    const blobs = list('blobs', 'sha256');
    assert.ok(!blobs.includes(hex(sha(impostor.tar))) && !blobs.includes(hex(sha(top.tar))), 'no tar blob of the refused layer');
    assert.deepEqual(blobs.filter((b) => !blobsBefore.includes(b)), blobs.includes(hex(sha(bottom.tar))) ? [hex(sha(bottom.tar))] : []);
    assert.deepEqual(list('layers').filter((n) => n !== hex(sha(bottom.tar))), [], 'no chain dir and no temp dir but the verified bottom layer\'s');
    assert.deepEqual(list('blobs', 'ingest'), []);
  });

  it('pulls a manifest naming the same layer digest twice (empty layers), and saves it', T, async () => {
    const empty = layer(Buffer.alloc(1024));
    const one = layer(ustarOf([{ name: 'one', body: Buffer.from('first\n') }]));
    const two = layer(ustarOf([{ name: 'two', body: Buffer.from('second\n') }]));
    await putImage(reg, 'verify/empties', '1', [one, empty, two, empty]);
    const ref = `${reg.addr}/verify/empties:1`;
    const out = expectOk('pull', await d.berth(['pull', ref], { timeoutMs: 120_000 }));
    assert.match(out, /Status: Downloaded newer image/);
    const inspect = await d.api('GET', `/images/${ref}/json`);
    assert.equal(inspect.status, 200, inspect.text);
    assert.deepEqual((inspect.json as { RootFS: { Layers: string[] } }).RootFS.Layers, [one, empty, two, empty].map((l) => sha(l.tar)));
    const saved = await d.api('GET', `/images/${encodeURIComponent(ref)}/get`, undefined, { timeoutMs: 60_000 });
    assert.equal(saved.status, 200, saved.text.slice(0, 500));
    assert.deepEqual(list('layers').filter((n) => n.startsWith('.')), []);
    assert.deepEqual(list('blobs', 'ingest'), []);
  });
});
