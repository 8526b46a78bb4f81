/**
 * Pull/push progress as docker shows it (the "[===>  ] 1MB/2MB 3s" text, the daemon's JSON
 * lines and the TTY renderer's cursor movements over several layers), and CLI details of the
 * registry commands: usage lines, login's unencrypted-storage warning, search's flags.
 * The CLI runs against a fake Engine API on a unix socket.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { formatProgress, goSeconds } from '../../src/util/json-progress.js';
import { ProgressStream } from '../../src/distribution/progress.js';
import { ProgressRenderer } from '../../src/cli/render/progress.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'berth-distcli-'));
const sock = join(dir, 'fake.sock');
const calls: string[] = [];
let server: Server;

const SEARCH_RESULTS = [
  { name: '127.0.0.1:5000/team/app', description: 'the application image with a long description that docker truncates', star_count: 12, is_official: true, is_automated: false },
  { name: '127.0.0.1:5000/team/tool', description: 'a tool', star_count: 0, is_official: false, is_automated: false },
];

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/^\/v1\.\d+/, '');
    calls.push(`${req.method} ${path}${url.search}`);
    req.resume();
    res.setHeader('Api-Version', '1.47');
    if (path === '/_ping') return void res.end('OK');
    res.setHeader('Content-Type', 'application/json');
    if (path === '/auth') return void res.end(JSON.stringify({ Status: 'Login Succeeded' }));
    if (path === '/images/search') return void res.end(JSON.stringify(SEARCH_RESULTS));
    res.statusCode = 404;
    res.end(JSON.stringify({ message: `not faked: ${path}` }));
  });
  await new Promise<void>((r) => server.listen(sock, r));
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

function berth(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, BERTH_HOST: `unix://${sock}`, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

test('formatProgress: docker\'s bar, sizes and time left', () => {
  assert.equal(formatProgress({}), '');
  assert.equal(formatProgress({ current: 1_500_000 }), '   1.5MB');
  assert.equal(formatProgress({ current: 500_000, total: 1_000_000 }), `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB`);
  // Known start: the time left at the rate so far (2 s for half, so 2 s to go).
  assert.equal(formatProgress({ current: 500_000, total: 1_000_000, start: 1000 }, 200, 1_002_000), `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB 2s`);
  // Narrow terminals lose the bar (<= 110 columns), then the time (<= 50).
  assert.equal(formatProgress({ current: 500_000, total: 1_000_000, start: 1000 }, 80, 1_002_000), '   500kB/1MB 2s');
  assert.equal(formatProgress({ current: 500_000, total: 1_000_000, start: 1000 }, 40, 1_002_000), '   500kB/1MB');
  // Done: full bar, no time left; a current above the total shows the current only.
  assert.equal(formatProgress({ current: 1_000_000, total: 1_000_000, start: 1000 }, 200, 1_002_000), `[${'='.repeat(50)}>] ${'1MB'.padStart(8)}/1MB`);
  assert.equal(formatProgress({ current: 2_000_000, total: 1_000_000 }), `[${'='.repeat(50)}>]      2MB`);
  assert.deepEqual([goSeconds(0), goSeconds(59.9), goSeconds(65), goSeconds(7203)], ['0s', '59s', '1m5s', '2h0m3s']);
});

test('the daemon\'s progress lines carry progressDetail {current, total, start} and the progress text', () => {
  const out = new PassThrough();
  const stream = new ProgressStream(out);
  stream.bytes('Downloading', 'aaaaaaaaaaaa', 250, 1000);
  const line = JSON.parse(out.read().toString()) as { status: string; id: string; progressDetail: { current: number; total: number; start: number }; progress: string };
  assert.equal(line.status, 'Downloading');
  assert.equal(line.id, 'aaaaaaaaaaaa');
  assert.equal(line.progressDetail.current, 250);
  assert.equal(line.progressDetail.total, 1000);
  assert.ok(Math.abs(line.progressDetail.start - Date.now() / 1000) < 5, JSON.stringify(line));
  assert.match(line.progress, /^\[={12}> {38}\] {5}250B\/1kB \d+s$/);
});

/** A TTY-like sink that records what was written. */
function sink(columns?: number): Writable & { text: string; columns?: number } {
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      w.text += chunk.toString();
      cb();
    },
  }) as Writable & { text: string; columns?: number };
  w.text = '';
  if (columns !== undefined) w.columns = columns;
  return w;
}

test('TTY renderer: a multi-layer pull, each layer\'s line rewritten in place with cursor movements', () => {
  const out = sink();
  const r = new ProgressRenderer(out, true, () => 1_002_000);
  r.show({ status: 'Pulling from team/app', progressDetail: {}, id: '1' });
  r.show({ status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' });
  r.show({ status: 'Pulling fs layer', progressDetail: {}, id: 'bbb' });
  r.show({ status: 'Downloading', progressDetail: { current: 500_000, total: 1_000_000, start: 1000 }, progress: 'ignored: redrawn from the detail', id: 'aaa' });
  r.show({ status: 'Pull complete', progressDetail: {}, id: 'bbb' });
  r.show({ status: 'Digest: sha256:abc' });
  r.show({ status: 'Extracting', progressDetail: {}, id: 'aaa' });
  const bar = `[${'='.repeat(25)}>${' '.repeat(25)}]    500kB/1MB 2s`;
  assert.equal(
    out.text,
    '1: Pulling from team/app\n' +
      'aaa: Pulling fs layer\n' +
      'bbb: Pulling fs layer\n' +
      // aaa is 2 lines up from the cursor: up, clear, rewrite, back down.
      `\x1b[2A\x1b[2K\raaa: Downloading ${bar}\x1b[2B\r` +
      '\x1b[1A\x1b[2K\rbbb: Pull complete\x1b[1B\r' +
      'Digest: sha256:abc\n' +
      // After a line without an ID the old lines are frozen: aaa starts a new line.
      'aaa: Extracting\n',
  );
  // A narrow terminal: no bar, sizes and time left only.
  const narrow = sink(80);
  const n = new ProgressRenderer(narrow, true, () => 1_002_000);
  n.show({ status: 'Downloading', progressDetail: { current: 500_000, total: 1_000_000, start: 1000 }, id: 'aaa' });
  assert.equal(narrow.text, 'aaa: Downloading    500kB/1MB 2s\n');
});

test('plain (non-TTY) output drops byte updates', () => {
  const out = sink();
  const r = new ProgressRenderer(out, false);
  r.show({ status: 'Pulling fs layer', progressDetail: {}, id: 'aaa' });
  r.show({ status: 'Downloading', progressDetail: { current: 1, total: 2 }, progress: '[>] 1B/2B', id: 'aaa' });
  r.show({ status: 'Pull complete', progressDetail: {}, id: 'aaa' });
  assert.equal(out.text, 'aaa: Pulling fs layer\naaa: Pull complete\n');
});

test('registry serve and gc --help name the command once', async () => {
  const serve = await berth(['registry', 'serve', '--help']);
  assert.equal(serve.code, 0, serve.stderr);
  assert.match(serve.stdout, /^Usage:\s+berth registry serve \[OPTIONS\]$/m);
  const gc = await berth(['registry', 'gc', '--help']);
  assert.match(gc.stdout, /^Usage:\s+berth registry gc \[OPTIONS\]$/m);
});

test('login warns, as docker does, that the password is stored unencrypted in config.json', async () => {
  const cfg = join(dir, 'login-cfg');
  const r = await berth(['login', '-u', 'alice', '-p', 'wonderland', '127.0.0.1:5000'], { DOCKER_CONFIG: cfg });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Login Succeeded\n');
  assert.ok(
    r.stderr.includes(`WARNING! Your credentials are stored unencrypted in '${join(cfg, 'config.json')}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n`),
    r.stderr,
  );
  const doc = JSON.parse(readFileSync(join(cfg, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(doc.auths['127.0.0.1:5000']!.auth, 'base64').toString(), 'alice:wonderland');
});

test('search: --filter and --limit go to the daemon; --format and --no-trunc render as docker', async () => {
  calls.length = 0;
  const table = await berth(['search', '--filter', 'is-official=true', '--filter', 'stars=3', '--limit', '5', '127.0.0.1:5000/team']);
  assert.equal(table.code, 0, table.stderr);
  const sent = new URL(`http://x${calls.find((c) => c.startsWith('GET /images/search'))!.slice(4)}`);
  assert.equal(sent.searchParams.get('term'), '127.0.0.1:5000/team');
  assert.equal(sent.searchParams.get('limit'), '5');
  assert.deepEqual(JSON.parse(sent.searchParams.get('filters')!), { 'is-official': { true: true }, stars: { '3': true } });
  const [header, first, second] = table.stdout.split('\n');
  assert.match(header!, /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL$/);
  // docker truncates descriptions to 45 characters with an ellipsis.
  assert.match(first!, /^127\.0\.0\.1:5000\/team\/app\s+the application image with a long descriptio…\s+12\s+\[OK\]$/);
  assert.match(second!, /^127\.0\.0\.1:5000\/team\/tool\s+a tool\s+0\s*$/);
  const full = await berth(['search', '--no-trunc', '127.0.0.1:5000/team']);
  assert.ok(full.stdout.includes('that docker truncates'), full.stdout);
  const custom = await berth(['search', '--format', '{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.IsAutomated}}', '127.0.0.1:5000/team']);
  assert.equal(custom.stdout, '127.0.0.1:5000/team/app|12|[OK]|\n127.0.0.1:5000/team/tool|0||\n');
  const bad = await berth(['search', '--filter', 'nonsense', '127.0.0.1:5000/team']);
  assert.notEqual(bad.code, 0);
});
