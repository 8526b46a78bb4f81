import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Demuxer, StreamType, encodeFrame } from '../../src/client/stdcopy.js';
import { jsonLines } from '../../src/client/jsonlines.js';
import { chooseHost, parseHost } from '../../src/client/host.js';
import { EngineClient } from '../../src/client/client.js';
import { ClientError, DaemonUnreachableError } from '../../src/client/errors.js';

test('demuxer: frames split across arbitrary chunk boundaries', () => {
  const stream = Buffer.concat([encodeFrame(StreamType.Stdout, 'hello\n'), encodeFrame(StreamType.Stderr, 'oops\n'), encodeFrame(StreamType.Stdout, '')]);
  for (let size = 1; size <= stream.length; size++) {
    const got: Array<[number, string]> = [];
    const d = new Demuxer((t, p) => got.push([t, p.toString()]));
    for (let i = 0; i < stream.length; i += size) d.push(stream.subarray(i, i + size));
    assert.deepEqual(got, [
      [1, 'hello\n'],
      [2, 'oops\n'],
      [1, ''],
    ]);
    assert.equal(d.buffered, 0);
  }
});

test('demuxer: an incomplete frame stays buffered', () => {
  const d = new Demuxer(() => assert.fail('no frame yet'));
  d.push(encodeFrame(StreamType.Stdout, 'abcdef').subarray(0, 10));
  assert.equal(d.buffered, 10);
});

test('jsonLines reassembles lines across chunks', async () => {
  const r = Readable.from([Buffer.from('{"a":1}\n{"b"'), Buffer.from(':2}\n\n{"c":3}')]);
  const got: unknown[] = [];
  for await (const v of jsonLines(r)) got.push(v);
  assert.deepEqual(got, [{ a: 1 }, { b: 2 }, { c: 3 }]);
});

test('host precedence and parsing', () => {
  assert.equal(chooseHost(undefined, {}), 'unix:///run/berth/berth.sock');
  assert.equal(chooseHost(undefined, { DOCKER_HOST: 'unix:///d.sock' }), 'unix:///d.sock');
  assert.equal(chooseHost(undefined, { DOCKER_HOST: 'unix:///d.sock', BERTH_HOST: 'unix:///b.sock' }), 'unix:///b.sock');
  assert.equal(chooseHost('tcp://h:1', { BERTH_HOST: 'unix:///b.sock' }), 'tcp://h:1');
  assert.deepEqual(parseHost('unix:///x.sock'), { kind: 'unix', url: 'unix:///x.sock', socketPath: '/x.sock' });
  assert.deepEqual(parseHost('tcp://10.0.0.1:2376'), { kind: 'tcp', url: 'tcp://10.0.0.1:2376', host: '10.0.0.1', port: 2376 });
  assert.equal(parseHost('localhost:2375').kind, 'tcp');
});

async function withServer(handler: Parameters<typeof createServer>[1], fn: (client: EngineClient) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-client-'));
  const sock = join(dir, 'd.sock');
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    await fn(new EngineClient(`unix://${sock}`));
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('client: versioned paths, query encoding, JSON results, API errors', async () => {
  const seen: string[] = [];
  await withServer(
    (req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url?.startsWith('/v1.41/containers/json')) {
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify([{ Id: 'abc' }]));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ message: 'No such container: nope' }));
      }
    },
    async (client) => {
      assert.deepEqual(await client.containerList({ all: true, filters: { status: { exited: true } } }), [{ Id: 'abc' }]);
      await assert.rejects(client.containerInspect('nope'), (e: unknown) => e instanceof ClientError && e.statusCode === 404 && e.message === 'No such container: nope');
    },
  );
  assert.equal(seen[0], `GET /v1.41/containers/json?all=1&filters=${encodeURIComponent('{"status":{"exited":true}}')}`);
});

test('client: image import streams the body and repeats changes', async () => {
  let url = '';
  let body = '';
  await withServer(
    (req, res) => {
      url = req.url ?? '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end('{"status":"sha256:abc"}\n'));
    },
    async (client) => {
      const res = await client.imageImport(Readable.from([Buffer.from('TAR')]), { repo: 'img', tag: 'v1', changes: ['ENV A=1', 'CMD ["sh"]'] });
      const msgs: unknown[] = [];
      for await (const m of jsonLines(res)) msgs.push(m);
      assert.deepEqual(msgs, [{ status: 'sha256:abc' }]);
    },
  );
  assert.equal(body, 'TAR');
  assert.equal(url, '/v1.41/images/create?fromSrc=-&repo=img&tag=v1&changes=ENV%20A%3D1&changes=CMD%20%5B%22sh%22%5D');
});

test('client: a missing socket is a DaemonUnreachableError with docker wording', async () => {
  const client = new EngineClient('unix:///nonexistent/berth.sock');
  await assert.rejects(client.ping(), (e: unknown) => e instanceof DaemonUnreachableError && e.message === 'Cannot connect to the Berth daemon at unix:///nonexistent/berth.sock. Is the berth daemon running?');
});
