/**
 * The three-service app: a busybox httpd `web` publishing a port and gated by a healthcheck, a
 * one-shot `init` that seeds a named volume (service_completed_successfully), and a `worker`
 * that reads from web by its service name. Needs the daemon's networks and volumes; skips with
 * the reason when GET /networks or GET /volumes does not answer.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { expectOk, waitFor } from '../helpers/exec.js';
import { importBusybox } from '../helpers/images.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const APP = `
services:
  init:
    image: busybox
    command: ["sh", "-c", "test -f /data/seed.txt || echo seeded-$$RANDOM$$RANDOM > /data/seed.txt"]
    volumes: ["data:/data"]
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && { echo hello-from-web; cat /data/seed.txt; } > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:\${WEB_PORT}:80"]
    volumes: ["data:/data"]
    depends_on:
      init: {condition: service_completed_successfully}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/"]
      interval: 1s
      retries: 30
    stop_grace_period: 1s
  worker:
    image: busybox
    command: ["sh", "-c", "while true; do wget -q -O- http://web/ && sleep 1 || sleep 1; done"]
    depends_on:
      web: {condition: service_healthy}
      init: {condition: service_completed_successfully}
    stop_grace_period: 1s
volumes:
  data: {}
`;

describe('berth compose: three-service app with networks and volumes', () => {
  let d: TestDaemon;
  let dir: string;
  let skip: string | false = false;
  let port = 0;
  before(async () => {
    d = await startDaemon();
    const nets = await d.api('GET', '/networks');
    const vols = await d.api('GET', '/volumes');
    if (nets.status !== 200) skip = `berthd has no networks API yet (GET /networks -> ${nets.status})`;
    else if (vols.status !== 200) skip = `berthd has no volumes API yet (GET /volumes -> ${vols.status})`;
    await importBusybox(d);
    dir = mkdtempSync(join(tmpdir(), 'berth-compose-app-'));
    writeFileSync(join(dir, 'compose.yaml'), APP);
    port = await freePort();
  });
  after(async () => {
    if (!skip) await d.berth(['compose', '-p', 'shop', 'down', '-v', '-t', '0'], { cwd: dir, env: { WEB_PORT: String(port) } }).catch(() => undefined);
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const compose = (args: string[]) => d.berth(['compose', '-p', 'shop', ...args], { cwd: dir, env: { WEB_PORT: String(port) }, timeoutMs: 120_000 });
  const workerSees = async (text: RegExp): Promise<boolean> => text.test((await compose(['logs', '--no-color', 'worker'])).stdout);

  test('up -d: init completes first, web becomes healthy, worker reads web by name, the port is published', async (t) => {
    if (skip) return t.skip(skip);
    const r = await compose(['up', '-d']);
    expectOk('up -d', r);
    const ps = expectOk('ps -a', await compose(['ps', '-a', '--format', '{{.Service}} {{.State}}']));
    assert.match(ps, /^init exited$/m);
    assert.match(ps, /^web running$/m);
    assert.match(ps, /^worker running$/m);
    const exit = await d.api('GET', '/containers/shop-init-1/json');
    assert.equal((exit.json as { State: { ExitCode: number } }).State.ExitCode, 0);
    assert.ok(await waitFor(() => workerSees(/hello-from-web/), { timeoutMs: 20_000 }), 'worker never reached http://web/');
    assert.match(await httpGet(port), /hello-from-web\nseeded-\d+/);
    const net = await d.api('GET', '/networks/shop_default');
    assert.equal(net.status, 200);
    assert.equal((net.json as { Labels: Record<string, string> }).Labels['com.docker.compose.project'], 'shop');
  });

  test('exec and run reach the service containers', async (t) => {
    if (skip) return t.skip(skip);
    assert.match(expectOk('exec', await compose(['exec', '-T', 'web', 'cat', '/data/seed.txt'])), /^seeded-\d+$/m);
    const env = expectOk('exec -e', await compose(['exec', '-T', '-e', 'X=42', '-w', '/data', 'web', 'sh', '-c', 'echo $X $(pwd)']));
    assert.equal(env.trim(), '42 /data');
    const run = await compose(['run', '--rm', '--no-deps', 'init', 'cat', '/data/seed.txt']);
    assert.match(expectOk('run --rm', run), /^seeded-\d+$/m);
    const oneoffs = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.oneoff=True'] }))}`);
    assert.deepEqual(oneoffs.json, []);
  });

  test('down keeps the named volume; the next up sees the same data; down -v removes it', async (t) => {
    if (skip) return t.skip(skip);
    const seed = await httpGet(port);
    expectOk('down', await compose(['down', '-t', '0']));
    assert.equal((await d.api('GET', '/networks/shop_default')).status, 404);
    assert.equal((await d.api('GET', '/volumes/shop_data')).status, 200);
    // init seeds only an empty volume, so the same seed after a new up means the volume survived.
    expectOk('up -d again', await compose(['up', '-d']));
    assert.equal(await waitFor(async () => (await httpGet(port).catch(() => '')) || false, { timeoutMs: 20_000 }), seed);
    expectOk('down -v', await compose(['down', '-v', '-t', '0']));
    assert.equal((await d.api('GET', '/volumes/shop_data')).status, 404);
  });
});
