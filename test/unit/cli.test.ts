import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeFrame, StreamType } from '../../src/client/stdcopy.js';

// Runs the compiled CLI against a fake Engine API to check the request flow, output and exit codes.
const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const sockDir = mkdtempSync(join(tmpdir(), 'berth-cli-'));
const sock = join(sockDir, 'fake.sock');
const calls: string[] = [];
const bodies: Record<string, unknown> = {};
let server: Server;

function json(res: ServerResponse, status: number, value: unknown): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify(value));
}

function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = url.pathname.replace(/^\/v1\.41/, '');
  calls.push(`${req.method} ${path}${url.search}`);
  const now = Math.floor(Date.now() / 1000);
  if (path === '/events') {
    // An endless stream, as a daemon's events are until the client goes.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const timer = setInterval(() => res.write(`${JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'aaaaaaaaaaaa1111', Attributes: { name: 'web' } }, time: now, timeNano: now * 1e9 })}\n`), 5);
    res.on('close', () => clearInterval(timer));
    return;
  }
  if (path === '/version') return json(res, 200, { Version: '0.1.0', ApiVersion: '1.41', MinAPIVersion: '1.24', Os: 'linux', Arch: 'amd64', GoVersion: 'node', GitCommit: 'x' });
  if (path === '/containers/json') {
    return json(res, 200, [
      { Id: 'aaaaaaaaaaaa1111', Names: ['/web'], Image: 'alpine', Command: 'sleep 1000', Created: now - 5, State: 'running', Status: 'Up 5 seconds', Ports: [], Labels: { tier: 'front' } },
    ]);
  }
  if (path === '/containers/create') {
    bodies.create = JSON.parse(body);
    bodies.createName = url.searchParams.get('name');
    return json(res, 201, { Id: 'cccccccccccc2222', Warnings: [] });
  }
  if (path === '/containers/cccccccccccc2222/start') {
    res.writeHead(204).end();
    startAttached?.();
    return;
  }
  if (path === '/containers/cccccccccccc2222/wait') {
    // Like berthd: headers at once, the status when the container has exited.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    void exited.then(() => res.end(JSON.stringify({ StatusCode: 3 })));
    return;
  }
  if (req.method === 'DELETE' && path === '/containers/cccccccccccc2222') return void res.writeHead(204).end();
  if (path === '/containers/web/json') return json(res, 200, { Id: 'aaaaaaaaaaaa1111', Name: '/web', State: { Status: 'running', Pid: 7 }, Config: { Tty: false } });
  if (path.startsWith('/containers/')) return json(res, 404, { message: `No such container: ${path.split('/')[2]}` });
  if (path.startsWith('/images/')) return json(res, 404, { message: `No such image: ${path.split('/')[2]}` });
  json(res, 404, { message: 'page not found' });
}

// The attached run's output flows once the container starts; the wait answers after that.
let startAttached: (() => void) | undefined;
let exited: Promise<void> = Promise.resolve();

/** A hijacked attach as berthd answers it: 101, then multiplexed frames, then close. */
function attach(req: IncomingMessage, socket: Duplex): void {
  const url = new URL(req.url ?? '/', 'http://x');
  calls.push(`${req.method} ${url.pathname.replace(/^\/v1\.41/, '')}${url.search}`);
  socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
  let markExited!: () => void;
  exited = new Promise((r) => (markExited = r));
  startAttached = () => {
    socket.write(encodeFrame(StreamType.Stdout, 'hello from '));
    socket.end(Buffer.concat([encodeFrame(StreamType.Stdout, 'berth\n'), encodeFrame(StreamType.Stderr, 'warn\n')]));
    markExited();
  };
}

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, res, body));
  });
  server.on('upgrade', attach);
  await new Promise<void>((r) => server.listen(sock, r));
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(sockDir, { recursive: true, force: true });
});

function berth(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, BERTH_HOST: `unix://${sock}`, ...env } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test('ps renders docker columns', async () => {
  const r = await berth(['ps']);
  assert.equal(r.code, 0, r.stderr);
  const [header, row] = r.stdout.split('\n');
  assert.equal(header, 'CONTAINER ID   IMAGE     COMMAND        CREATED         STATUS         PORTS     NAMES');
  assert.equal(row, 'aaaaaaaaaaaa   alpine    "sleep 1000"   5 seconds ago   Up 5 seconds             web');
});

test('ps -q, --format with .Label, and filters on the wire', async () => {
  assert.equal((await berth(['ps', '-q'])).stdout, 'aaaaaaaaaaaa\n');
  assert.equal((await berth(['container', 'ls', '--format', '{{.Names}}\\t{{.Label "tier"}}'])).stdout, 'web\tfront\n');
  calls.length = 0;
  await berth(['ps', '-a', '-f', 'status=exited', '-f', 'name=web']);
  assert.equal(calls[0], `GET /containers/json?all=1&filters=${encodeURIComponent('{"status":{"exited":true},"name":{"web":true}}')}`);
});

test('run: create, attach, wait for removal, start, demultiplexed output, exit with the container status, --rm on the daemon', async () => {
  calls.length = 0;
  const r = await berth(['run', '--rm', '--name', 'x', '-e', 'A=1', '-w', '/tmp', 'alpine', 'sh', '-c', 'echo hi']);
  assert.equal(r.stdout, 'hello from berth\n');
  assert.equal(r.stderr, 'warn\n');
  assert.equal(r.code, 3);
  const create = bodies.create as { Image: string; Cmd: string[]; Env: string[]; WorkingDir: string; HostConfig: { AutoRemove: boolean } };
  assert.equal(bodies.createName, 'x');
  assert.equal(create.Image, 'alpine');
  assert.deepEqual(create.Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(create.Env, ['A=1']);
  assert.equal(create.WorkingDir, '/tmp');
  assert.equal((bodies.create as { HostConfig: { AutoRemove: boolean } }).HostConfig.AutoRemove, true);
  assert.deepEqual(calls, [
    'POST /containers/create?name=x',
    'POST /containers/cccccccccccc2222/attach?stream=1&stdout=1&stderr=1',
    'POST /containers/cccccccccccc2222/wait?condition=removed',
    'POST /containers/cccccccccccc2222/start',
  ]);
});

test('run -d prints the ID and asks the daemon to auto-remove', async () => {
  const r = await berth(['run', '-d', '--rm', 'alpine']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'cccccccccccc2222\n');
  assert.equal((bodies.create as { HostConfig: { AutoRemove: boolean } }).HostConfig.AutoRemove, true);
});

test('errors: daemon messages, exit codes, usage', async () => {
  const rm = await berth(['rm', 'nope']);
  assert.equal(rm.code, 1);
  assert.equal(rm.stderr, 'Error response from daemon: No such container: nope\n');
  const bad = await berth(['run', '--bogus', 'alpine']);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, "unknown flag: --bogus\nSee 'berth run --help'.\n");
  const unknown = await berth(['frobnicate']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.stderr, "berth: 'frobnicate' is not a berth command.\nSee 'berth --help'\n");
  const tpl = await berth(['ps', '--format', '{{.ID']);
  assert.equal(tpl.code, 1);
  assert.match(tpl.stderr, /^template parsing error: template: :1: unclosed action/);
  const down = await berth(['ps'], { BERTH_HOST: 'unix:///nonexistent.sock' });
  assert.equal(down.code, 1);
  assert.equal(down.stderr, 'Cannot connect to the Berth daemon at unix:///nonexistent.sock. Is the berth daemon running?\n');
});

test('inspect: container first, then image, 4-space JSON, -f templates', async () => {
  const r = await berth(['inspect', 'web']);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), [{ Id: 'aaaaaaaaaaaa1111', Name: '/web', State: { Status: 'running', Pid: 7 }, Config: { Tty: false } }]);
  assert.match(r.stdout, /^\[\n {4}\{\n {8}"Id"/);
  assert.equal((await berth(['inspect', '-f', '{{.State.Pid}} {{.Name}}', 'web'])).stdout, '7 /web\n');
  const missing = await berth(['inspect', 'ghost']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stdout, '[]\n');
  assert.equal(missing.stderr, 'Error: No such object: ghost\n');
});

test('version shows client and server sections', async () => {
  const r = await berth(['version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Client:\n Version: {11}0\.1\.0\n API version: {7}1\.41\n/);
  assert.match(r.stdout, /\nServer:\n Engine:\n  Version: {10}0\.1\.0\n  API version: {6}1\.41 \(minimum version 1\.24\)\n/);
  assert.equal((await berth(['version', '--format', '{{.Server.Version}}'])).stdout, '0.1.0\n');
});

test('a reader that goes away (events | head) ends the CLI quietly with 141, as SIGPIPE does the docker CLI', async () => {
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile('bash', ['-c', `set -o pipefail; "${process.execPath}" "${MAIN}" events | head -n 2`], { env: { ...process.env, BERTH_HOST: `unix://${sock}` }, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
  assert.equal(r.stdout.trim().split('\n').length, 2, r.stdout);
  assert.equal(r.code, 141, r.stderr);
  assert.doesNotMatch(r.stderr, /EPIPE|Error/);
});
