/**
 * The real docker-compose 1.29 (Python, Debian's package) against berthd: up -d, ps, logs,
 * exec, down on a two-service app, and berth compose and docker-compose seeing each other's
 * projects through the com.docker.compose.* labels. Skips when docker-compose is not installed
 * (apt-get install -y docker-compose) or berthd has no networks API.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { expectOk, run } from '../helpers/exec.js';
import { importBusybox } from '../helpers/images.js';

const DOCKER_COMPOSE = process.env.BERTH_TEST_DOCKER_COMPOSE ?? '/usr/bin/docker-compose';

const APP = `version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web-up; exec httpd -f -p 80"]
  worker:
    image: busybox
    command: ["sh", "-c", "echo worker-up; sleep 600"]
    depends_on: [web]
`;

describe('docker-compose 1.29 against berthd', () => {
  let d: TestDaemon;
  let dir: string;
  let skip: string | false = false;
  before(async () => {
    d = await startDaemon();
    if (!existsSync(DOCKER_COMPOSE)) skip = `${DOCKER_COMPOSE} not installed (apt-get install -y docker-compose)`;
    else if ((await d.api('GET', '/networks')).status !== 200) skip = 'berthd has no networks API yet (GET /networks)';
    await importBusybox(d);
    dir = mkdtempSync(join(tmpdir(), 'berth-compose-compat-'));
    writeFileSync(join(dir, 'docker-compose.yml'), APP);
  });
  after(async () => {
    if (!skip) {
      await dc(['down', '-t', '0']).catch(() => undefined);
      await d.berth(['compose', '-p', 'both', 'down', '-t', '0'], { cwd: dir }).catch(() => undefined);
    }
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const dc = (args: string[], project = 'legacy') => run(DOCKER_COMPOSE, ['--no-ansi', '-p', project, ...args], {
    cwd: dir,
    env: { ...process.env, DOCKER_HOST: d.host, COMPOSE_INTERACTIVE_NO_CLI: '1' },
    timeoutMs: 120_000,
  });

  test('up -d, ps, logs, exec, down', async (t) => {
    if (skip) return t.skip(skip);
    const up = await dc(['up', '-d']);
    expectOk('docker-compose up -d', up);
    const ps = expectOk('docker-compose ps', await dc(['ps']));
    assert.match(ps, /legacy_web_1 .* Up/);
    assert.match(ps, /legacy_worker_1 .* Up/);
    const logs = expectOk('docker-compose logs', await dc(['logs', '--no-color']));
    assert.match(logs, /web_1 +\| web-up/);
    assert.match(logs, /worker_1 +\| worker-up/);
    const ex = await dc(['exec', '-T', 'web', 'echo', 'from-exec']);
    expectOk('docker-compose exec', ex);
    assert.equal(ex.stdout.trim(), 'from-exec');
    // berth compose reads the same project through its labels.
    const berthPs = expectOk('berth compose ps', await d.berth(['compose', '-p', 'legacy', 'ps', '--format', '{{.Name}} {{.Service}}'], { cwd: dir }));
    assert.equal(berthPs, 'legacy_web_1 web\nlegacy_worker_1 worker\n');
    expectOk('docker-compose down', await dc(['down', '-t', '1']));
    const left = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.project=legacy'] }))}`);
    assert.deepEqual(left.json, []);
    assert.equal((await d.api('GET', '/networks/legacy_default')).status, 404);
  });

  test('a project berth compose started is listed and removed by docker-compose', async (t) => {
    if (skip) return t.skip(skip);
    expectOk('berth compose up -d', await d.berth(['compose', '-p', 'both', 'up', '-d'], { cwd: dir, timeoutMs: 120_000 }));
    const ps = expectOk('docker-compose ps', await dc(['ps'], 'both'));
    assert.match(ps, /both-web-1 .* Up/);
    assert.match(ps, /both-worker-1 .* Up/);
    // docker-compose 1.29 skips containers whose HostConfig.LogConfig has no driver.
    const logs = expectOk('docker-compose logs', await dc(['logs', '--no-color'], 'both'));
    assert.match(logs, /both-web-1 +\| web-up/);
    assert.match(logs, /both-worker-1 +\| worker-up/);
    expectOk('docker-compose down', await dc(['down', '-t', '1'], 'both'));
    const left = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.project=both'] }))}`);
    assert.deepEqual(left.json, []);
  });
});
