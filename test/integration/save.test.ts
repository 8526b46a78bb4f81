/**
 * save/load, export/import against a real berthd: round trips keep IDs, tags, history and
 * config; docker 20.10's archive layout and gzip load; broken archives (wrong layer digest,
 * path tricks, truncation) are refused and leave nothing behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function makeTar(entries: Array<{ name: string; data?: Buffer; type?: 'file' | 'directory' | 'symlink'; linkname?: string }>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const e of entries) {
    if (e.type === 'symlink') pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname ?? '' });
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name, mode: 0o644 }, e.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function readTar(buf: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const extract = tar.extract();
  extract.end(buf);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    files.set(entry.header.name, Buffer.concat(parts));
  }
  return files;
}

describe('save, load, export', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let work: string;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    work = mkdtempSync(join(tmpdir(), 'berth-save-'));
  });
  after(async () => {
    await d?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const berth = (args: string[], input?: string) => d.berth(args, { input });
  const layerDirs = (): string[] => readdirSync(join(d.dataRoot, 'image', 'layers')).sort();
  const imageIds = async (): Promise<string> => expectOk('images', await berth(['images', '-a', '-q', '--no-trunc'])).split('\n').sort().join('\n');

  it('save -> rmi -> load keeps IDs, tags, history and config, and the image runs', T, async () => {
    expectOk('run', await berth(['run', '--name', 'src', 'busybox', 'sh', '-c', 'echo saved > /saved']));
    expectOk('commit', await berth(['commit', '-c', 'CMD ["cat", "/saved"]', 'src', 'mine:1']));
    expectOk('tag', await berth(['tag', 'mine:1', 'mine:2']));
    expectOk('rm', await berth(['rm', 'src']));
    const before = JSON.parse(expectOk('inspect', await berth(['image', 'inspect', 'mine:1', 'busybox'])));
    const historyArgs = ['history', '--no-trunc', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}', 'mine:1'];
    const history = expectOk('history', await berth(historyArgs));
    const archive = join(work, 'both.tar');
    expectOk('save', await berth(['save', '-o', archive, 'mine:1', 'mine:2', 'busybox']));
    const files = await readTar(readFileSync(archive));
    for (const name of ['manifest.json', 'index.json', 'oci-layout', 'repositories']) assert.ok(files.has(name), `${name} missing`);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[]; Parent?: string }>;
    assert.equal(manifest.length, 2);
    const mine = manifest.find((m) => m.RepoTags?.includes('mine:1'))!;
    assert.deepEqual(mine.RepoTags.sort(), ['mine:1', 'mine:2']);
    assert.equal(`sha256:${sha(files.get(mine.Config)!)}`, before[0].Id);
    for (const layer of mine.Layers) assert.ok(files.has(layer), `layer ${layer} missing`);
    // docker save links an image to its parent when both are in the archive; load restores it.
    assert.equal(mine.Parent, before[1].Id);
    assert.equal(manifest.find((m) => m.RepoTags?.includes('busybox:latest'))!.Parent, undefined);

    expectOk('rmi', await berth(['rmi', 'mine:1', 'mine:2', 'busybox']));
    const loaded = await berth(['load', '-i', archive]);
    assert.equal(expectOk('load', loaded), 'Loaded image: mine:1\nLoaded image: mine:2\nLoaded image: busybox:latest\n', describeResult('load', loaded));
    const after = JSON.parse(expectOk('inspect', await berth(['image', 'inspect', 'mine:1', 'busybox'])));
    assert.equal(after[0].Id, before[0].Id);
    assert.equal(after[1].Id, before[1].Id);
    assert.deepEqual(after[0].Config, before[0].Config);
    assert.deepEqual(after[0].RootFS, before[0].RootFS);
    assert.equal(expectOk('history', await berth(historyArgs)), history);
    assert.equal(expectOk('run', await berth(['run', '--rm', 'mine:2'])), 'saved\n');
  });

  it('loads gzip archives from stdin through the API and reports untagged images by ID', T, async () => {
    const plain = await d.api('GET', '/images/busybox/get');
    assert.equal(plain.status, 200);
    const id = ((await d.api('GET', '/images/busybox/json')).json as { Id: string }).Id;
    const res = await fetchBinary(d, '/images/get?names=' + encodeURIComponent(id));
    const r = await d.api('POST', '/images/load?quiet=1', gzipSync(res), { headers: { 'Content-Type': 'application/x-tar' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, `${JSON.stringify({ stream: `Loaded image ID: ${id}\n` })}\n`);
  });

  it("loads docker 20.10's legacy layout (<v1 id>/layer.tar, json, VERSION) and runs it", T, async () => {
    // The layout `docker save` of dockerd 20.10 writes: one dir per layer named by its v1 ID,
    // the config as <id hex>.json, manifest.json and repositories at the top.
    const layer = await makeTar([
      { name: 'bin/', type: 'directory' },
      { name: 'hello.txt', data: Buffer.from('legacy\n') },
    ]);
    const busyLayerTar = readFileSync(join(d.dataRoot, 'image', 'blobs', 'sha256', (JSON.parse(expectOk('i', await berth(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'busybox'])))[0] as string).slice(7)));
    const diffIds = [`sha256:${sha(busyLayerTar)}`, `sha256:${sha(layer)}`];
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['cat', '/hello.txt'], Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: diffIds }, history: [{ created_by: 'import' }, { created_by: 'add hello' }] }));
    const configHex = sha(config);
    const v1a = 'a'.repeat(64);
    const v1b = 'b'.repeat(64);
    const archive = await makeTar([
      { name: `${v1a}/`, type: 'directory' },
      { name: `${v1a}/VERSION`, data: Buffer.from('1.0') },
      { name: `${v1a}/json`, data: Buffer.from(JSON.stringify({ id: v1a })) },
      { name: `${v1a}/layer.tar`, data: busyLayerTar },
      { name: `${v1b}/`, type: 'directory' },
      { name: `${v1b}/VERSION`, data: Buffer.from('1.0') },
      { name: `${v1b}/json`, data: Buffer.from(JSON.stringify({ id: v1b, parent: v1a })) },
      { name: `${v1b}/layer.tar`, data: layer },
      { name: `${configHex}.json`, data: config },
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['legacy:20.10'], Layers: [`${v1a}/layer.tar`, `${v1b}/layer.tar`] }])) },
      { name: 'repositories', data: Buffer.from(JSON.stringify({ legacy: { '20.10': v1b } })) },
    ]);
    const file = join(work, 'legacy.tar');
    writeFileSync(file, archive);
    assert.equal(expectOk('load', await berth(['load', '-i', file])), 'Loaded image: legacy:20.10\n');
    assert.equal(expectOk('id', await berth(['image', 'inspect', '-f', '{{.Id}}', 'legacy:20.10'])).trim(), `sha256:${configHex}`);
    assert.equal(expectOk('run', await berth(['run', '--rm', 'legacy:20.10'])), 'legacy\n');
  });

  it('refuses wrong layer digests, path tricks and truncated archives, leaving nothing behind', T, async () => {
    const layer = await makeTar([{ name: 'x', data: Buffer.from('x') }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }));
    const wrongDigest = await makeTar([
      { name: 'l/layer.tar', data: layer },
      { name: 'c.json', data: config },
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: ['bad:1'], Layers: ['l/layer.tar'] }])) },
    ]);
    const escapeConfig = await makeTar([{ name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: '../../../etc/passwd', RepoTags: [], Layers: [] }])) }]);
    const escapeLink = await makeTar([
      { name: 'c.json', type: 'symlink', linkname: '../../../../etc/hostname' },
      { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: 'c.json', RepoTags: [], Layers: [] }])) },
    ]);
    const dotdotEntry = await makeTar([{ name: '../evil', data: Buffer.from('x') }]);
    const truncated = wrongDigest.subarray(0, 1500);
    const layersBefore = layerDirs();
    const imagesBefore = await imageIds();
    for (const [what, body, pattern] of [
      ['wrong digest', wrongDigest, /layer content does not match/],
      ['config path escape', escapeConfig, /invalid/],
      ['symlink escape', escapeLink, /points outside the archive/],
      ['.. entry', dotdotEntry, /would leave/],
      ['truncated', truncated, /truncated|unexpected end/],
    ] as const) {
      const r = await d.api('POST', '/images/load', body, { headers: { 'Content-Type': 'application/x-tar' } });
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.match(r.text, pattern, what);
    }
    assert.deepEqual(layerDirs(), layersBefore);
    assert.equal(await imageIds(), imagesBefore);
    const leftovers = readdirSync(join(d.dataRoot, 'image')).filter((n) => n.startsWith('tmp-load-'));
    assert.deepEqual(leftovers, []);
  });

  it('export gives the container filesystem; import makes it an image again', T, async () => {
    expectOk('run', await berth(['run', '--name', 'exp', 'busybox', 'sh', '-c', 'mkdir /out && echo exported > /out/f && ln -s f /out/link && chown 1:2 /out/f']));
    const file = join(work, 'exp.tar');
    expectOk('export', await berth(['export', '-o', file, 'exp']));
    const files = await readTar(readFileSync(file));
    assert.equal(files.get('out/f')?.toString(), 'exported\n');
    assert.ok(files.has('bin/busybox'));
    expectOk('import', await berth(['import', file, 'reimported:1']));
    assert.equal(expectOk('run', await berth(['run', '--rm', 'reimported:1', 'sh', '-c', 'cat /out/link; stat -c %u:%g /out/f'])), 'exported\n1:2\n');
    expectOk('rm', await berth(['rm', 'exp']));
  });
});

/** GET as raw bytes (the test helper decodes bodies as text). */
async function fetchBinary(d: TestDaemon, path: string): Promise<Buffer> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: d.socket, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
