/**
 * The client's own HTTP/1.1 (src/client/http1.ts) against real node:net servers (a unix socket
 * in a temp dir, plain TCP and TLS on 127.0.0.1) that answer with hand-written bytes, so every
 * framing case is exactly what the wire carries.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { ClientError, DaemonUnreachableError } from '../../src/client/errors.js';
import { hijack } from '../../src/client/hijack.js';
import type { DaemonAddress } from '../../src/client/host.js';
import { HttpProtocolError, request } from '../../src/client/http1.js';
import { tlsAddress } from '../../src/client/tls.js';
import { readAll, readJson, send } from '../../src/client/transport.js';
import { createMachineCerts, ensureStoreCerts } from '../../src/cluster/machine/certs.js';
import { startExec } from '../../src/compose/hijack.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-http1-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Seen {
  requestLine: string;
  /** Lower-cased names; repeats keep every value. */
  headers: Record<string, string[]>;
  /** Bytes that came after the header block in the same reads. */
  rest: Buffer;
}

type Handler = (socket: Socket, seen: Seen) => void | Promise<void>;

function readHead(socket: Socket): Promise<Seen> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.pause();
      const [requestLine, ...lines] = buf.toString('latin1', 0, end).split('\r\n');
      const headers: Record<string, string[]> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        (headers[name] ??= []).push(line.slice(colon + 1).trim());
      }
      resolve({ requestLine: requestLine!, headers, rest: buf.subarray(end + 4) });
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

let sockets = 0;
const servers: Server[] = [];
const open = new Set<Socket>();
after(() => {
  for (const s of servers) s.close();
  for (const s of open) s.destroy();
});

async function listen(server: Server, kind: 'unix' | 'tcp'): Promise<DaemonAddress> {
  servers.push(server);
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  if (kind === 'unix') {
    const socketPath = join(dir, `s${sockets++}.sock`);
    await new Promise<void>((r) => server.listen(socketPath, r));
    return { kind: 'unix', url: `unix://${socketPath}`, socketPath };
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { kind: 'tcp', url: `tcp://127.0.0.1:${port}`, host: '127.0.0.1', port };
}

/** A server answering each connection through `handler` once the request's header block is in. */
async function serve(handler: Handler, kind: 'unix' | 'tcp' = 'unix'): Promise<{ addr: DaemonAddress; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    void readHead(socket).then((s) => {
      seen.push(s);
      return handler(socket, s);
    });
  });
  return { addr: await listen(server, kind), seen };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A test that fails rather than hangs when the client waits for bytes that never come. */
const it = (name: string, fn: () => Promise<void>): void => void test(name, { timeout: 20_000 }, fn);

it('content-length answer: body ends at the length on a connection left open; headers lower-cased, repeats joined; the request as sent', async () => {
  const { addr, seen } = await serve((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Dup: a\r\nx-dup: b\r\nCONTENT-LENGTH: 11\r\n\r\n{"Id":"ab"}');
  });
  const res = await send(addr, { method: 'GET', path: '/containers/json', query: { all: true, size: false }, headers: { 'X-Extra': 'yes' } });
  assert.equal(res.statusCode, 200);
  assert.equal(res.statusMessage, 'OK');
  assert.equal(res.headers['content-type'], 'application/json');
  assert.equal(res.headers['x-dup'], 'a, b');
  assert.deepEqual(await readJson(res), { Id: 'ab' });
  assert.equal(seen[0]!.requestLine, 'GET /v1.41/containers/json?all=1 HTTP/1.1');
  assert.deepEqual(seen[0]!.headers.host, ['api.moby.localhost']);
  assert.deepEqual(seen[0]!.headers.connection, ['close']);
  assert.deepEqual(seen[0]!.headers['x-extra'], ['yes']);
  assert.equal(seen[0]!.headers['content-length'], undefined, 'a GET without a body sends no length');
});

const CHUNKED =
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + '5;name=value\r\nhello\r\n1\r\n \r\nA ; x\r\n0123456789\r\n0\r\nX-Trailer: done\r\nX-Other: 2\r\n\r\n';

it('chunked answer split in two at every byte: extensions skipped, trailers kept, the end found without a close', async () => {
  let split = 0;
  const { addr } = await serve(async (socket) => {
    const bytes = Buffer.from(CHUNKED, 'latin1');
    socket.write(bytes.subarray(0, split));
    await delay(3);
    socket.write(bytes.subarray(split));
  });
  for (split = 1; split < CHUNKED.length; split++) {
    const res = await send(addr, { method: 'GET', path: '/x' });
    assert.equal((await readAll(res)).toString(), 'hello 0123456789', `split at ${split}`);
    assert.deepEqual(res.trailers, { 'x-trailer': 'done', 'x-other': '2' }, `split at ${split}`);
  }
});

it('chunked answer dribbled one byte per write', async () => {
  const { addr } = await serve(async (socket) => {
    for (const byte of Buffer.from(CHUNKED, 'latin1')) {
      socket.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
  });
  const res = await send(addr, { method: 'GET', path: '/x' });
  assert.equal((await readAll(res)).toString(), 'hello 0123456789');
  assert.equal(res.trailers['x-trailer'], 'done');
});

it('an answer with neither length nor chunking is read until the daemon closes', async () => {
  const { addr } = await serve(async (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart1');
    await delay(10);
    socket.end('part2');
  });
  assert.equal((await readAll(await send(addr, { method: 'GET', path: '/x' }))).toString(), 'part1part2');
});

it('HEAD, 204 and 304 have no body whatever their headers say, and 100 Continue is skipped', async () => {
  const { addr } = await serve((socket, seen) => {
    // The connection stays open: the answers must end without waiting for bytes or a close.
    if (seen.requestLine.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Docker-Container-Path-Stat: e30=\r\n\r\n');
    else if (seen.requestLine.includes('/nocontent')) socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
    else socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n');
  });
  const head = await send(addr, { method: 'HEAD', path: '/containers/c/archive' });
  assert.equal(head.headers['x-docker-container-path-stat'], 'e30=');
  assert.equal((await readAll(head)).length, 0);
  const none = await send(addr, { method: 'POST', path: '/nocontent' });
  assert.equal(none.statusCode, 204);
  assert.equal((await readAll(none)).length, 0);
  await assert.rejects(send(addr, { method: 'POST', path: '/containers/c/start' }), (e: unknown) => e instanceof ClientError && e.statusCode === 304 && e.message === 'HTTP 304');
});

it("non-2xx answers become ClientErrors with the daemon's message, or its text", async () => {
  const { addr } = await serve((socket, seen) => {
    if (seen.requestLine.includes('/json-error')) {
      const body = '{"message":"No such container: nope"}';
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    } else socket.end('HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nboom\n\r\n0\r\n\r\n');
  });
  await assert.rejects(send(addr, { method: 'GET', path: '/json-error' }), (e: unknown) => e instanceof ClientError && e.statusCode === 404 && e.message === 'No such container: nope');
  await assert.rejects(send(addr, { method: 'GET', path: '/text-error' }), (e: unknown) => e instanceof ClientError && e.statusCode === 500 && e.message === 'boom');
});

it('string and Buffer bodies go with their byte length; a POST without a body says Content-Length: 0', async () => {
  const bodies: string[] = [];
  const { addr, seen } = await serve(async (socket, s) => {
    const length = Number(s.headers['content-length']?.[0] ?? 0);
    let body = s.rest;
    socket.resume();
    while (body.length < length) body = Buffer.concat([body, (await once(socket, 'data'))[0] as Buffer]);
    bodies.push(body.toString('utf8'));
    socket.end('HTTP/1.1 204 No Content\r\n\r\n');
  });
  await send(addr, { method: 'POST', path: '/a', body: '{"name":"é"}', headers: { 'Content-Type': 'application/json' } });
  await send(addr, { method: 'PUT', path: '/b', body: Buffer.from('raw') });
  await send(addr, { method: 'POST', path: '/c' });
  assert.deepEqual(bodies, ['{"name":"é"}', 'raw', '']);
  assert.deepEqual(seen.map((s) => s.headers['content-length']), [['13'], ['3'], ['0']]);
  assert.deepEqual(seen[0]!.headers['content-type'], ['application/json']);
});

/** Decodes a chunked body from raw bytes, strictly, as a test oracle independent of the client. */
async function readChunkedUpload(socket: Socket, first: Buffer): Promise<Buffer> {
  let buf = first;
  const out: Buffer[] = [];
  socket.resume();
  const need = async (n: number): Promise<void> => {
    while (buf.length < n) buf = Buffer.concat([buf, (await once(socket, 'data'))[0] as Buffer]);
  };
  for (;;) {
    let eol: number;
    while ((eol = buf.indexOf('\r\n')) < 0) await need(buf.length + 1);
    const size = parseInt(buf.toString('latin1', 0, eol), 16);
    assert.match(buf.toString('latin1', 0, eol), /^[0-9a-f]+$/);
    buf = buf.subarray(eol + 2);
    await need(size + 2);
    assert.equal(buf.toString('latin1', size, size + 2), '\r\n');
    if (size === 0) return Buffer.concat(out);
    out.push(buf.subarray(0, size));
    buf = buf.subarray(size + 2);
  }
}

it('a streamed request body goes chunked and arrives intact (strings, empty chunks, a large buffer)', async () => {
  const big = randomBytes(3 * 1024 * 1024 + 7);
  const parts: Array<Buffer | string> = [Buffer.from('TAR'), Buffer.alloc(0), 'text ✓', big, 'end'];
  const expected = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
  let received: Buffer | undefined;
  const { addr, seen } = await serve(async (socket, s) => {
    received = await readChunkedUpload(socket, s.rest);
    socket.end(`HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n${createHash('sha256').update(received).digest('hex')}`);
  });
  const res = await send(addr, { method: 'POST', path: '/images/load', body: Readable.from(parts), headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' } });
  assert.equal((await readAll(res)).toString(), createHash('sha256').update(expected).digest('hex'));
  assert.ok(received?.equals(expected));
  assert.deepEqual(seen[0]!.headers['transfer-encoding'], ['chunked'], 'one Transfer-Encoding header even when the caller names it');
  assert.equal(seen[0]!.headers['content-length'], undefined);
});

it('an error of the request body stream fails the request with that error', async () => {
  const { addr } = await serve(() => undefined);
  const body = new Readable({ read() {} });
  const pending = send(addr, { method: 'POST', path: '/build', body });
  body.push('some');
  setTimeout(() => body.destroy(Object.assign(new Error('disk gone'), { code: 'ENOENT' })), 20);
  // Not a DaemonUnreachableError although the code is ENOENT: the daemon was never the problem.
  await assert.rejects(pending, (e: unknown) => !(e instanceof DaemonUnreachableError) && (e as Error).message === 'disk gone');
});

it('101 hands the connection over: bytes after the header block come first, then it is a two-way stream', async () => {
  const { addr, seen } = await serve((socket) => {
    socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nEXTRA');
    socket.resume();
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
  });
  const stream = await hijack(addr, { method: 'POST', path: '/containers/c/attach', query: { stream: true, stdin: true } });
  assert.equal(stream.contentType, 'application/vnd.docker.raw-stream');
  // A turn of the event loop before anyone reads: the early bytes must wait in the socket.
  await delay(20);
  const got: string[] = [];
  stream.socket.on('data', (d: Buffer) => got.push(d.toString()));
  stream.socket.write('ping');
  for (let i = 0; i < 200 && got.join('') !== 'EXTRAPING'; i++) await delay(5);
  assert.equal(got.join(''), 'EXTRAPING');
  stream.socket.destroy();
  assert.equal(seen[0]!.requestLine, 'POST /v1.41/containers/c/attach?stream=1&stdin=1 HTTP/1.1');
  assert.deepEqual(seen[0]!.headers.connection, ['Upgrade']);
  assert.deepEqual(seen[0]!.headers.upgrade, ['tcp']);
});

it('hijack: a 2xx that does not upgrade (exec -d) resolves; an error answer is a ClientError', async () => {
  const { addr } = await serve((socket, seen) => {
    if (seen.requestLine.includes('/exec/ok/')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    else socket.end('HTTP/1.1 409 Conflict\r\nContent-Length: 34\r\n\r\n{"message":"container is paused"}\n');
  });
  const started = await hijack(addr, { method: 'POST', path: '/exec/ok/start', body: '{"Detach":true}' });
  assert.equal(started.contentType, '');
  started.socket.destroy();
  await assert.rejects(hijack(addr, { method: 'POST', path: '/exec/bad/start', body: '{}' }), (e: unknown) => e instanceof ClientError && e.statusCode === 409 && e.message === 'container is paused');
});

it("compose's exec start: 101 gives the socket both ways, a plain 200 streams its body as output", async () => {
  const { addr } = await serve((socket, seen) => {
    if (seen.requestLine.includes('/exec/up/')) socket.write('HTTP/1.1 101 UPGRADED\r\n\r\nout');
    else socket.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nout\r\n0\r\n\r\n');
  });
  const up = await startExec(addr, 'up', true);
  assert.equal(up.input, up.output);
  const [first] = (await once(up.output, 'data')) as [Buffer];
  assert.equal(first.toString(), 'out');
  up.output.destroy();
  const plain = await startExec(addr, 'plain', true);
  assert.equal(plain.input, null);
  assert.equal((await readAll(plain.output)).toString(), 'out');
});

it('a connection cut mid-body makes the body stream fail (unix: early close; TCP: reset)', async () => {
  const unix = await serve((socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
    setTimeout(() => socket.destroy(), 20);
  });
  const res = await send(unix.addr, { method: 'GET', path: '/containers/c/logs' });
  await assert.rejects(readAll(res), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ECONNRESET' && /before the response body was complete/.test((e as Error).message));

  const chunked = await serve((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
    setTimeout(() => socket.end(), 20);
  });
  await assert.rejects(readAll(await send(chunked.addr, { method: 'GET', path: '/events' })), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ECONNRESET');

  const tcp = await serve((socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
    setTimeout(() => socket.resetAndDestroy(), 20);
  }, 'tcp');
  const tres = await send(tcp.addr, { method: 'GET', path: '/events' });
  await assert.rejects(readAll(tres), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ECONNRESET');
});

it('a slow reader holds the daemon back (backpressure), then gets every byte', async () => {
  const total = 16 * 1024 * 1024;
  const block = Buffer.alloc(64 * 1024, 'b');
  let sent = 0;
  let finished = false;
  const { addr } = await serve(async (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
    while (sent < total) {
      sent += block.length;
      if (!socket.write(block)) await once(socket, 'drain');
    }
    finished = true;
  });
  const res = await send(addr, { method: 'GET', path: '/images/get' });
  await delay(300);
  const whilePaused = sent;
  assert.ok(whilePaused < 4 * 1024 * 1024, `the daemon got ${whilePaused} bytes out to a reader that read nothing`);
  assert.equal(finished, false);
  assert.equal((await readAll(res)).length, total);
  assert.equal(finished, true);
});

it('destroying a response closes the connection', async () => {
  let closed: Promise<unknown> | undefined;
  const { addr } = await serve((socket) => {
    closed = once(socket, 'close');
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n');
  });
  const res = await send(addr, { method: 'GET', path: '/containers/c/stats' });
  res.destroy();
  await closed;
});

it('malformed answers give clear errors', async () => {
  const answers: Record<string, string> = {
    '/status': 'HTTP/1.1 OK\r\n\r\n',
    '/version': 'HTTP/2 200\r\n\r\n',
    '/header': 'HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n',
    '/length': 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello',
    '/chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    '/upgrade': 'HTTP/1.1 101 Switching Protocols\r\n\r\n',
  };
  const { addr } = await serve((socket, seen) => void socket.end(answers[seen.requestLine.split(' ')[1]!.replace('/v1.41', '')]));
  const malformed = (what: RegExp) => (e: unknown) => e instanceof HttpProtocolError && what.test(e.message) && /^malformed HTTP response from the daemon/.test(e.message);
  await assert.rejects(send(addr, { method: 'GET', path: '/status' }), malformed(/bad status line "HTTP\/1.1 OK"/));
  await assert.rejects(send(addr, { method: 'GET', path: '/version' }), malformed(/bad status line/));
  await assert.rejects(send(addr, { method: 'GET', path: '/header' }), malformed(/bad header line "No colon here"/));
  await assert.rejects(send(addr, { method: 'GET', path: '/length' }), malformed(/bad Content-Length "5, 6"/));
  await assert.rejects(send(addr, { method: 'GET', path: '/upgrade' }), malformed(/101/));
  const res = await send(addr, { method: 'GET', path: '/chunk' });
  await assert.rejects(readAll(res), malformed(/bad chunk size line "zz"/));
});

it('an unreachable daemon: nothing listening, or a connection closed without an answer', async () => {
  const gone = createServer();
  const addr = await listen(gone, 'tcp');
  await new Promise<void>((r) => gone.close(() => r()));
  await assert.rejects(send(addr, { method: 'GET', path: '/_ping' }), (e: unknown) => e instanceof DaemonUnreachableError && e.host === addr.url);
  await assert.rejects(send({ kind: 'unix', url: `unix://${dir}/none.sock`, socketPath: join(dir, 'none.sock') }, { method: 'GET', path: '/_ping' }), DaemonUnreachableError);
  const mute = await serve((socket) => void socket.end());
  await assert.rejects(send(mute.addr, { method: 'GET', path: '/_ping' }), DaemonUnreachableError);
  const half = await serve((socket) => void socket.end('HTTP/1.1 200 OK\r\nContent-'));
  await assert.rejects(send(half.addr, { method: 'GET', path: '/_ping' }), (e: unknown) => e instanceof HttpProtocolError && /inside the header block/.test(e.message));
});

it('plain TCP: the Host header names the address', async () => {
  const { addr, seen } = await serve((socket) => void socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK'), 'tcp');
  assert.equal((await readAll(await send(addr, { method: 'GET', path: '/_ping' }))).toString(), 'OK');
  assert.ok(addr.kind === 'tcp');
  assert.deepEqual(seen[0]!.headers.host, [`127.0.0.1:${addr.port}`]);
});

it('TLS with a client certificate, as the cluster dials a machine', async () => {
  const store = await ensureStoreCerts(join(dir, 'certs'));
  const machineDir = join(dir, 'machine');
  const paths = await createMachineCerts(store, machineDir, 'm1', '127.0.0.1');
  let peer = '';
  const server = createTlsServer(
    { key: readFileSync(paths.serverKey), cert: readFileSync(paths.serverCert), ca: readFileSync(paths.ca), requestCert: true, rejectUnauthorized: true },
    (socket) => {
      peer = String(socket.getPeerCertificate().subject?.O ?? '');
      socket.on('error', () => undefined);
      void readHead(socket as unknown as Socket).then(() => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK'));
    },
  );
  const plain = await listen(server, 'tcp');
  assert.ok(plain.kind === 'tcp');
  const addr = tlsAddress(`tcp://127.0.0.1:${plain.port}`, machineDir);
  const res = await send(addr, { method: 'GET', path: '/_ping' });
  assert.equal((await readAll(res)).toString(), 'OK');
  assert.equal(peer, 'berth-machine.client');
  // A server whose certificate the CA did not sign is refused.
  const other = join(dir, 'other');
  await createMachineCerts(await ensureStoreCerts(join(dir, 'other-certs')), other, 'm2', '127.0.0.1');
  await assert.rejects(send(tlsAddress(`tcp://127.0.0.1:${plain.port}`, other), { method: 'GET', path: '/_ping' }), (e: unknown) => !(e instanceof ClientError));
});

it('a request over a unix socket loads neither http, https, tls nor crypto', async () => {
  const { addr } = await serve((socket) => void socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK'));
  const transport = new URL('../../src/client/transport.js', import.meta.url).href;
  const script = `
    const { send, readAll } = await import(${JSON.stringify(transport)});
    const res = await send(${JSON.stringify(addr)}, { method: 'GET', path: '/_ping' });
    const body = (await readAll(res)).toString();
    const heavy = process.moduleLoadList.filter((m) => /^NativeModule (https?|tls|crypto|_http_\\w+|_tls_\\w+)$/.test(m));
    console.log(JSON.stringify({ body, heavy }));`;
  // Run in a child: this test process has loaded tls and crypto itself.
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)) }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out))),
  );
  assert.deepEqual(JSON.parse(stdout), { body: 'OK', heavy: [] });
});

it('request() refuses header values that would split the request', async () => {
  const { addr } = await serve(() => undefined);
  await assert.rejects(request(addr, { method: 'GET', path: '/x', headers: { 'X-Auth': 'a\r\nInjected: 1' } }), TypeError);
  await assert.rejects(request(addr, { method: 'GET', path: '/a b' }), TypeError);
});

it('a daemon that refuses a streamed upload before reading it all: its answer arrives, not EPIPE', async () => {
  // berthd's own kind of server (node:http), answering the way a failed extraction does: it
  // has read part of the body, stops, and answers. Told `Connection: close`, node's server then
  // closes at once and the rest of the upload meets EPIPE before the answer is read.
  const server = createHttpServer((req, res) => {
    req.once('data', () => {
      req.pause();
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: 'cannot overwrite directory "/d/name" with non-directory "/d"' }));
    });
  });
  const addr = await listen(server, 'unix');
  for (let round = 0; round < 5; round++) {
    // 32 MiB in 64 KiB pieces: far more than the socket buffers hold.
    const piece = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    const body = new Readable({
      read() {
        this.push(sent++ < 512 ? piece : null);
      },
    });
    await assert.rejects(send(addr, { method: 'PUT', path: '/containers/c/archive', body }), (err: Error) => err instanceof ClientError && /cannot overwrite directory/.test(err.message));
  }
});
