/**
 * berth compose against a test berthd: names and labels, scale up and down, recreate of only
 * what changed, nothing touched when nothing changed, errors before anything is created,
 * profiles. These projects use network_mode: none, so they need no networking in the daemon.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { expectOk, waitFor } from '../helpers/exec.js';
import { berthBin } from '../helpers/paths.js';
import { importBusybox } from '../helpers/images.js';

interface Listed {
  Id: string;
  Names: string[];
  State: string;
  Labels: Record<string, string>;
}

describe('berth compose (no networking needed)', () => {
  let d: TestDaemon;
  let dir: string;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    dir = mkdtempSync(join(tmpdir(), 'berth-compose-it-'));
  });
  after(async () => {
    // Remove whatever a failed test left, through the API, then the daemon's own cleanup.
    const left = await d.api('GET', '/containers/json?all=1');
    for (const c of (left.json as Listed[] | undefined) ?? []) await d.api('DELETE', `/containers/${c.Id}?force=1`);
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (text: string, file = 'compose.yaml'): void => writeFileSync(join(dir, file), text);
  const compose = (args: string[], env: NodeJS.ProcessEnv = {}) => d.berth(['compose', '-p', 'demo', ...args], { cwd: dir, env, timeoutMs: 120_000 });
  const listed = async (): Promise<Listed[]> => {
    const r = await d.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.compose.project=demo'] }))}`);
    return (r.json as Listed[]).sort((a, b) => (a.Names[0] ?? '').localeCompare(b.Names[0] ?? ''));
  };
  const app = (workerCmd: string, replicas = 1): string => [
    'services:',
    '  db:',
    '    image: busybox',
    '    network_mode: none',
    '    command: ["sleep", "600"]',
    '    stop_grace_period: 1s',
    '  worker:',
    '    image: busybox',
    '    network_mode: none',
    `    command: ["sh", "-c", "${workerCmd}"]`,
    '    stop_grace_period: 1s',
    '    depends_on: [db]',
    `    deploy: {replicas: ${replicas}}`,
    '    environment: {MODE: "${MODE:-plain}"}',
    '',
  ].join('\n');

  test('up -d: project-service-N names, compose labels, dependency order', async () => {
    write(app('echo working; sleep 600'));
    expectOk('compose up -d', await compose(['up', '-d']));
    const cs = await listed();
    assert.deepEqual(cs.map((c) => `${c.Names[0]}:${c.State}`), ['/demo-db-1:running', '/demo-worker-1:running']);
    const w = cs[1] as Listed;
    assert.equal(w.Labels['com.docker.compose.project'], 'demo');
    assert.equal(w.Labels['com.docker.compose.service'], 'worker');
    assert.equal(w.Labels['com.docker.compose.container-number'], '1');
    assert.equal(w.Labels['com.docker.compose.oneoff'], 'False');
    assert.match(w.Labels['com.docker.compose.config-hash'] ?? '', /^[0-9a-f]{64}$/);
    assert.equal(w.Labels['com.docker.compose.project.working_dir'], dir);
    assert.equal(w.Labels['com.docker.compose.project.config_files'], join(dir, 'compose.yaml'));
    assert.equal(w.Labels['com.docker.compose.depends_on'], 'db:service_started:false');
    const ps = expectOk('compose ps', await compose(['ps', '--format', '{{.Name}} {{.Service}}']));
    assert.equal(ps, 'demo-db-1 db\ndemo-worker-1 worker\n');
    assert.equal(expectOk('ps --services', await compose(['ps', '--services'])), 'db\nworker\n');
    const logs = expectOk('compose logs', await compose(['logs', '--no-color', 'worker']));
    assert.match(logs, /^demo-worker-1 {2}\| working$/m);
  });

  test('a second up with nothing changed touches no container', async () => {
    const beforeIds = (await listed()).map((c) => c.Id);
    const r = await compose(['up', '-d']);
    expectOk('compose up -d again', r);
    assert.deepEqual((await listed()).map((c) => c.Id), beforeIds);
    assert.doesNotMatch(r.stderr, /Created|Recreated|Started/);
  });

  test('editing one service recreates only that service', async () => {
    const [db, worker] = await listed();
    write(app('echo changed; sleep 600'));
    expectOk('compose up -d (changed)', await compose(['up', '-d']));
    const [db2, worker2] = await listed();
    assert.equal(db2?.Id, db?.Id, 'db untouched');
    assert.notEqual(worker2?.Id, worker?.Id, 'worker recreated');
    assert.equal(worker2?.Names[0], '/demo-worker-1');
    assert.equal(worker2?.State, 'running');
    // Interpolation from the environment changes the config hash too.
    expectOk('compose up -d (MODE)', await compose(['up', '-d'], { MODE: 'fancy' }));
    const [db3, worker3] = await listed();
    assert.equal(db3?.Id, db?.Id);
    assert.notEqual(worker3?.Id, worker2?.Id);
  });

  test('--scale up and down keeps the lowest numbers', async () => {
    expectOk('scale 3', await compose(['up', '-d', '--scale', 'worker=3'], { MODE: 'fancy' }));
    assert.deepEqual((await listed()).map((c) => c.Names[0]), ['/demo-db-1', '/demo-worker-1', '/demo-worker-2', '/demo-worker-3']);
    expectOk('scale 1', await compose(['up', '-d', '--scale', 'worker=1'], { MODE: 'fancy' }));
    assert.deepEqual((await listed()).map((c) => c.Names[0]), ['/demo-db-1', '/demo-worker-1']);
  });

  test('stop, start, down', async () => {
    expectOk('stop', await compose(['stop']));
    assert.deepEqual((await listed()).map((c) => c.State), ['exited', 'exited']);
    expectOk('start', await compose(['start']));
    assert.deepEqual((await listed()).map((c) => c.State), ['running', 'running']);
    expectOk('down', await compose(['down', '-t', '1']));
    assert.deepEqual(await listed(), []);
  });

  test('interpolation and schema errors name file and key, and create nothing', async () => {
    write('services:\n  web:\n    image: "busybox:${TAG:?TAG must be set}"\n    network_mode: none\n');
    let r = await compose(['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /compose\.yaml: services\.web\.image: required variable TAG is missing a value: TAG must be set/);
    write('services:\n  web:\n    image: busybox\n    network_mode: none\n    ports: {http: 80}\n  ok:\n    image: busybox\n    network_mode: none\n');
    r = await compose(['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /compose\.yaml: services\.web\.ports: must be array/);
    write('services:\n  a:\n    image: busybox\n    network_mode: none\n    depends_on: [b]\n  b:\n    image: busybox\n    network_mode: none\n    depends_on: [a]\n');
    r = await compose(['up', '-d']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dependency cycle between services: a -> b -> a/);
    assert.deepEqual(await listed(), []);
  });

  test('config prints no empty lists and keeps $$ escaped, so its output loads to the same', async () => {
    write('services:\n  app:\n    image: busybox\n    network_mode: none\n    command: ["sh", "-c", "echo $$HOME ${GREETING:-hi}"]\n    environment: {PRICE: "$$5"}\n');
    const first = expectOk('config', await compose(['config']));
    assert.doesNotMatch(first, /: \[\]$/m, first);
    assert.match(first, /echo \$\$HOME hi/);
    assert.match(first, /PRICE: \$\$5/);
    write(first, 'again.yaml');
    assert.equal(expectOk('config of the output', await compose(['-f', 'again.yaml', 'config'])), first);
    const json = JSON.parse(expectOk('config --format json', await compose(['config', '--format', 'json']))) as { services: { app: Record<string, unknown> } };
    for (const key of ['ports', 'expose', 'volumes', 'tmpfs']) assert.equal(json.services.app[key], undefined, key);
  });

  test('up --wait returns once services are healthy; a service that exits fails it', async () => {
    write([
      'services:',
      '  slow:',
      '    image: busybox',
      '    network_mode: none',
      '    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 600"]',
      '    stop_grace_period: 1s',
      '    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 300ms, retries: 20}',
      '',
    ].join('\n'));
    expectOk('up --wait', await compose(['up', '-d', '--wait']));
    const health = ((await d.api('GET', '/containers/demo-slow-1/json')).json as { State: { Health: { Status: string } } }).State.Health.Status;
    assert.equal(health, 'healthy');
    write('services:\n  broken:\n    image: busybox\n    network_mode: none\n    command: ["sh", "-c", "exit 3"]\n');
    const r = await compose(['up', '-d', '--wait', '--remove-orphans']);
    assert.notEqual(r.code, 0, `up --wait with an exiting service: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /broken/);
    expectOk('down', await compose(['down', '-t', '0']));
    assert.deepEqual(await listed(), []);
  });

  test('--force-recreate replaces unchanged containers; --no-recreate keeps changed ones; --remove-orphans', async () => {
    const svc = (name: string, cmd: string): string[] => ['  ' + name + ':', '    image: busybox', '    network_mode: none', `    command: ["sh", "-c", "${cmd}"]`, '    stop_grace_period: 1s'];
    write(['services:', ...svc('a', 'sleep 600'), ...svc('b', 'sleep 600'), ''].join('\n'));
    expectOk('up', await compose(['up', '-d']));
    const ids = async (): Promise<string[]> => (await listed()).map((c) => c.Id);
    const first = await ids();
    expectOk('up --force-recreate', await compose(['up', '-d', '--force-recreate']));
    const forced = await ids();
    assert.equal(forced.length, 2);
    assert.ok(forced.every((id) => !first.includes(id)), 'every container was recreated');
    write(['services:', ...svc('a', 'sleep 601'), ...svc('b', 'sleep 600'), ''].join('\n'));
    expectOk('up --no-recreate', await compose(['up', '-d', '--no-recreate']));
    assert.deepEqual(await ids(), forced);
    assert.deepEqual(((await d.api('GET', '/containers/demo-a-1/json')).json as { Config: { Cmd: string[] } }).Config.Cmd, ['sh', '-c', 'sleep 600']);
    // b leaves the file: an up without --remove-orphans keeps it, with it removes it.
    write(['services:', ...svc('a', 'sleep 600'), ''].join('\n'));
    expectOk('up', await compose(['up', '-d']));
    assert.deepEqual((await listed()).map((c) => c.Names[0]), ['/demo-a-1', '/demo-b-1']);
    expectOk('up --remove-orphans', await compose(['up', '-d', '--remove-orphans']));
    assert.deepEqual((await listed()).map((c) => c.Names[0]), ['/demo-a-1']);
    expectOk('down', await compose(['down', '-t', '0']));
  });

  test('down --rmi local removes only images without a custom tag; --rmi all the others too', async () => {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM busybox\nRUN echo built > /built\n');
    expectOk('tag', await d.berth(['tag', 'busybox', 'rmi-all:1']));
    write([
      'services:',
      '  built:',
      '    build: .',
      '    network_mode: none',
      '    command: ["sleep", "600"]',
      '    stop_grace_period: 1s',
      '  tagged:',
      '    image: rmi-all:1',
      '    network_mode: none',
      '    command: ["sleep", "600"]',
      '    stop_grace_period: 1s',
      '',
    ].join('\n'));
    expectOk('up --build', await compose(['up', '-d', '--build']));
    assert.equal((await d.api('GET', '/images/demo-built/json')).status, 200);
    expectOk('down --rmi local', await compose(['down', '--rmi', 'local', '-t', '0']));
    assert.equal((await d.api('GET', '/images/demo-built/json')).status, 404);
    assert.equal((await d.api('GET', '/images/rmi-all:1/json')).status, 200);
    expectOk('up --build', await compose(['up', '-d', '--build']));
    expectOk('down --rmi all', await compose(['down', '--rmi', 'all', '-t', '0']));
    assert.equal((await d.api('GET', '/images/demo-built/json')).status, 404);
    assert.equal((await d.api('GET', '/images/rmi-all:1/json')).status, 404);
    // rmi-all:1 was another tag of busybox: only the tag went.
    assert.equal((await d.api('GET', '/images/busybox/json')).status, 200);
    assert.deepEqual(await listed(), []);
  });

  test('profiles: only enabled services run; --profile and COMPOSE_PROFILES enable more', async () => {
    write('services:\n  app:\n    image: busybox\n    network_mode: none\n    command: [sleep, "600"]\n  debug:\n    image: busybox\n    network_mode: none\n    command: [sleep, "600"]\n    profiles: [debug]\n');
    assert.equal(expectOk('config --services', await compose(['config', '--services'])), 'app\n');
    assert.equal(expectOk('config --services (env)', await compose(['config', '--services'], { COMPOSE_PROFILES: 'debug' })), 'app\ndebug\n');
    expectOk('up --profile debug', await compose(['--profile', 'debug', 'up', '-d']));
    assert.deepEqual((await listed()).map((c) => c.Names[0]), ['/demo-app-1', '/demo-debug-1']);
    expectOk('down', await compose(['--profile', 'debug', 'down', '-t', '0']));
    assert.deepEqual(await listed(), []);
  });

  test('foreground up with --abort-on-container-exit / --exit-code-from prints prefixed logs', async () => {
    write('services:\n  job:\n    image: busybox\n    network_mode: none\n    command: ["sh", "-c", "echo hello from job; exit 3"]\n  idle:\n    image: busybox\n    network_mode: none\n    command: [sleep, "600"]\n    stop_grace_period: 1s\n');
    const r = await compose(['up', '--exit-code-from', 'job', '--no-color']);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stdout, /^demo-job-1 +\| hello from job$/m);
    assert.match(r.stdout, /demo-job-1 exited with code 3/);
    expectOk('down', await compose(['down', '-t', '0']));
  });

  test('Ctrl-C in a foreground up stops the containers gracefully and exits 130', async () => {
    write('services:\n  a:\n    image: busybox\n    network_mode: none\n    command: ["sh", "-c", "echo a ready; exec sleep 600"]\n    stop_grace_period: 1s\n  b:\n    image: busybox\n    network_mode: none\n    command: ["sh", "-c", "echo b ready; exec sleep 600"]\n    stop_grace_period: 1s\n');
    const child = spawn(berthBin, ['compose', '-p', 'demo', 'up', '--no-color'], { cwd: dir, env: { ...process.env, BERTH_HOST: d.host }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      await waitFor(() => /a ready/.test(stdout) && /b ready/.test(stdout), { timeoutMs: 60_000 });
      assert.deepEqual((await listed()).map((c) => c.State), ['running', 'running']);
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 130, `stdout:\n${stdout}\nstderr:\n${stderr}`);
      assert.match(stderr, /Gracefully stopping\.\.\. \(press Ctrl\+C again to force\)/);
      // Stopped, not removed: `up` again would restart them, as docker compose does.
      assert.deepEqual((await listed()).map((c) => [c.Names[0], c.State]), [['/demo-a-1', 'exited'], ['/demo-b-1', 'exited']]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expectOk('down', await compose(['down', '-t', '0']));
  });
});
