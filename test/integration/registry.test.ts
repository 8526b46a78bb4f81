/**
 * berth push -> berth's registry -> berth pull into a second daemon (its own data-root); the
 * real docker CLI against berthd pushing and pulling; cross-repository mounts; a push cut off
 * mid-layer and resumed by running it again; pulling by digest and "up to date".
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';
import { startBerthRegistry, type TestRegistry } from '../helpers/registry.js';

const T = { timeout: 180_000 };

/** A TCP proxy that cuts every connection once `cutAfter` bytes went upstream (then lets all through). */
async function cuttingProxy(target: string): Promise<{ addr: string; arm(bytes: number): void; close(): Promise<void> }> {
  const [host, port] = target.split(':') as [string, string];
  let cutAfter = Infinity;
  let sent = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > cutAfter) {
        cutAfter = Infinity;
        for (const s of sockets) s.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    addr: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    arm: (bytes) => {
      sent = 0;
      cutAfter = bytes;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('registry: push and pull between two berthds', { timeout: 900_000 }, () => {
  let d1: TestDaemon;
  let d2: TestDaemon;
  let reg: TestRegistry;
  let configDir: string;
  let env: NodeJS.ProcessEnv;
  let imageId: string;
  let pushedDigest: string;

  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), 'berth-test-dockercfg-'));
    env = { DOCKER_CONFIG: configDir };
    reg = await startBerthRegistry(['-q']);
    d1 = await startDaemon();
    d2 = await startDaemon();
    imageId = await importBusybox(d1);
  });
  after(async () => {
    await Promise.allSettled([d1?.stop(), d2?.stop(), reg?.stop()]);
    rmSync(configDir, { recursive: true, force: true });
  });

  it('pushes with per-layer progress and docker\'s final digest line', T, async () => {
    const ref = `${reg.addr}/test/busybox:1`;
    expectOk('tag', await d1.berth(['tag', 'busybox', ref]));
    const r = await d1.berth(['push', ref], { env, timeoutMs: 120_000 });
    const out = expectOk('push', r);
    assert.match(out, new RegExp(`The push refers to repository \\[${reg.addr}/test/busybox\\]`));
    assert.match(out, /: Preparing\n/);
    assert.match(out, /: Pushed\n/);
    const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(out);
    assert.ok(m, out);
    pushedDigest = m[1]!;
    const manifest = await fetch(`http://${reg.addr}/v2/test/busybox/manifests/1`);
    assert.equal(manifest.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.headers.get('docker-content-digest'), pushedDigest);
    const doc = (await manifest.json()) as { config: { digest: string } };
    assert.equal(doc.config.digest, imageId, 'the config blob is the image config, byte for byte');
    // Pushing again finds every layer and yields the same manifest.
    const again = expectOk('push again', await d1.berth(['push', ref], { env }));
    assert.match(again, /Layer already exists/);
    assert.match(again, new RegExp(`1: digest: ${pushedDigest}`));
  });

  it('pulls into a second daemon with the same image ID, digest and a runnable image', T, async () => {
    const ref = `${reg.addr}/test/busybox:1`;
    const r = await d2.berth(['pull', ref], { env, timeoutMs: 120_000 });
    const out = expectOk('pull', r);
    assert.match(out, /1: Pulling from test\/busybox/);
    assert.match(out, /: Pull complete\n/);
    assert.match(out, new RegExp(`Digest: ${pushedDigest}`));
    assert.match(out, new RegExp(`Status: Downloaded newer image for ${ref}`));
    assert.match(out, new RegExp(`^${ref}$`, 'm'));
    const inspect = await d2.api('GET', `/images/${ref}/json`);
    const doc = inspect.json as { Id: string; RepoDigests: string[] };
    assert.equal(doc.Id, imageId);
    assert.deepEqual(doc.RepoDigests, [`${reg.addr}/test/busybox@${pushedDigest}`]);
    assert.match(expectOk('pull again', await d2.berth(['pull', ref], { env })), /Status: Image is up to date/);
    const run = await d2.berth(['run', '--rm', ref, 'echo', 'pulled and running'], { timeoutMs: 60_000 });
    assert.equal(expectOk('run', run).trim(), 'pulled and running');
  });

  it('pulls by digest, and streams docker\'s JSON progress through the API', T, async () => {
    expectOk('rmi', await d2.berth(['rmi', `${reg.addr}/test/busybox:1`]));
    const res = await d2.api('POST', `/images/create?fromImage=${reg.addr}/test/busybox&tag=${pushedDigest}`);
    assert.equal(res.status, 200, res.text);
    const lines = res.text.trim().split('\n').map((l) => JSON.parse(l) as { status?: string; id?: string; progressDetail?: { current?: number; total?: number }; progress?: string });
    assert.deepEqual(lines[0], { status: 'Pulling from test/busybox', progressDetail: {}, id: pushedDigest });
    const downloading = lines.find((l) => l.status === 'Downloading');
    assert.ok(downloading?.progressDetail?.total && downloading.progress?.startsWith('['), JSON.stringify(downloading));
    for (const s of ['Pulling fs layer', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete']) {
      assert.ok(lines.some((l) => l.status === s), `missing ${s}`);
    }
    assert.equal(lines.at(-1)!.status, `Status: Downloaded newer image for ${reg.addr}/test/busybox@${pushedDigest}`);
    const byDigest = await d2.api('GET', `/images/${reg.addr}/test/busybox@${pushedDigest}/json`);
    assert.equal((byDigest.json as { Id: string }).Id, imageId);
  });

  it('reports unknown tags, bad names and wrong digests as docker does', T, async () => {
    const missing = await d2.berth(['pull', `${reg.addr}/test/busybox:nope`], { env });
    assert.equal(missing.code, 1);
    assert.ok(missing.stderr.includes(`manifest for ${reg.addr}/test/busybox:nope not found: manifest unknown`), missing.stderr);
    const bad = await d2.berth(['pull', `${reg.addr}/Test/UPPER`], { env });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /must be lowercase/);
    const wrong = await d2.api('POST', `/images/create?fromImage=${reg.addr}/test/busybox&tag=sha256:${'0'.repeat(64)}`);
    assert.equal(wrong.status, 404, wrong.text);
  });

  it('mounts layers from a sibling repository instead of uploading them', T, async () => {
    const ref = `${reg.addr}/other/copy:1`;
    expectOk('tag', await d1.berth(['tag', 'busybox', ref]));
    const out = expectOk('push', await d1.berth(['push', ref], { env }));
    assert.match(out, /Mounted from test\/busybox/);
  });

  it('works with the real docker CLI: push from one daemon, pull into the other', T, async () => {
    const ref = `${reg.addr}/docker/cli:2`;
    expectOk('tag', await d1.docker(['tag', 'busybox', ref]));
    const push = await d1.docker(['push', ref], { timeoutMs: 120_000 });
    assert.equal(push.code, 0, describeResult('docker push', push));
    assert.match(push.stdout, /2: digest: sha256:[a-f0-9]{64} size: \d+/);
    const pull = await d2.docker(['pull', ref], { timeoutMs: 120_000 });
    assert.equal(pull.code, 0, describeResult('docker pull', pull));
    assert.match(pull.stdout, /Digest: sha256:/);
    assert.match(pull.stdout, new RegExp(`${ref}`));
    const images = expectOk('docker images', await d2.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']));
    assert.match(images, new RegExp(ref));
  });

  it('resumes a push cut off mid-layer: nothing partial is visible, the second run completes', T, async () => {
    const proxy = await cuttingProxy(reg.addr);
    try {
      const ref = `${proxy.addr}/resume/me:1`;
      expectOk('tag', await d1.berth(['tag', 'busybox', ref]));
      proxy.arm(200_000);
      const cut = await d1.berth(['push', ref], { env, timeoutMs: 120_000 });
      assert.notEqual(cut.code, 0, describeResult('interrupted push', cut));
      const partial = await fetch(`http://${reg.addr}/v2/resume/me/manifests/1`);
      await partial.arrayBuffer();
      assert.equal(partial.status, 404);
      const tags = await fetch(`http://${reg.addr}/v2/_catalog`);
      assert.ok(!((await tags.json()) as { repositories: string[] }).repositories.includes('resume/me'));
      const again = expectOk('push again', await d1.berth(['push', ref], { env, timeoutMs: 120_000 }));
      assert.match(again, /1: digest: sha256:/);
      const manifest = await fetch(`http://${reg.addr}/v2/resume/me/manifests/1`);
      await manifest.arrayBuffer();
      assert.equal(manifest.status, 200);
    } finally {
      await proxy.close();
    }
  });

  it('lists repositories with berth search against the catalog', T, async () => {
    const out = expectOk('search', await d1.berth(['search', `${reg.addr}/busy`], { env }));
    assert.match(out, /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL/);
    assert.match(out, new RegExp(`${reg.addr}/test/busybox`));
    assert.doesNotMatch(out, /other\/copy/);
  });
});
