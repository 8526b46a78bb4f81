import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandRanges, parseDiscoveryUrl, parseNodesFile } from '../../src/cluster/discovery/url.js';
import { openDiscovery, swarmKeys } from '../../src/cluster/discovery/index.js';
import { isBerthError } from '../../src/util/errors.js';

test('etcd URLs: endpoints, default port, prefix', () => {
  assert.deepEqual(parseDiscoveryUrl('etcd://10.0.0.1:2379,10.0.0.2/cluster/one/'), {
    kind: 'etcd',
    url: 'etcd://10.0.0.1:2379,10.0.0.2/cluster/one/',
    endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'],
    prefix: 'cluster/one',
  });
  const bare = parseDiscoveryUrl('etcd://127.0.0.1:2379');
  assert.equal(bare.kind === 'etcd' && bare.prefix, 'berth');
  assert.deepEqual(swarmKeys('cluster/one'), {
    root: '/cluster/one/docker/swarm/',
    nodes: '/cluster/one/docker/swarm/nodes/',
    names: '/cluster/one/docker/swarm/names/',
    leader: '/cluster/one/docker/swarm/leader/',
  });
  assert.throws(() => parseDiscoveryUrl('etcd:///prefix'), /no etcd endpoint/);
  assert.throws(() => parseDiscoveryUrl('etcd://host:99999/p'), /bad port/);
  assert.throws(() => parseDiscoveryUrl('etcd://ho st:2379/p'), /bad etcd endpoint/);
});

test('bad schemes and shapes are refused with invalid-parameter errors', () => {
  for (const [url, message] of [
    ['consul://1.2.3.4:8500/x', /unsupported discovery "consul:\/\/"/],
    ['10.0.0.1:2375', /invalid discovery URL/],
    ['file://relative/path', /absolute path/],
    ['nodes://', /no addresses/],
    ['nodes://10.0.0.1', /HOST:PORT/],
    ['nodes://10.0.0.1:0', /out of range/],
  ] as const) {
    assert.throws(() => parseDiscoveryUrl(url), (err: unknown) => isBerthError(err, 'invalidParameter') && message.test((err as Error).message), url);
  }
});

test('nodes:// lists and ranges as classic swarm wrote them', () => {
  const parsed = parseDiscoveryUrl('nodes://10.0.0.[1:3]:2375,node-a:2376,[::1]:2375');
  assert.equal(parsed.kind, 'nodes');
  assert.deepEqual(parsed.kind === 'nodes' && parsed.addrs, ['10.0.0.1:2375', '10.0.0.2:2375', '10.0.0.3:2375', 'node-a:2376', '[::1]:2375']);
  assert.deepEqual(expandRanges('node[08:10].lan:2375'), ['node08.lan:2375', 'node09.lan:2375', 'node10.lan:2375']);
  assert.deepEqual(expandRanges('10.0.[1:2].[5:6]:2375'), ['10.0.1.5:2375', '10.0.1.6:2375', '10.0.2.5:2375', '10.0.2.6:2375']);
  assert.throws(() => expandRanges('10.0.0.[9:1]:2375'), /runs backwards/);
  assert.throws(() => expandRanges('10.[0:255].[0:255].[0:255]:2375'), /more than|larger than/);
});

test('discovery files: comments, blank lines, ranges, duplicates once, errors name the line', () => {
  const text = '# the cluster\n10.0.0.1:2375\n\n  10.0.0.[2:3]:2375   # two more\n10.0.0.1:2375\n';
  assert.deepEqual(parseNodesFile(text, '/etc/nodes'), ['10.0.0.1:2375', '10.0.0.2:2375', '10.0.0.3:2375']);
  assert.throws(() => parseNodesFile('10.0.0.1:2375\nnot an address\n', '/etc/nodes'), /\/etc\/nodes:2: expected one address per line/);
  assert.throws(() => parseNodesFile('10.0.0.1:2375\n\nhost-without-port\n', '/etc/nodes'), /\/etc\/nodes:3: "host-without-port" is not an address/);
});

test('static discovery lists, watches and refuses registration', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-disc-'));
  try {
    const file = join(dir, 'cluster');
    writeFileSync(file, '10.0.0.1:2375\n');
    const discovery = openDiscovery(`file://${file}`, { pollMs: 50 });
    assert.deepEqual(await discovery.list(), [{ addr: '10.0.0.1:2375' }]);
    const seen: string[][] = [];
    const stop = discovery.watch((nodes) => seen.push(nodes.map((n) => n.addr)));
    await waitFor(() => seen.length === 1);
    writeFileSync(file, '10.0.0.1:2375\n10.0.0.[2:3]:2375\n');
    await waitFor(() => seen.length === 2);
    assert.deepEqual(seen[1], ['10.0.0.1:2375', '10.0.0.2:2375', '10.0.0.3:2375']);
    const errors: Error[] = [];
    stop();
    const stop2 = discovery.watch(() => undefined, (err) => errors.push(err));
    writeFileSync(file, 'garbage here\n');
    await waitFor(() => errors.length > 0);
    assert.match(errors[0]!.message, /cluster:1: expected one address per line/);
    stop2();
    await assert.rejects(discovery.register({ addr: '10.0.0.9:2375' }, 20), (err: unknown) => isBerthError(err, 'notImplemented') && /static discovery/.test((err as Error).message));
    await discovery.close();
    await assert.rejects(openDiscovery(`file://${join(dir, 'missing')}`).list(), /does not exist/);

    const nodes = openDiscovery('nodes://a:1,b:2');
    assert.deepEqual(await nodes.list(), [{ addr: 'a:1' }, { addr: 'b:2' }]);
    const got = await new Promise<string[]>((resolve) => nodes.watch((n) => resolve(n.map((e) => e.addr))));
    assert.deepEqual(got, ['a:1', 'b:2']);
    await assert.rejects(nodes.register({ addr: 'c:3' }, 20), /static discovery/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
