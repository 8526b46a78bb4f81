/**
 * push --all-tags and pull --all-tags against berth's registry on loopback (plain http), with
 * berth and the real docker CLI, for a repository that has no "latest" tag; and the error texts
 * docker users see for an unknown manifest and for a push without credentials.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';
import { startBerthRegistry, type TestRegistry } from '../helpers/registry.js';

const T = { timeout: 180_000 };

describe('registry: all tags, and docker\'s error texts', { timeout: 900_000 }, () => {
  let d1: TestDaemon;
  let d2: TestDaemon;
  let reg: TestRegistry;
  let authReg: TestRegistry;
  let tmp: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'berth-test-regtags-'));
    env = { DOCKER_CONFIG: join(tmp, 'cfg') };
    writeFileSync(join(tmp, 'htpasswd'), `alice:${bcrypt.hashSync('wonderland', 5)}\n`);
    reg = await startBerthRegistry(['-q']);
    authReg = await startBerthRegistry(['-q', '--htpasswd', join(tmp, 'htpasswd')]);
    d1 = await startDaemon();
    d2 = await startDaemon();
    await importBusybox(d1);
  });
  after(async () => {
    await Promise.allSettled([d1?.stop(), d2?.stop(), reg?.stop(), authReg?.stop()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const cli of ['berth', 'docker'] as const) {
    it(`${cli} push -a and pull -a of a repository without "latest" over plain http`, T, async () => {
      const repo = `${reg.addr}/aud/${cli}`;
      for (const tag of ['a', 'b']) expectOk('tag', await d1[cli](['tag', 'busybox', `${repo}:${tag}`]));
      const push = await d1[cli](['push', '--all-tags', repo], { env, timeoutMs: 120_000 });
      assert.equal(push.code, 0, describeResult(`${cli} push -a`, push));
      assert.match(push.stdout, /a: digest: sha256:/);
      assert.match(push.stdout, /b: digest: sha256:/);
      const tags = (await (await fetch(`http://${reg.addr}/v2/aud/${cli}/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(tags.tags.sort(), ['a', 'b']);
      const pull = await d2[cli](['pull', '-a', repo], { env, timeoutMs: 120_000 });
      assert.equal(pull.code, 0, describeResult(`${cli} pull -a`, pull));
      assert.doesNotMatch(pull.stdout + pull.stderr, /EPROTO|wrong version number/);
      const listed = expectOk('images', await d2.berth(['images', '--format', '{{.Repository}}:{{.Tag}}']));
      assert.deepEqual(listed.trim().split('\n').filter((l) => l.startsWith(`${repo}:`)).sort(), [`${repo}:a`, `${repo}:b`]);
    });
  }

  it('words an unknown manifest as moby does, with the registry host', T, async () => {
    const ref = `${reg.addr}/aud/nope:1`;
    const want = `manifest for ${ref} not found: manifest unknown: manifest unknown`;
    const viaBerth = await d2.berth(['pull', ref], { env });
    assert.equal(viaBerth.code, 1);
    assert.match(viaBerth.stderr, new RegExp(want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const viaDocker = await d2.docker(['pull', ref], { env });
    assert.equal(viaDocker.code, 1);
    assert.ok(viaDocker.stderr.includes(want), viaDocker.stderr);
  });

  it('a push without credentials gets the registry\'s words, not advice for one client', T, async () => {
    const ref = `${authReg.addr}/aud/locked:1`;
    expectOk('tag', await d1.berth(['tag', 'busybox', ref]));
    for (const cli of ['berth', 'docker'] as const) {
      const r = await d1[cli](['push', ref], { env: { DOCKER_CONFIG: join(tmp, `empty-${cli}`) } });
      assert.notEqual(r.code, 0, describeResult(`${cli} push`, r));
      assert.match(r.stderr + r.stdout, /unauthorized: authentication required/);
      assert.doesNotMatch(r.stderr + r.stdout, /berth login/);
    }
  });

  it('search filters on the daemon: is-official, stars, unknown keys refused', T, async () => {
    const all = expectOk('search', await d1.berth(['search', `${reg.addr}/aud`], { env }));
    assert.match(all, new RegExp(`${reg.addr}/aud/berth`));
    const official = expectOk('search official', await d1.berth(['search', '--filter', 'is-official=true', `${reg.addr}/aud`], { env }));
    assert.equal(official.trim().split('\n').length, 1, 'a plain registry has no official images: header only');
    const stars = expectOk('search stars', await d1.berth(['search', '--filter', 'stars=0', '--format', '{{.Name}}', `${reg.addr}/aud`], { env }));
    assert.match(stars, new RegExp(`^${reg.addr}/aud/berth$`, 'm'));
    const viaDocker = await d1.docker(['search', '--filter', 'stars=1', `${reg.addr}/aud`], { env });
    assert.equal(viaDocker.code, 0, describeResult('docker search', viaDocker));
    assert.doesNotMatch(viaDocker.stdout, /aud\/berth/);
    const bad = await d1.api('GET', `/images/search?term=${reg.addr}/aud&filters=${encodeURIComponent('{"color":["red"]}')}`);
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /invalid filter 'color'/);
  });
});
