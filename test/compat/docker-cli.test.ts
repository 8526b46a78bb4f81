/**
 * The real docker CLI (a recent one, which negotiates the API version down to what berthd
 * announces) talking to a test berthd: the proof that berthd speaks the Engine API rather than
 * only what berth's own client happens to send.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTar } from '../helpers/images.js';
import { dockerBin } from '../helpers/paths.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';
import { processesMentioning } from '../helpers/cleanup.js';

const T = { timeout: 120_000 };
const cells = (line: string): string[] => line.trim().split(/\s{2,}/);

describe('docker CLI against berthd', { timeout: 600_000, skip: existsSync(dockerBin) ? false : `no docker CLI at ${dockerBin}` }, () => {
  let d: TestDaemon;
  let id = '';

  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  const docker = (args: string[], input?: string) => d.docker(args, { input });

  it('docker version shows the server and an API version of at least 1.41', T, async () => {
    const r = await docker(['version', '--format', '{{.Server.APIVersion}}|{{.Server.Os}}|{{.Server.Arch}}']);
    assert.equal(r.code, 0, describeResult('docker version', r));
    const [apiVersion, os, arch] = r.stdout.trim().split('|');
    assert.ok(Number(apiVersion!.split('.')[1]) >= 41 && apiVersion!.startsWith('1.'), `API version ${apiVersion}`);
    assert.equal(`${os}|${arch}`, `linux|${process.arch === 'x64' ? 'amd64' : process.arch}`);
    const plain = expectOk('docker version', await docker(['version']));
    assert.match(plain, /^Server:/m);
  });

  it('docker info answers', T, async () => {
    const r = await docker(['info', '--format', '{{.Containers}} {{.Images}} {{.OperatingSystem}}']);
    assert.equal(r.code, 0, describeResult('docker info', r));
    assert.match(r.stdout.trim(), /^0 0 \S/);
    const plain = await docker(['info']);
    assert.equal(plain.code, 0, describeResult('docker info', plain));
    assert.match(plain.stdout, /Containers: 0/);
    assert.match(plain.stdout, /Storage Driver: overlay/);
  });

  it('docker import creates busybox:latest', T, async () => {
    const r = await docker(['import', await busyboxTar(), 'busybox:latest']);
    assert.match(expectOk('docker import', r).trim(), /^sha256:[0-9a-f]{64}$/);
    const images = expectOk('docker images', await docker(['images']));
    const [header, ...rows] = images.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    assert.ok(rows.some((l) => cells(l)[0] === 'busybox' && cells(l)[1] === 'latest'), images);
  });

  it('docker run --rm prints and exits with the container code', T, async () => {
    const r = await docker(['run', '--rm', 'busybox', 'echo', 'hello from docker cli']);
    assert.equal(r.code, 0, describeResult('docker run --rm', r));
    assert.equal(r.stdout, 'hello from docker cli\n');
    const failing = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo to-stderr >&2; exit 5']);
    assert.equal(failing.code, 5, describeResult('docker run exit 5', failing));
    assert.equal(failing.stderr, 'to-stderr\n');
    try {
      const stdin = await d.docker(['run', '--rm', '-i', '--name', 'stdin-wc', 'busybox', 'wc', '-l'], { input: 'a\nb\nc\n', timeoutMs: 20_000 });
      assert.equal(stdin.stdout.trim(), '3', describeResult('docker run -i', stdin));
    } finally {
      await docker(['rm', '-f', 'stdin-wc']); // a stdin that never arrives would leave it running
    }
    assert.equal(expectOk('docker ps -aq', await docker(['ps', '-a', '-q'])), '');
  });

  it('docker run -d, ps, inspect, logs', T, async () => {
    const r = await docker(['run', '-d', '--name', 'compat', 'busybox', 'sh', '-c', 'echo ready; exec sleep 300']);
    id = expectOk('docker run -d', r).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const ps = expectOk('docker ps', await docker(['ps']));
    const [header, ...rows] = ps.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']);
    const row = rows.find((l) => l.startsWith(id.slice(0, 12)));
    assert.ok(row, ps);
    assert.match(row, /\bUp\b/);
    assert.ok(row.trimEnd().endsWith('compat'));
    assert.equal(expectOk('docker inspect', await docker(['inspect', '-f', '{{.State.Status}} {{.Name}} {{.Id}}', 'compat'])).trim(), `running /compat ${id}`);
    const logs = await waitFor(async () => (await docker(['logs', 'compat'])).stdout === 'ready\n');
    assert.ok(logs, 'docker logs compat never showed "ready"');
  });

  it('docker stop, ps -a, rm', T, async () => {
    assert.equal(expectOk('docker stop', await docker(['stop', '-t', '1', 'compat'])).trim(), 'compat');
    const all = expectOk('docker ps -a', await docker(['ps', '-a', '--format', '{{.Names}}\t{{.Status}}']));
    assert.match(all, /^compat\tExited \(137\) /m);
    assert.equal(expectOk('docker rm', await docker(['rm', 'compat'])).trim(), 'compat');
    assert.equal(expectOk('docker ps -aq', await docker(['ps', '-a', '-q'])), '');
    assert.deepEqual(processesMentioning(id).map((p) => p.argv.join(' ')), []);
    const gone = await docker(['inspect', 'compat']);
    assert.equal(gone.code, 1, describeResult('inspect removed', gone));
    assert.match(gone.stderr, /No such object: compat/);
  });

  it('docker rmi removes the image', T, async () => {
    const r = await docker(['rmi', 'busybox:latest']);
    const out = expectOk('docker rmi', r);
    assert.match(out, /Untagged: busybox:latest/);
    assert.match(out, /Deleted: sha256:[0-9a-f]{64}/);
    assert.equal(expectOk('docker images -q', await docker(['images', '-q'])), '');
  });
});
