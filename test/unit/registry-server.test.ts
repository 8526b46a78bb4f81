/**
 * The registry's handlers over real HTTP on a loopback port, in process: uploads (monolithic,
 * chunked, out of order, wrong digests), manifests (all four media types, missing blobs,
 * malformed JSON, oversized), names and tags, pagination, referrers, deletes, read-only,
 * basic and token auth, upload expiry and gc.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { request, type Server } from 'node:http';
import bcrypt from 'bcryptjs';
import { RegistryServer, type RegistryOptions } from '../../src/registry/server.js';
import { Htpasswd, issueToken, loadHtpasswd, type TokenAuthConfig } from '../../src/registry/auth.js';
import { collectGarbage } from '../../src/registry/gc.js';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Running {
  base: string;
  root: string;
  registry: RegistryServer;
  server: Server;
  stop(): Promise<void>;
}

const dirs: string[] = [];
async function start(options: Partial<RegistryOptions> = {}): Promise<Running> {
  const root = mkdtempSync(join(tmpdir(), 'berth-reg-unit-'));
  dirs.push(root);
  const registry = new RegistryServer({ root, deleteEnabled: true, ...options });
  await registry.init();
  const server = registry.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    root,
    registry,
    server,
    stop: async () => {
      registry.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function req(base: string, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const res = await fetch(`${base}${path}`, { method, body: typeof body === "string" ? body : body ? new Uint8Array(body) : undefined, headers, redirect: "manual" });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function rawPost(base: string, path: string): Promise<{ status: number; text: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const rq = request({ host: url.hostname, port: url.port, method: 'POST', path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    rq.on('error', reject);
    rq.end();
  });
}

const code = (r: { json: unknown }): string | undefined => (r.json as { errors?: { code: string }[] } | undefined)?.errors?.[0]?.code;

async function pushBlob(base: string, name: string, data: Buffer): Promise<string> {
  const d = sha(data);
  const r = await req(base, 'POST', `/v2/${name}/blobs/uploads/?digest=${d}`, data);
  assert.equal(r.status, 201, r.text);
  return d;
}

function imageManifest(config: string, configSize: number, layers: { digest: string; size: number }[], mediaType = 'application/vnd.docker.distribution.manifest.v2+json', extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: configSize },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', ...l })),
      ...extra,
    }),
  );
}

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('registry: blobs and uploads', () => {
  let r: Running;
  before(async () => {
    r = await start();
  });
  after(async () => r.stop());

  it('answers GET /v2/ with the API version header', async () => {
    const res = await req(r.base, 'GET', '/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  it('stores a monolithic upload, serves it whole and by range, and refuses a wrong digest', async () => {
    const data = Buffer.from('hello registry world');
    const d = await pushBlob(r.base, 'lib/a', data);
    const head = await req(r.base, 'HEAD', `/v2/lib/a/blobs/${d}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.equal(head.headers.get('docker-content-digest'), d);
    assert.equal((await req(r.base, 'GET', `/v2/lib/a/blobs/${d}`)).text, 'hello registry world');
    const part = await req(r.base, 'GET', `/v2/lib/a/blobs/${d}`, undefined, { Range: 'bytes=6-13' });
    assert.equal(part.status, 206);
    assert.equal(part.text, 'registry');
    assert.equal(part.headers.get('content-range'), `bytes 6-13/${data.length}`);
    assert.equal((await req(r.base, 'GET', `/v2/lib/a/blobs/${d}`, undefined, { Range: 'bytes=100-200' })).status, 416);
    const wrong = await req(r.base, 'POST', `/v2/lib/a/blobs/uploads/?digest=${sha('other')}`, data);
    assert.equal(wrong.status, 400);
    assert.equal(code(wrong), 'DIGEST_INVALID');
    assert.equal((await req(r.base, 'HEAD', `/v2/lib/a/blobs/${sha('other')}`)).status, 404);
    const malformed = await req(r.base, 'POST', '/v2/lib/a/blobs/uploads/?digest=sha256:xyz', data);
    assert.equal(code(malformed), 'DIGEST_INVALID');
    // A blob of another repository is not served here without a mount.
    const other = await req(r.base, 'GET', `/v2/lib/b/blobs/${d}`);
    assert.equal(other.status, 404);
    assert.equal(code(other), 'BLOB_UNKNOWN');
  });

  it('takes chunks in order, refuses gaps with 416, reports status, and closes with the digest', async () => {
    const start = await req(r.base, 'POST', '/v2/lib/chunks/blobs/uploads/');
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    assert.match(location, /^\/v2\/lib\/chunks\/blobs\/uploads\/[0-9a-f-]{36}$/);
    const p1 = await req(r.base, 'PATCH', location, 'abcde', { 'Content-Range': '0-4', 'Content-Type': 'application/octet-stream' });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.get('range'), '0-4');
    const gap = await req(r.base, 'PATCH', location, 'zzz', { 'Content-Range': '7-9' });
    assert.equal(gap.status, 416);
    const overlap = await req(r.base, 'PATCH', location, 'zzz', { 'Content-Range': '2-4' });
    assert.equal(overlap.status, 416);
    const p2 = await req(r.base, 'PATCH', location, 'fgh', { 'Content-Range': '5-7' });
    assert.equal(p2.headers.get('range'), '0-7');
    const status = await req(r.base, 'GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-7');
    const bad = await req(r.base, 'PUT', `${location}?digest=${sha('nope')}`);
    assert.equal(code(bad), 'DIGEST_INVALID');
    // A wrong digest ends the session and publishes nothing.
    assert.equal(code(await req(r.base, 'GET', location)), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await req(r.base, 'HEAD', `/v2/lib/chunks/blobs/${sha('abcdefgh')}`)).status, 404);

    const again = (await req(r.base, 'POST', '/v2/lib/chunks/blobs/uploads/')).headers.get('location')!;
    await req(r.base, 'PATCH', again, 'abcde');
    const done = await req(r.base, 'PUT', `${again}?digest=${sha('abcdefgh')}`, 'fgh');
    assert.equal(done.status, 201);
    assert.equal(done.headers.get('docker-content-digest'), sha('abcdefgh'));
    assert.equal((await req(r.base, 'GET', `/v2/lib/chunks/blobs/${sha('abcdefgh')}`)).text, 'abcdefgh');
  });

  it('cancels uploads and rejects unknown session ids and path tricks', async () => {
    const location = (await req(r.base, 'POST', '/v2/lib/c/blobs/uploads/')).headers.get('location')!;
    assert.equal((await req(r.base, 'DELETE', location)).status, 204);
    assert.equal(code(await req(r.base, 'PATCH', location, 'x')), 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(code(await req(r.base, 'PATCH', '/v2/lib/c/blobs/uploads/..%2f..%2fetc', 'x')), 'BLOB_UPLOAD_UNKNOWN');
    for (const name of ['..', 'a/../b', '../../etc', 'UPPER', 'a//b', '%2e%2e', 'a/_layers', '-x']) {
      // node:http sends the path as written; fetch would normalise the dot segments away.
      const res = await rawPost(r.base, `/v2/${name}/blobs/uploads/`);
      assert.equal(res.status, 400, name);
      assert.equal((JSON.parse(res.text) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_INVALID', name);
    }
  });

  it('mounts a blob from another repository, and falls back to a session when the source lacks it', async () => {
    const d = await pushBlob(r.base, 'lib/src', Buffer.from('mount me'));
    const m = await req(r.base, 'POST', `/v2/lib/dst/blobs/uploads/?mount=${d}&from=lib/src`);
    assert.equal(m.status, 201);
    assert.equal(m.headers.get('location'), `/v2/lib/dst/blobs/${d}`);
    assert.equal((await req(r.base, 'GET', `/v2/lib/dst/blobs/${d}`)).text, 'mount me');
    const miss = await req(r.base, 'POST', `/v2/lib/dst2/blobs/uploads/?mount=${d}&from=lib/nothing`);
    assert.equal(miss.status, 202);
  });

  it('keeps concurrent pushes of the same blob consistent', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 7);
    const sessionsBefore = readdirSync(join(r.root, 'uploads')).length;
    const results = await Promise.all(Array.from({ length: 4 }, (_v, i) => req(r.base, 'POST', `/v2/lib/con${i % 2}/blobs/uploads/?digest=${sha(data)}`, data)));
    assert.deepEqual(results.map((x) => x.status), [201, 201, 201, 201]);
    const got = await fetch(`${r.base}/v2/lib/con0/blobs/${sha(data)}`);
    assert.equal(sha(Buffer.from(await got.arrayBuffer())), sha(data));
    assert.equal(readdirSync(join(r.root, 'uploads')).length, sessionsBefore);
  });
});

describe('registry: manifests, tags, referrers', () => {
  let r: Running;
  let config: Buffer;
  let configDigest: string;
  let layer: string;
  before(async () => {
    r = await start();
    config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    configDigest = await pushBlob(r.base, 'app', config);
    layer = await pushBlob(r.base, 'app', Buffer.from('layer bytes'));
  });
  after(async () => r.stop());

  it('stores a schema2 manifest by tag with its media type and digest', async () => {
    const m = imageManifest(configDigest, config.length, [{ digest: layer, size: 11 }]);
    const put = await req(r.base, 'PUT', '/v2/app/manifests/v1', m, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.get('docker-content-digest'), sha(m));
    const get = await req(r.base, 'GET', '/v2/app/manifests/v1');
    assert.equal(get.headers.get('content-type'), 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(get.text, m.toString());
    const head = await req(r.base, 'HEAD', `/v2/app/manifests/${sha(m)}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(m.length));
  });

  it('refuses manifests naming missing blobs, malformed JSON, digest mismatches, bad tags and oversized bodies', async () => {
    const missing = imageManifest(configDigest, config.length, [{ digest: sha('absent'), size: 6 }]);
    const r1 = await req(r.base, 'PUT', '/v2/app/manifests/bad', missing, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
    assert.equal(r1.status, 400);
    assert.equal(code(r1), 'MANIFEST_BLOB_UNKNOWN');
    const r2 = await req(r.base, 'PUT', '/v2/app/manifests/bad', '{"schemaVersion": 2, ', { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(code(r2), 'MANIFEST_INVALID');
    const good = imageManifest(configDigest, config.length, []);
    const r3 = await req(r.base, 'PUT', `/v2/app/manifests/${sha('different')}`, good, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
    assert.equal(code(r3), 'DIGEST_INVALID');
    const r4 = await req(r.base, 'PUT', '/v2/app/manifests/-bad', good, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
    assert.equal(r4.status, 400);
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 32);
    const r5 = await req(r.base, 'PUT', '/v2/app/manifests/big', big, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(r5.status, 413);
    const r6 = await req(r.base, 'PUT', '/v2/app/manifests/mixed', good, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(code(r6), 'MANIFEST_INVALID');
    assert.equal(code(await req(r.base, 'GET', '/v2/app/manifests/bad')), 'MANIFEST_UNKNOWN');
    assert.equal(code(await req(r.base, 'GET', '/v2/nothere/tags/list')), 'NAME_UNKNOWN');
  });

  it('stores OCI manifests and indexes, refusing an index whose children are missing', async () => {
    const oci = imageManifest(configDigest, config.length, [{ digest: layer, size: 11 }], 'application/vnd.oci.image.manifest.v1+json');
    assert.equal((await req(r.base, 'PUT', '/v2/app/manifests/oci', oci, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' })).status, 201);
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(oci), size: oci.length, platform: { os: 'linux', architecture: 'amd64' } }] }));
    const put = await req(r.base, 'PUT', '/v2/app/manifests/multi', index, { 'Content-Type': 'application/vnd.oci.image.index.v1+json' });
    assert.equal(put.status, 201, put.text);
    assert.equal((await req(r.base, 'GET', '/v2/app/manifests/multi')).headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    const orphan = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', manifests: [{ mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: sha('x'), size: 1 }] }));
    assert.equal(code(await req(r.base, 'PUT', '/v2/app/manifests/orphan', orphan, { 'Content-Type': 'application/vnd.docker.distribution.manifest.list.v2+json' })), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('lists referrers of a subject, filtered by artifactType', async () => {
    const subject = imageManifest(configDigest, config.length, [{ digest: layer, size: 11 }], 'application/vnd.oci.image.manifest.v1+json');
    const sig = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.example.sig',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: config.length },
      layers: [],
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(subject), size: subject.length },
      annotations: { 'org.example': 'yes' },
    }));
    const put = await req(r.base, 'PUT', `/v2/app/manifests/${sha(sig)}`, sig, { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.get('oci-subject'), sha(subject));
    const list = await req(r.base, 'GET', `/v2/app/referrers/${sha(subject)}`);
    assert.equal(list.headers.get('content-type'), 'application/vnd.oci.image.index.v1+json');
    const doc = list.json as { manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    assert.equal(doc.manifests.length, 1);
    assert.equal(doc.manifests[0]!.digest, sha(sig));
    assert.equal(doc.manifests[0]!.artifactType, 'application/vnd.example.sig');
    const filtered = await req(r.base, 'GET', `/v2/app/referrers/${sha(subject)}?artifactType=other/type`);
    assert.deepEqual((filtered.json as { manifests: unknown[] }).manifests, []);
    assert.equal(filtered.headers.get('oci-filters-applied'), 'artifactType');
    // Deleting the referrer removes it from the list.
    assert.equal((await req(r.base, 'DELETE', `/v2/app/manifests/${sha(sig)}`)).status, 202);
    assert.deepEqual(((await req(r.base, 'GET', `/v2/app/referrers/${sha(subject)}`)).json as { manifests: unknown[] }).manifests, []);
  });

  it('paginates tags and the catalog with Link headers', async () => {
    const m = imageManifest(configDigest, config.length, []);
    for (const t of ['a', 'b', 'c', 'd']) {
      await req(r.base, 'PUT', `/v2/app/manifests/${t}`, m, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
    }
    const page1 = await req(r.base, 'GET', '/v2/app/tags/list?n=2');
    assert.deepEqual((page1.json as { tags: string[] }).tags, ['a', 'b']);
    assert.equal(page1.headers.get('link'), '</v2/app/tags/list?last=b&n=2>; rel="next"');
    const page2 = await req(r.base, 'GET', '/v2/app/tags/list?n=2&last=b');
    assert.deepEqual((page2.json as { tags: string[] }).tags, ['c', 'd']);
    assert.equal(code(await req(r.base, 'GET', '/v2/app/tags/list?n=-1')), 'PAGINATION_NUMBER_INVALID');
    await pushBlob(r.base, 'zz/other', config);
    await req(r.base, 'PUT', '/v2/zz/other/manifests/1', imageManifest(sha(config), config.length, []), { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' });
    const cat = await req(r.base, 'GET', '/v2/_catalog?n=1');
    assert.deepEqual((cat.json as { repositories: string[] }).repositories, ['app']);
    assert.match(cat.headers.get('link') ?? '', /last=app&n=1/);
    assert.deepEqual(((await req(r.base, 'GET', '/v2/_catalog')).json as { repositories: string[] }).repositories, ['app', 'zz/other']);
  });

  it('deletes tags, manifests and blobs; gc removes what nothing references', async () => {
    const orphan = await pushBlob(r.base, 'app', Buffer.from('nobody needs me'));
    assert.equal((await req(r.base, 'DELETE', '/v2/app/manifests/d')).status, 202);
    assert.equal(code(await req(r.base, 'GET', '/v2/app/manifests/d')), 'MANIFEST_UNKNOWN');
    const result = await collectGarbage(r.root);
    assert.ok(result.deleted.includes(orphan));
    assert.ok(!result.deleted.includes(configDigest));
    assert.equal((await req(r.base, 'HEAD', `/v2/app/blobs/${orphan}`)).status, 404);
    assert.equal((await req(r.base, 'HEAD', `/v2/app/blobs/${layer}`)).status, 200);
    assert.equal((await req(r.base, 'DELETE', `/v2/app/blobs/${layer}`)).status, 202);
    assert.equal((await req(r.base, 'HEAD', `/v2/app/blobs/${layer}`)).status, 404);
  });
});

describe('registry: modes and auth', () => {
  it('refuses writes in read-only mode and deletes unless enabled', async () => {
    const ro = await start({ readOnly: true });
    try {
      const res = await req(ro.base, 'POST', '/v2/x/blobs/uploads/');
      assert.equal(res.status, 405);
      assert.equal(code(res), 'UNSUPPORTED');
    } finally {
      await ro.stop();
    }
    const nodel = await start({ deleteEnabled: false });
    try {
      assert.equal(code(await req(nodel.base, 'DELETE', `/v2/x/manifests/${sha('a')}`)), 'UNSUPPORTED');
    } finally {
      await nodel.stop();
    }
  });

  it('asks for basic auth and checks bcrypt htpasswd entries ($2y$ too)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-reg-htpasswd-'));
    dirs.push(dir);
    const file = join(dir, 'htpasswd');
    writeFileSync(file, `alice:${bcrypt.hashSync('s3cret', 4).replace(/^\$2b\$/, '$2y$')}\n`);
    const r = await start({ htpasswd: new Htpasswd(await loadHtpasswd(file)) });
    try {
      const anon = await req(r.base, 'GET', '/v2/');
      assert.equal(anon.status, 401);
      assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      assert.equal(code(anon), 'UNAUTHORIZED');
      const basic = (u: string, p: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
      assert.equal((await req(r.base, 'GET', '/v2/', undefined, basic('alice', 'wrong'))).status, 401);
      assert.equal((await req(r.base, 'GET', '/v2/', undefined, basic('bob', 's3cret'))).status, 401);
      assert.equal((await req(r.base, 'GET', '/v2/', undefined, basic('alice', 's3cret'))).status, 200);
    } finally {
      await r.stop();
    }
  });

  it('runs the bearer-token flow: challenge with scope, token endpoint, scoped access, refresh tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-reg-token-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'htpasswd'), `alice:${bcrypt.hashSync('pw', 4)}\n`);
    const key = Buffer.alloc(32, 1);
    const probe = await start();
    const port = new URL(probe.base).port;
    await probe.stop();
    const token: TokenAuthConfig = { realm: `http://127.0.0.1:${port}/token`, service: `127.0.0.1:${port}`, issuer: 'test', key, ttl: 60 };
    const registry = new RegistryServer({ root: dir, token, htpasswd: new Htpasswd(await loadHtpasswd(join(dir, 'htpasswd'))) });
    await registry.init();
    const server = registry.createServer();
    await new Promise<void>((res) => server.listen(Number(port), '127.0.0.1', () => res()));
    const base = `http://127.0.0.1:${port}`;
    try {
      const anon = await req(base, 'GET', '/v2/app/tags/list');
      assert.equal(anon.status, 401);
      assert.equal(anon.headers.get('www-authenticate'), `Bearer realm="${token.realm}",service="${token.service}",scope="repository:app:pull"`);
      const basic = { Authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` };
      const bad = await req(base, 'GET', `/token?service=${token.service}&scope=repository:app:pull`, undefined, { Authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` });
      assert.equal(bad.status, 401);
      const got = await req(base, 'GET', `/token?service=${encodeURIComponent(token.service)}&scope=repository:app:pull`, undefined, basic);
      assert.equal(got.status, 200, got.text);
      const bearer = (got.json as { token: string }).token;
      const pullOk = await req(base, 'GET', '/v2/app/tags/list', undefined, { Authorization: `Bearer ${bearer}` });
      assert.equal(code(pullOk), 'NAME_UNKNOWN'); // authorized: the repository simply does not exist
      const pushDenied = await req(base, 'POST', '/v2/app/blobs/uploads/', undefined, { Authorization: `Bearer ${bearer}` });
      assert.equal(pushDenied.status, 401);
      assert.match(pushDenied.headers.get('www-authenticate') ?? '', /scope="repository:app:pull,push"/);
      // A token signed with another key, or for another service, is refused.
      const forged = issueToken({ ...token, key: Buffer.alloc(32, 2) }, 'alice', [{ type: 'repository', name: 'app', actions: ['pull'] }]);
      assert.equal((await req(base, 'GET', '/v2/app/tags/list', undefined, { Authorization: `Bearer ${forged}` })).status, 401);
      const otherService = issueToken({ ...token, service: 'elsewhere' }, 'alice', [{ type: 'repository', name: 'app', actions: ['pull'] }]);
      assert.equal((await req(base, 'GET', '/v2/app/tags/list', undefined, { Authorization: `Bearer ${otherService}` })).status, 401);
      // OAuth2 password grant with offline access gives a refresh token that works as a grant later.
      const form = new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'pw', service: token.service, access_type: 'offline', scope: 'repository:app:pull' });
      const oauth = await req(base, 'POST', '/token', form.toString(), { 'Content-Type': 'application/x-www-form-urlencoded' });
      const refresh = (oauth.json as { refresh_token: string }).refresh_token;
      assert.ok(refresh);
      const again = await req(base, 'POST', '/token', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: token.service, scope: 'repository:app:pull,push' }).toString());
      assert.equal(again.status, 200);
      // The refresh token itself is not an access token.
      assert.equal((await req(base, 'GET', '/v2/', undefined, { Authorization: `Bearer ${refresh}` })).status, 401);
    } finally {
      registry.close();
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    }
  });

  it('expires idle upload sessions', async () => {
    const r = await start({ uploadTtlMs: 60_000 });
    try {
      const location = (await req(r.base, 'POST', '/v2/x/blobs/uploads/')).headers.get('location')!;
      const id = location.split('/').pop()!;
      assert.equal(await r.registry.uploads.sweep(Date.now() + 120_000), 1);
      assert.equal(code(await req(r.base, 'GET', location)), 'BLOB_UPLOAD_UNKNOWN');
      assert.deepEqual(readdirSync(join(r.root, 'uploads')).filter((n) => n === id), []);
    } finally {
      await r.stop();
    }
  });
});
