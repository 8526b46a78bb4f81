/**
 * berth compose's image verbs end to end: `build` runs the Dockerfile of a service's build
 * section and tags the service's image, `up` runs what was built, `push` sends it to a registry
 * (berth's own, on loopback) and `pull` brings it into a second daemon that never saw it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { describeResult, expectOk } from '../helpers/exec.js';
import { importBusybox } from '../helpers/images.js';
import { startBerthRegistry, type TestRegistry } from '../helpers/registry.js';

describe('berth compose build, push and pull', { timeout: 600_000 }, () => {
  let builder: TestDaemon;
  let puller: TestDaemon;
  let reg: TestRegistry;
  let dir: string;
  let configDir: string;
  let image = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-compose-img-'));
    configDir = mkdtempSync(join(tmpdir(), 'berth-compose-img-cfg-'));
    reg = await startBerthRegistry(['-q']);
    [builder, puller] = await Promise.all([startDaemon(), startDaemon()]);
    await importBusybox(builder);
    image = `${reg.addr}/demo/app:1`;
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'app', 'Dockerfile'), 'FROM busybox\nARG GREETING=unset\nRUN echo "built with $GREETING" > /built.txt\nCMD ["cat", "/built.txt"]\n');
    writeFileSync(
      join(dir, 'compose.yaml'),
      ['services:', '  app:', `    image: ${image}`, '    build:', '      context: ./app', '      args: {GREETING: compose}', '    network_mode: none', ''].join('\n'),
    );
  });
  after(async () => {
    await Promise.allSettled([builder?.stop(), puller?.stop(), reg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  });

  const compose = (d: TestDaemon, args: string[]) => d.berth(['compose', '-p', 'imgs', ...args], { cwd: dir, env: { DOCKER_CONFIG: configDir }, timeoutMs: 180_000 });

  test('build tags the service image with the build args applied; up runs it', async () => {
    expectOk('compose build', await compose(builder, ['build']));
    const inspect = await builder.api('GET', `/images/${encodeURIComponent(image)}/json`);
    assert.equal(inspect.status, 200, inspect.text);
    expectOk('compose up', await compose(builder, ['up', '-d']));
    const ps = (await builder.api('GET', '/containers/json?all=1')).json as { Id: string; Image: string }[];
    assert.equal(ps.length, 1);
    assert.equal(ps[0]!.Image, image);
    const wait = await builder.api('POST', `/containers/${ps[0]!.Id}/wait`);
    assert.equal((wait.json as { StatusCode: number }).StatusCode, 0);
    const logs = await builder.berth(['logs', ps[0]!.Id]);
    assert.equal(expectOk('logs', logs), 'built with compose\n');
    expectOk('compose down', await compose(builder, ['down']));
  });

  test('push sends the built image to the registry; pull fetches it into another daemon', async () => {
    const pushed = await compose(builder, ['push']);
    expectOk('compose push', pushed);
    const tags = await fetch(`http://${reg.addr}/v2/demo/app/tags/list`);
    assert.deepEqual(await tags.json(), { name: 'demo/app', tags: ['1'] });

    const missing = await puller.api('GET', `/images/${encodeURIComponent(image)}/json`);
    assert.equal(missing.status, 404);
    const pulled = await compose(puller, ['pull']);
    assert.equal(pulled.code, 0, describeResult('compose pull', pulled));
    const have = await puller.api('GET', `/images/${encodeURIComponent(image)}/json`);
    assert.equal(have.status, 200, have.text);
    const original = await builder.api('GET', `/images/${encodeURIComponent(image)}/json`);
    assert.equal((have.json as { Id: string }).Id, (original.json as { Id: string }).Id, 'the same image ID on both daemons');
  });

  test('pull of a service whose image the registry lacks fails with the registry\'s error', async () => {
    writeFileSync(join(dir, 'other.yaml'), ['services:', '  ghost:', `    image: ${reg.addr}/demo/ghost:9`, '    network_mode: none', ''].join('\n'));
    const r = await puller.berth(['compose', '-p', 'imgs', '-f', 'other.yaml', 'pull'], { cwd: dir, env: { DOCKER_CONFIG: configDir }, timeoutMs: 60_000 });
    assert.notEqual(r.code, 0, describeResult('compose pull ghost', r));
    assert.match(r.stderr, /manifest unknown|not found/i);
  });
});
