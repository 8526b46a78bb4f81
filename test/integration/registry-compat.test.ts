/**
 * Other tools and registries: skopeo copying to and from berth's registry (OCI manifests
 * included), berthd pushing to and pulling from Debian's docker-registry (the reference
 * implementation), and berth's registry behind htpasswd basic auth and behind its own token
 * endpoint, with berth and docker logging in (and failing to, with a wrong password).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, run } from '../helpers/exec.js';
import { hasReferenceRegistry, startBerthRegistry, startReferenceRegistry, type TestRegistry } from '../helpers/registry.js';

const T = { timeout: 180_000 };
const SKOPEO = '/usr/bin/skopeo';

describe('registry compatibility', { timeout: 900_000 }, () => {
  let d1: TestDaemon;
  let d2: TestDaemon;
  let imageId: string;
  let tmp: string;
  const registries: TestRegistry[] = [];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'berth-test-regcompat-'));
    writeFileSync(join(tmp, 'htpasswd'), `alice:${bcrypt.hashSync('wonderland', 5).replace(/^\$2b\$/, '$2y$')}\n`);
    d1 = await startDaemon();
    d2 = await startDaemon();
    imageId = await importBusybox(d1);
  });
  after(async () => {
    await Promise.allSettled([d1?.stop(), d2?.stop(), ...registries.map((r) => r.stop())]);
    rmSync(tmp, { recursive: true, force: true });
  });

  const envFor = (name: string): NodeJS.ProcessEnv => {
    const dir = join(tmp, `cfg-${name}`);
    return { DOCKER_CONFIG: dir };
  };

  it('skopeo copies from and to berth\'s registry, and berthd pulls the OCI image skopeo pushed', { ...T, skip: !existsSync(SKOPEO) && 'skopeo is not installed' }, async () => {
    const reg = await startBerthRegistry(['-q']);
    registries.push(reg);
    expectOk('tag', await d1.berth(['tag', 'busybox', `${reg.addr}/src/busybox:1`]));
    expectOk('push', await d1.berth(['push', `${reg.addr}/src/busybox:1`], { env: envFor('skopeo') }));
    const oci = join(tmp, 'oci-layout');
    const out = await run(SKOPEO, ['copy', '--src-tls-verify=false', `docker://${reg.addr}/src/busybox:1`, `oci:${oci}:busybox`], { timeoutMs: 120_000 });
    assert.equal(out.code, 0, describeResult('skopeo copy out', out));
    const back = await run(SKOPEO, ['copy', '--dest-tls-verify=false', `oci:${oci}:busybox`, `docker://${reg.addr}/skopeo/oci:1`], { timeoutMs: 120_000 });
    assert.equal(back.code, 0, describeResult('skopeo copy in', back));
    const head = await fetch(`http://${reg.addr}/v2/skopeo/oci/manifests/1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(head.headers.get('content-type'), 'application/vnd.oci.image.manifest.v1+json');
    await head.arrayBuffer();
    const inspect = await run(SKOPEO, ['inspect', '--tls-verify=false', `docker://${reg.addr}/skopeo/oci:1`], { timeoutMs: 60_000 });
    assert.equal(inspect.code, 0, describeResult('skopeo inspect', inspect));
    const pulled = expectOk('pull OCI', await d2.berth(['pull', `${reg.addr}/skopeo/oci:1`], { env: envFor('skopeo'), timeoutMs: 120_000 }));
    assert.match(pulled, /Pull complete/);
    const doc = (await d2.api('GET', `/images/${reg.addr}/skopeo/oci:1/json`)).json as { RootFS: { Layers: string[] } };
    const original = (await d1.api('GET', `/images/${imageId}/json`)).json as { RootFS: { Layers: string[] } };
    assert.deepEqual(doc.RootFS.Layers, original.RootFS.Layers, 'same diffIDs after a round trip through skopeo');
  });

  it('berthd pushes to and pulls from Debian\'s docker-registry', { ...T, skip: !hasReferenceRegistry() && 'docker-registry is not installed' }, async () => {
    const ref = await startReferenceRegistry();
    registries.push(ref);
    const name = `${ref.addr}/reference/busybox:1`;
    expectOk('tag', await d1.berth(['tag', 'busybox', name]));
    const push = expectOk('push', await d1.berth(['push', name], { env: envFor('ref'), timeoutMs: 120_000 }));
    assert.match(push, /1: digest: sha256:[a-f0-9]{64} size: \d+/);
    const pull = expectOk('pull', await d2.berth(['pull', name], { env: envFor('ref'), timeoutMs: 120_000 }));
    assert.match(pull, /Status: Downloaded newer image/);
    assert.equal(((await d2.api('GET', `/images/${name}/json`)).json as { Id: string }).Id, imageId);
  });

  it('basic auth: wrong password refused, berth and docker log in, push, pull and log out', T, async () => {
    const reg = await startBerthRegistry(['-q', '--htpasswd', join(tmp, 'htpasswd')]);
    registries.push(reg);
    const env = envFor('basic');
    const name = `${reg.addr}/private/busybox:1`;
    expectOk('tag', await d1.berth(['tag', 'busybox', name]));
    const anonymous = await d1.berth(['push', name], { env });
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /unauthorized|authentication required/i);
    const wrong = await d1.berth(['login', '-u', 'alice', '--password-stdin', reg.addr], { env, input: 'nope\n' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /401 Unauthorized/);
    const ok = await d1.berth(['login', '-u', 'alice', '--password-stdin', reg.addr], { env, input: 'wonderland\n' });
    assert.equal(expectOk('login', ok).trim(), 'Login Succeeded');
    const config = JSON.parse(readFileSync(join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(config.auths[reg.addr]!.auth, 'base64').toString(), 'alice:wonderland');
    expectOk('push', await d1.berth(['push', name], { env }));
    expectOk('pull', await d2.berth(['pull', name], { env }));
    // docker's CLI reads the same file berth wrote (--config: the helper pins DOCKER_CONFIG).
    const dockerName = `${reg.addr}/private/docker:1`;
    expectOk('docker tag', await d1.docker(['tag', 'busybox', dockerName]));
    const dockerPush = await d1.docker(['--config', env.DOCKER_CONFIG!, 'push', dockerName], { timeoutMs: 120_000 });
    assert.equal(dockerPush.code, 0, describeResult('docker push with berth credentials', dockerPush));
    assert.match(expectOk('logout', await d1.berth(['logout', reg.addr], { env })), new RegExp(`Removing login credentials for ${reg.addr}`));
    const afterLogout = await d2.berth(['pull', `${reg.addr}/private/docker:1`], { env });
    assert.notEqual(afterLogout.code, 0);
  });

  it('token auth: login stores an identity token; push and pull go through the token endpoint', T, async () => {
    const reg = await startBerthRegistry(['-q', '--htpasswd', join(tmp, 'htpasswd'), '--token-issuer', 'berth-test']);
    registries.push(reg);
    const env = envFor('token');
    const name = `${reg.addr}/tok/busybox:1`;
    const challenge = await fetch(`http://${reg.addr}/v2/`);
    await challenge.arrayBuffer();
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="http://${reg.addr}/token",service="${reg.addr}"`));
    const wrong = await d1.berth(['login', '-u', 'alice', '-p', 'bad', reg.addr], { env });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /incorrect username or password/);
    expectOk('login', await d1.berth(['login', '-u', 'alice', '--password-stdin', reg.addr], { env, input: 'wonderland' }));
    const config = JSON.parse(readFileSync(join(env.DOCKER_CONFIG!, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string; identitytoken?: string }> };
    assert.ok(config.auths[reg.addr]!.identitytoken, 'a refresh token is stored as identitytoken');
    expectOk('tag', await d1.berth(['tag', 'busybox', name]));
    expectOk('push', await d1.berth(['push', name], { env }));
    const pull = expectOk('pull', await d2.berth(['pull', name], { env }));
    assert.match(pull, /Status: Downloaded newer image/);
    const anonymous = await d2.berth(['pull', name], { env: envFor('nobody') });
    assert.notEqual(anonymous.code, 0);
    // The docker CLI logs in with the OAuth2 flow against the same endpoint.
    const dockerLogin = await d1.docker(['--config', envFor('docker-token').DOCKER_CONFIG!, 'login', '-u', 'alice', '--password-stdin', reg.addr], { input: 'wonderland\n' });
    assert.equal(dockerLogin.code, 0, describeResult('docker login', dockerLogin));
  });
});
