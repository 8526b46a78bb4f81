/**
 * system df and system prune against a real berthd: the numbers follow pulls (imports), builds,
 * containers and volumes as they come and go, and equal the bytes on disk; prune removes each
 * kind of object it should (filters honoured) and nothing that is in use.
 * Networks made here use 10.231.7.0/24 and 10.231.8.0/24.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 180_000 };

interface Df {
  LayersSize: number;
  Images: Array<{ Id: string; RepoTags: string[]; Size: number; SharedSize: number; Containers: number }>;
  Containers: Array<{ Id: string; Names: string[]; SizeRw: number; SizeRootFs: number; State: string }>;
  Volumes: Array<{ Name: string; UsageData: { Size: number; RefCount: number } }>;
  BuildCache: Array<{ ID: string; Size: number; Shared: boolean; InUse: boolean; Type: string; UsageCount: number }>;
}

/** File bytes under a directory, each inode once: what the disk really holds. */
function bytesUnder(dir: string, seen = new Set<string>()): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path, { bigint: true });
    if (st.isDirectory()) total += bytesUnder(path, seen);
    else if (!seen.has(`${st.dev}:${st.ino}`)) {
      seen.add(`${st.dev}:${st.ino}`);
      total += Number(st.size);
    }
  }
  return total;
}

/** The summary table as rows of cells, keyed by TYPE. */
function summary(text: string): Map<string, string[]> {
  const lines = text.trimEnd().split('\n');
  assert.deepEqual(lines[0]!.trim().split(/\s{2,}/), ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE']);
  return new Map(lines.slice(1).map((l) => {
    const cells = l.trim().split(/\s{2,}/);
    return [cells[0]!, cells.slice(1)];
  }));
}

describe('system df and system prune', { timeout: 900_000 }, () => {
  let d: TestDaemon;
  let work: string;

  before(async () => {
    d = await startDaemon();
    work = mkdtempSync(join(tmpdir(), 'berth-df-'));
  });
  after(async () => {
    await d?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const berth = (args: string[], input?: string) => d.berth(args, { input, timeoutMs: 170_000 });
  const df = async (): Promise<Df> => {
    const r = await d.api('GET', '/system/df');
    assert.equal(r.status, 200, r.text);
    return r.json as Df;
  };
  const layerBytes = (): number => {
    const layers = join(d.dataRoot, 'image', 'layers');
    return readdirSync(layers).filter((n) => /^[0-9a-f]{64}$/.test(n)).reduce((sum, n) => sum + bytesUnder(join(layers, n, 'diff')), 0);
  };

  it('an empty daemon reports nothing, in docker\'s shape', T, async () => {
    const empty = await df();
    assert.deepEqual(empty, { LayersSize: 0, Images: [], Containers: [], Volumes: [], BuildCache: [], BuilderSize: 0 });
    const only = await d.api('GET', '/system/df?type=volume');
    assert.equal(only.status, 200);
    assert.deepEqual(only.json, { LayersSize: 0, Images: null, Containers: null, Volumes: [], BuildCache: null, BuilderSize: 0 });
    assert.equal((await d.api('GET', '/system/df?type=bogus')).status, 400);
    const rows = summary(expectOk('df', await berth(['system', 'df'])));
    assert.deepEqual(rows.get('Images'), ['0', '0', '0B', '0B']);
    assert.deepEqual(rows.get('Build Cache'), ['0', '0', '0B', '0B']);
  });

  it('numbers follow images, containers and volumes and equal the bytes on disk', T, async () => {
    await importBusybox(d);
    let now = await df();
    assert.equal(now.Images.length, 1);
    assert.ok(now.LayersSize > 500_000, `busybox layers: ${now.LayersSize}`);
    assert.equal(now.LayersSize, layerBytes());
    assert.equal(now.Images[0]!.Size, now.LayersSize);
    assert.equal(now.Images[0]!.Containers, 0);

    expectOk('run writer', await berth(['run', '--name', 'writer', '-v', 'dfvol:/vol', 'busybox', 'sh', '-c', 'head -c 300000 /dev/zero > /big && head -c 50000 /dev/zero > /vol/v']));
    expectOk('run -d', await berth(['run', '-d', '--name', 'idle', 'busybox', 'sleep', '300']));
    now = await df();
    const writer = now.Containers.find((c) => c.Names[0] === '/writer')!;
    assert.ok(writer.SizeRw >= 300_000 && writer.SizeRw < 310_000, `writer SizeRw ${writer.SizeRw}`);
    assert.equal(writer.SizeRootFs, writer.SizeRw + now.LayersSize);
    assert.equal(now.Images[0]!.Containers, 2);
    const vol = now.Volumes.find((v) => v.Name === 'dfvol')!;
    assert.deepEqual(vol.UsageData, { Size: 50_000, RefCount: 1 });
    assert.equal(vol.UsageData.Size, bytesUnder(join(d.dataRoot, 'volumes', 'dfvol', '_data')));

    const rows = summary(expectOk('df', await berth(['system', 'df'])));
    assert.deepEqual(rows.get('Images')!.slice(0, 2), ['1', '1']);
    assert.match(rows.get('Images')![3]!, /^0B \(0%\)$/);
    assert.deepEqual(rows.get('Containers')!.slice(0, 2), ['2', '1']);
    assert.match(rows.get('Containers')![2]!, /^30\dkB$/);
    assert.match(rows.get('Containers')![3]!, /^30\dkB \(\d+%\)$/);
    assert.deepEqual(rows.get('Local Volumes'), ['1', '1', '50kB', '0B (0%)']);

    const verbose = expectOk('df -v', await berth(['system', 'df', '-v']));
    assert.match(verbose, /^Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\nbusybox\s+latest\s+[0-9a-f]{12}\s/m);
    assert.match(verbose, /\nContainers space usage:\n\nCONTAINER ID\s+IMAGE\s+COMMAND\s+LOCAL VOLUMES\s+SIZE\s+CREATED\s+STATUS\s+NAMES\n/);
    assert.match(verbose, /busybox\s+"sh -c 'head -c 3000…"\s+1\s+30\dkB\s+.*\swriter\n/);
    assert.match(verbose, /\nLocal Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\ndfvol\s+1\s+50kB\n/);
    assert.match(verbose, /\nBuild cache usage: 0B\n\nCACHE ID\s+CACHE TYPE\s+SIZE\s+CREATED\s+LAST USED\s+USAGE\s+SHARED\n$/);

    expectOk('rm writer', await berth(['rm', 'writer']));
    now = await df();
    assert.equal(now.Containers.length, 1);
    assert.deepEqual(now.Volumes.find((v) => v.Name === 'dfvol')!.UsageData, { Size: 50_000, RefCount: 0 });
    assert.deepEqual(summary(expectOk('df', await berth(['system', 'df']))).get('Local Volumes'), ['1', '0', '50kB', '50kB (100%)']);
  });

  it('build cache: a failed build leaves cached steps, counted once, and system prune removes them', T, async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN head -c 40000 /dev/zero > /a\nENV X=1\nRUN head -c 20000 /dev/zero > /b\nRUN exit 3\n');
    const failed = await berth(['build', ctx]);
    assert.notEqual(failed.code, 0, describeResult('failing build', failed));
    const before = await df();
    assert.equal(before.Images.length, 1, 'cached steps are not listed as images');
    assert.equal(before.BuildCache.length, 3);
    const cacheBytes = before.BuildCache.reduce((s, c) => s + (c.Shared ? 0 : c.Size), 0);
    assert.ok(cacheBytes >= 60_000 && cacheBytes < 70_000, `cache bytes ${cacheBytes}`);
    assert.equal(before.BuildCache.filter((c) => c.Size === 0).length, 1, 'the ENV step adds no layer');
    assert.ok(before.BuildCache.every((c) => c.Type === 'regular' && !c.InUse && !c.Shared && c.UsageCount === 1));
    // Every byte on disk is either an image layer or build cache.
    assert.equal(before.LayersSize + cacheBytes, layerBytes());
    const rows = summary(expectOk('df', await berth(['system', 'df'])));
    assert.equal(rows.get('Build Cache')![0], '3');
    assert.match(rows.get('Build Cache')![2]!, /^6\d(\.\d+)?kB$/);
    const verbose = expectOk('df -v', await berth(['system', 'df', '-v']));
    assert.match(verbose, /\nBuild cache usage: 6\d(\.\d+)?kB\n/);
    assert.equal(verbose.split('\nBuild cache usage')[1]!.trim().split('\n').filter((l) => / regular /.test(l)).length, 3);

    const ids = before.BuildCache.map((c) => c.ID).sort();
    const builderPruned = expectOk('builder prune', await berth(['builder', 'prune', '-f']));
    const deletedIds = /Deleted build cache objects:\n((?:[0-9a-f]{64}\n)+)\n/.exec(builderPruned)?.[1]?.trim().split('\n').sort();
    assert.deepEqual(deletedIds, ids, builderPruned);
    assert.match(builderPruned, /Total reclaimed space: 6\d(\.\d+)?kB\n$/, 'reclaimed is the cache layers, not the base image under them');
    let after = await df();
    assert.deepEqual(after.BuildCache, []);
    assert.equal(after.LayersSize, layerBytes());

    // Again, cleared by system prune: classic-builder steps are dangling images, so (as with
    // docker) the image prune takes them before the build-cache prune runs.
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN head -c 40001 /dev/zero > /a\nRUN exit 3\n');
    assert.notEqual((await berth(['build', ctx])).code, 0);
    const cached = (await df()).BuildCache;
    assert.equal(cached.length, 1);
    const pruned = expectOk('system prune', await berth(['system', 'prune', '-f']));
    assert.ok(pruned.includes(`deleted: sha256:${cached[0]!.ID}\n`), pruned);
    assert.match(pruned, /Total reclaimed space: 40kB\n$/);
    after = await df();
    assert.deepEqual(after.BuildCache, []);
    assert.equal(after.LayersSize, layerBytes());

    // A build that succeeds and is tagged: its intermediate step shares its layer with the image.
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN head -c 40000 /dev/zero > /a\nENV X=1\nRUN head -c 20000 /dev/zero > /b\nLABEL done=1\n');
    expectOk('build', await berth(['build', '-t', 'built:1', ctx]));
    const tagged = await df();
    assert.equal(tagged.Images.length, 2);
    assert.ok(tagged.BuildCache.some((c) => c.Shared), 'steps under a tagged image are shared');
    assert.equal(tagged.BuildCache.reduce((s, c) => s + (c.Shared ? 0 : c.Size), 0), 0);
    const busybox = tagged.Images.find((i) => i.RepoTags.includes('busybox:latest'))!;
    assert.equal(busybox.SharedSize, busybox.Size, 'busybox layers are shared with built:1');
    expectOk('rmi', await berth(['rmi', 'built:1']));
    // rmi takes the untagged steps below the image with it, as docker's does.
    assert.deepEqual((await df()).BuildCache, []);

  });

  it('system prune removes each kind it should, honours filters, and keeps what is in use', T, async () => {
    // In use: the running container "idle" (from the earlier test), its image, a volume and a network it uses.
    expectOk('net used', await berth(['network', 'create', '--subnet', '10.231.7.0/24', 'usednet']));
    expectOk('net spare', await berth(['network', 'create', '--subnet', '10.231.8.0/24', 'sparenet']));
    expectOk('run busy', await berth(['run', '-d', '--name', 'busy', '--network', 'usednet', '-v', 'busyvol:/v', 'busybox', 'sleep', '300']));
    expectOk('stopped a', await berth(['run', '--name', 'stop-a', '--label', 'tier=a', 'busybox', 'true']));
    expectOk('stopped b', await berth(['run', '--name', 'stop-b', '-v', '/anon', 'busybox', 'true']));
    expectOk('commit', await berth(['commit', 'stop-a', 'snap:1']));
    expectOk('volume', await berth(['volume', 'create', 'namedspare']));

    // until= in the past matches nothing; label= narrows to one container.
    const none = expectOk('prune until', await berth(['system', 'prune', '-f', '--filter', 'until=2000-01-01T00:00:00Z']));
    assert.equal(none, 'Total reclaimed space: 0B\n');
    const labelled = expectOk('prune label', await berth(['system', 'prune', '-f', '--filter', 'label=tier=a']));
    assert.match(labelled, /^Deleted Containers:\n[0-9a-f]{64}\n\nTotal reclaimed space: /);
    let names = expectOk('ps', await berth(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(names, ['busy', 'idle', 'stop-b']);
    const volumesOnly = await berth(['system', 'prune', '-f', '--volumes', '--filter', 'until=1h']);
    assert.equal(volumesOnly.code, 1);
    assert.match(volumesOnly.stderr, /The "until" filter is not supported with "--volumes"/);

    const anon = (await df()).Volumes.find((v) => /^[0-9a-f]{64}$/.test(v.Name))!.Name;
    const out = expectOk('prune -a --volumes', await berth(['system', 'prune', '-a', '-f', '--volumes']));
    assert.match(out, /^Deleted Containers:\n[0-9a-f]{64}\n\nDeleted Networks:\nsparenet\n\nDeleted Volumes:\n[0-9a-f]{64}\n\nDeleted Images:\nuntagged: snap:1\ndeleted: sha256:[0-9a-f]{64}\n/);
    assert.match(out, /\nTotal reclaimed space: \d+(\.\d+)?[kM]?B\n$/);
    assert.ok(out.includes(anon), 'the anonymous volume of the removed container went');
    names = expectOk('ps', await berth(['ps', '-a', '--format', '{{.Names}}'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(names, ['busy', 'idle']);
    const volumes = expectOk('volume ls', await berth(['volume', 'ls', '-q'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(volumes, ['busyvol', 'dfvol', 'namedspare'], 'named volumes stay (docker 23+), the one in use stays');
    const networks = expectOk('network ls', await berth(['network', 'ls', '--format', '{{.Name}}'])).split('\n');
    assert.ok(networks.includes('usednet') && !networks.includes('sparenet'));
    assert.match(expectOk('images', await berth(['images', '--format', '{{.Repository}}:{{.Tag}}'])), /^busybox:latest\n$/);

    const after = await df();
    assert.equal(after.Images.length, 1);
    assert.equal(after.LayersSize, layerBytes());
    assert.equal(after.Containers.length, 2);
    expectOk('rm', await berth(['rm', '-f', 'busy', 'idle']));
    expectOk('net rm', await berth(['network', 'rm', 'usednet']));
  });
});
