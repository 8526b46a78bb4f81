import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseDaemonArgs } from '../../src/daemon/config.js';
import { Router } from '../../src/api/router.js';
import { humanDuration, humanSize } from '../../src/util/units.js';

test("berthd takes dockerd's flag spellings", () => {
  const parsed = parseDaemonArgs(['--data-root', '/d', '--exec-root=/e', '-H', 'unix:///s1', '--host=unix:///s2', '--pidfile', '/p', '--debug']);
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  assert.deepEqual(parsed.flags, { dataRoot: '/d', execRoot: '/e', hosts: ['unix:///s1', 'unix:///s2'], pidfile: '/p', debug: true });
  assert.throws(() => parseDaemonArgs(['--bogus']), /unknown flag: --bogus/);
  assert.throws(() => parseDaemonArgs(['--data-root']), /flag needs an argument/);
});

test('daemon.json is read, and a key set twice is refused as dockerd does', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  try {
    const file = join(dir, 'daemon.json');
    await writeFile(file, JSON.stringify({ 'data-root': '/from-file', debug: true }));
    const config = await loadConfig({ configFile: file });
    assert.equal(config.dataRoot, '/from-file');
    assert.equal(config.debug, true);
    await assert.rejects(loadConfig({ configFile: file, dataRoot: '/flag' }), /both as a flag and in the configuration file: data-root/);
    await writeFile(file, '{not json');
    await assert.rejects(loadConfig({ configFile: file }), /unable to configure/);
    await assert.rejects(loadConfig({ configFile: join(dir, 'missing.json') }), /no such file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('router matches API paths with params, multi-segment image names and HEAD', () => {
  const router = new Router();
  const noop = (): void => undefined;
  router.on('GET', '/containers/{id}/json', noop).on('GET', '/images/{name*}/json', noop).on('DELETE', '/images/{name*}', noop).on('GET', '/_ping', noop);
  assert.equal(router.match('GET', '/containers/abc/json').params.id, 'abc');
  assert.equal(router.match('GET', '/images/registry:5000/a/b:1/json').params.name, 'registry:5000/a/b:1');
  assert.equal(router.match('DELETE', '/images/a/b').params.name, 'a/b');
  assert.ok(router.match('HEAD', '/_ping').route);
  const wrongMethod = router.match('POST', '/containers/abc/json');
  assert.equal(wrongMethod.route, undefined);
  assert.equal(wrongMethod.pathKnown, true);
});

test('go-units durations and sizes', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(5_000), '5 seconds');
  assert.equal(humanDuration(65_000), 'About a minute');
  assert.equal(humanDuration(3 * 3600_000), '3 hours');
  assert.equal(humanSize(4_264_000, 3), '4.26MB');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(1_500_000_000, 3), '1.5GB');
});
