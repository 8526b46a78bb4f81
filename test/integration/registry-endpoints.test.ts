/**
 * Where berthd sends registry traffic, tested with real registries and no internet:
 * - inside a network namespace of the test's own (lo and a veth pair with 10.213.7.1/32, no
 *   route anywhere else, so a Docker Hub fallback could not leave the machine), berth
 *   registries on 10.213.7.1: plain http allowed only once the host is in insecure-registries,
 *   registry-mirrors serving docker.io names (the mirror's log shows the hit), and https with a
 *   self-signed CA trusted only through CERTS_DIR/HOST:PORT/ca.crt;
 * - on loopback, a manifest list with linux/amd64 and linux/arm64 entries: the host platform by
 *   default, --platform for the other, docker's error for a platform the list lacks.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, run, sleep } from '../helpers/exec.js';
import { berthBin } from '../helpers/paths.js';
import { startBerthRegistry, type TestRegistry } from '../helpers/registry.js';

const T = { timeout: 180_000 };
const NS = `berthreg${process.pid}`;
const ADDR = '10.213.7.1';
const PLAIN = `${ADDR}:5000`;
const TLS = `${ADDR}:5443`;

async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(describeResult(`${cmd} ${args.join(' ')}`, r));
}

/** `berth registry serve` inside the namespace; resolves once it says it listens. */
async function nsRegistry(dir: string, addr: string, extra: string[]): Promise<{ proc: ChildProcess; log: () => string }> {
  let log = '';
  const proc = spawn('ip', ['netns', 'exec', NS, berthBin, 'registry', 'serve', '--addr', addr, '--root', join(dir, 'root'), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (log = (log + c.toString()).slice(-50_000)));
  for (let i = 0; i < 200 && !/listening on/.test(log); i++) {
    if (proc.exitCode !== null) break;
    await sleep(100);
  }
  if (!/listening on/.test(log)) throw new Error(`registry at ${addr} did not start:\n${log}`);
  return { proc, log: () => log };
}

describe('registry endpoints: insecure-registries, mirrors, certs.d', { timeout: 900_000 }, () => {
  let tmp: string;
  let d: TestDaemon;
  let configFile: string;
  let certsDir: string;
  const procs: ChildProcess[] = [];
  let plain: { log: () => string };
  const savedCertsEnv = process.env.BERTH_REGISTRY_CERTS_DIR;

  const writeConfig = (config: object): void => writeFileSync(configFile, JSON.stringify(config));

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'berth-test-regendpoints-'));
    await sh('ip', ['netns', 'add', NS]);
    await sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    // A veth pair with both ends in the namespace (no dummy driver needed) carries the address.
    await sh('ip', ['-n', NS, 'link', 'add', 'rega', 'type', 'veth', 'peer', 'name', 'regb']);
    await sh('ip', ['-n', NS, 'addr', 'add', `${ADDR}/32`, 'dev', 'rega']);
    await sh('ip', ['-n', NS, 'link', 'set', 'rega', 'up']);
    await sh('ip', ['-n', NS, 'link', 'set', 'regb', 'up']);
    // A CA and a server certificate for 10.213.7.1 signed by it.
    const ssl = (args: string[]): Promise<void> => sh('openssl', args);
    await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'ca.key'), '-out', join(tmp, 'ca.crt'), '-days', '2', '-subj', '/CN=berth test CA']);
    await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'server.key'), '-out', join(tmp, 'server.csr'), '-subj', `/CN=${ADDR}`]);
    writeFileSync(join(tmp, 'san.ext'), `subjectAltName=IP:${ADDR}\n`);
    await ssl(['x509', '-req', '-in', join(tmp, 'server.csr'), '-CA', join(tmp, 'ca.crt'), '-CAkey', join(tmp, 'ca.key'), '-CAcreateserial', '-out', join(tmp, 'server.crt'), '-days', '2', '-extfile', join(tmp, 'san.ext')]);
    const r1 = await nsRegistry(join(tmp, 'plain'), PLAIN, []);
    procs.push(r1.proc);
    plain = r1;
    const r2 = await nsRegistry(join(tmp, 'tls'), TLS, ['-q', '--tls-cert', join(tmp, 'server.crt'), '--tls-key', join(tmp, 'server.key')]);
    procs.push(r2.proc);
    certsDir = join(tmp, 'certs.d');
    mkdirSync(certsDir);
    // berthd inherits the test's environment: CERTS_DIR for this daemon only.
    process.env.BERTH_REGISTRY_CERTS_DIR = certsDir;
    configFile = join(tmp, 'daemon.json');
    writeConfig({});
    d = await startDaemon({ netns: NS, args: ['--config-file', configFile] });
    await importBusybox(d);
  });
  after(async () => {
    if (savedCertsEnv === undefined) delete process.env.BERTH_REGISTRY_CERTS_DIR;
    else process.env.BERTH_REGISTRY_CERTS_DIR = savedCertsEnv;
    await d?.stop();
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGTERM');
        await exited;
      }
    }
    await run('ip', ['netns', 'del', NS]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('plain http to a non-loopback registry only when it is in insecure-registries', T, async () => {
    const ref = `${PLAIN}/aud/insecure:1`;
    expectOk('tag', await d.berth(['tag', 'busybox', ref]));
    const refused = await d.berth(['push', ref]);
    assert.notEqual(refused.code, 0, describeResult('push to an unlisted http registry', refused));
    assert.doesNotMatch(plain.log(), /PUT \/v2\/aud\/insecure\/manifests\/1/);
    writeConfig({ 'insecure-registries': [PLAIN] });
    await d.restart();
    const pushed = await d.berth(['push', ref]);
    assert.equal(pushed.code, 0, describeResult('push once listed', pushed));
    assert.match(plain.log(), /PUT \/v2\/aud\/insecure\/manifests\/1 201/);
    // A CIDR entry covers the host too (docker accepts both forms).
    writeConfig({ 'insecure-registries': ['10.213.7.0/24'] });
    await d.restart();
    expectOk('rmi', await d.berth(['rmi', ref]));
    expectOk('pull via CIDR entry', await d.docker(['pull', ref], { timeoutMs: 120_000 }));
  });

  it('pulls docker.io names from a registry mirror (and never needs Docker Hub)', T, async () => {
    writeConfig({ 'insecure-registries': [PLAIN], 'registry-mirrors': [`http://${PLAIN}`] });
    await d.restart();
    expectOk('tag', await d.berth(['tag', 'busybox', `${PLAIN}/library/busybox:mirrored`]));
    expectOk('push to the mirror', await d.berth(['push', `${PLAIN}/library/busybox:mirrored`]));
    const pulled = await d.docker(['pull', 'busybox:mirrored'], { timeoutMs: 120_000 });
    assert.equal(pulled.code, 0, describeResult('docker pull busybox:mirrored', pulled));
    assert.match(pulled.stdout, /docker\.io\/library\/busybox:mirrored/);
    assert.match(plain.log(), /GET \/v2\/library\/busybox\/manifests\/mirrored 200/);
    const inspect = await d.api('GET', '/images/busybox:mirrored/json');
    assert.equal(inspect.status, 200, inspect.text);
  });

  it('https by default: a self-signed registry is refused until its CA is in CERTS_DIR/HOST:PORT/ca.crt', T, async () => {
    writeConfig({});
    await d.restart();
    const ref = `${TLS}/aud/tls:1`;
    expectOk('tag', await d.berth(['tag', 'busybox', ref]));
    const refused = await d.berth(['push', ref]);
    assert.notEqual(refused.code, 0, describeResult('push without the CA', refused));
    assert.match(refused.stderr, /certificate/i);
    mkdirSync(join(certsDir, TLS));
    writeFileSync(join(certsDir, TLS, 'ca.crt'), await import('node:fs').then((fs) => fs.readFileSync(join(tmp, 'ca.crt'))));
    const pushed = await d.berth(['push', ref]);
    assert.equal(pushed.code, 0, describeResult('push with the CA', pushed));
    expectOk('rmi', await d.berth(['rmi', ref]));
    expectOk('pull over verified https', await d.berth(['pull', ref], { timeoutMs: 120_000 }));
  });
});

describe('manifest lists: platform selection', { timeout: 600_000, skip: process.arch !== 'x64' && 'the host platform must be linux/amd64' }, () => {
  let d: TestDaemon;
  let reg: TestRegistry;
  let busyboxId: string;
  let armConfigDigest: string;

  before(async () => {
    reg = await startBerthRegistry(['-q']);
    d = await startDaemon();
    busyboxId = await importBusybox(d);
    const repo = `${reg.addr}/plat/img`;
    expectOk('tag', await d.berth(['tag', 'busybox', `${repo}:amd64`]));
    expectOk('push', await d.berth(['push', `${repo}:amd64`]));
    const base = `http://${reg.addr}/v2/plat/img`;
    const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
    const amdRes = await fetch(`${base}/manifests/amd64`, { headers: { Accept: MANIFEST } });
    const amdBytes = Buffer.from(await amdRes.arrayBuffer());
    const amd = JSON.parse(amdBytes.toString()) as { config: { digest: string; size: number; mediaType: string }; layers: unknown[] };
    // The same layers under a config that says arm64: a second platform's image.
    const config = (await (await fetch(`${base}/blobs/${amd.config.digest}`)).json()) as Record<string, unknown>;
    const armConfig = Buffer.from(JSON.stringify({ ...config, architecture: 'arm64', variant: 'v8' }));
    armConfigDigest = `sha256:${createHash('sha256').update(armConfig).digest('hex')}`;
    const up = await fetch(`${base}/blobs/uploads/?digest=${armConfigDigest}`, { method: 'POST', body: armConfig, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(up.status, 201, await up.text());
    const armBytes = Buffer.from(JSON.stringify({ ...amd, config: { ...amd.config, digest: armConfigDigest, size: armConfig.length } }));
    const armDigest = `sha256:${createHash('sha256').update(armBytes).digest('hex')}`;
    const putArm = await fetch(`${base}/manifests/${armDigest}`, { method: 'PUT', body: armBytes, headers: { 'Content-Type': MANIFEST } });
    assert.equal(putArm.status, 201, await putArm.text());
    const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const list = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [
        { mediaType: MANIFEST, digest: armDigest, size: armBytes.length, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
        { mediaType: MANIFEST, digest: digestOf(amdBytes), size: amdBytes.length, platform: { architecture: 'amd64', os: 'linux' } },
      ],
    };
    const putList = await fetch(`${base}/manifests/multi`, { method: 'PUT', body: JSON.stringify(list), headers: { 'Content-Type': list.mediaType } });
    assert.equal(putList.status, 201, await putList.text());
    expectOk('rmi', await d.berth(['rmi', `${repo}:amd64`]));
  });
  after(async () => {
    await Promise.allSettled([d?.stop(), reg?.stop()]);
  });

  it('pulls linux/amd64 by default, the other entry with --platform, and refuses a platform the list lacks', T, async () => {
    const ref = `${reg.addr}/plat/img:multi`;
    const idOf = async (): Promise<string> => ((await d.api('GET', `/images/${ref}/json`)).json as { Id: string }).Id;
    expectOk('pull', await d.berth(['pull', ref], { timeoutMs: 120_000 }));
    assert.equal(await idOf(), busyboxId);
    expectOk('rmi', await d.berth(['rmi', ref]));
    const arm = await d.docker(['pull', '--platform', 'linux/arm64', ref], { timeoutMs: 120_000 });
    assert.equal(arm.code, 0, describeResult('docker pull --platform linux/arm64', arm));
    assert.equal(await idOf(), armConfigDigest);
    const inspect = (await d.api('GET', `/images/${ref}/json`)).json as { Architecture: string };
    assert.equal(inspect.Architecture, 'arm64');
    for (const cli of ['berth', 'docker'] as const) {
      const none = await d[cli](['pull', '--platform', 'linux/s390x', ref]);
      assert.equal(none.code, 1, describeResult(`${cli} pull s390x`, none));
      assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
    }
  });
});
