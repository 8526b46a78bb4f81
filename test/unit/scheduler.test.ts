import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNode, NodeContainer, StrategyName } from '../../src/cluster/types.js';
import type { ContainerCreateBody } from '../../src/client/types.js';
import { filterNodes, makeScheduler, schedule, seededRandom, stripSchedulingHints, readSchedulingHints, parseExpr } from '../../src/cluster/scheduler/index.js';
import { isBerthError } from '../../src/util/errors.js';

const GiB = 1024 ** 3;
let seq = 0;

function node(name: string, extra: Partial<ClusterNode> = {}): ClusterNode {
  return { id: `ID-${name}`, name, addr: `10.0.0.${name.length}:2376`, labels: {}, totalCpus: 4, totalMemory: 4 * GiB, healthy: true, containers: [], images: [], ...extra };
}

function container(name: string, extra: Partial<NodeContainer> = {}): NodeContainer {
  const id = (++seq).toString(16).padStart(12, 'a') + 'f'.repeat(52);
  return { id, names: [name], image: 'busybox:latest', imageId: 'sha256:' + 'b'.repeat(64), labels: {}, running: true, publishedPorts: [], memory: 0, cpus: 0, ...extra };
}

const place = (nodes: ClusterNode[], body: ContainerCreateBody, strategy: StrategyName = 'spread', name?: string): string => schedule(nodes, { name, body }, strategy).name;

/** Schedules and records the new container on the chosen node, as the manager does after a create. */
function placeAndRecord(nodes: ClusterNode[], body: ContainerCreateBody, strategy: StrategyName, sched = schedule): ClusterNode {
  const chosen = sched(nodes, { body }, strategy);
  const hc = body.HostConfig ?? {};
  chosen.containers.push(container(`c${seq}`, { memory: hc.Memory ?? 0, cpus: (hc.NanoCpus ?? 0) / 1e9 }));
  return chosen;
}

function expectError(fn: () => unknown, kind: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isBerthError(e), `expected a BerthError, got ${String(e)}`);
    assert.equal(e.kind, kind, `kind of "${e.message}"`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('spread places 6 containers 2/2/2 on 3 nodes', () => {
  const nodes = [node('node1'), node('node2'), node('node3')];
  const order = Array.from({ length: 6 }, () => placeAndRecord(nodes, { Image: 'busybox' }, 'spread').name);
  assert.deepEqual(order, ['node1', 'node2', 'node3', 'node1', 'node2', 'node3']);
  assert.deepEqual(nodes.map((n) => n.containers.length), [2, 2, 2]);
});

test('spread prefers the least reserved node when container counts tie', () => {
  const nodes = [node('a', { containers: [container('x', { memory: 2 * GiB })] }), node('b', { containers: [container('y', { memory: GiB })] })];
  assert.equal(place(nodes, { Image: 'busybox' }), 'b');
});

test('binpack fills one node first within its memory', () => {
  const nodes = [node('node1', { totalMemory: GiB }), node('node2', { totalMemory: GiB }), node('node3', { totalMemory: GiB })];
  const body = { Image: 'busybox', HostConfig: { Memory: 256 * 1024 ** 2 } };
  const order = Array.from({ length: 9 }, () => placeAndRecord(nodes, body, 'binpack').name);
  assert.deepEqual(order, ['node1', 'node1', 'node1', 'node1', 'node2', 'node2', 'node2', 'node2', 'node3']);
});

test('binpack picks the most used node that still fits', () => {
  const nodes = [node('empty'), node('busy', { containers: [container('x', { memory: 3 * GiB })] }), node('half', { containers: [container('y', { memory: 2 * GiB })] })];
  assert.equal(place(nodes, { Image: 'busybox', HostConfig: { Memory: 512 * 1024 ** 2 } }, 'binpack'), 'busy');
  // 1.5 GiB no longer fits on busy (1 GiB free): the next most used node.
  assert.equal(place(nodes, { Image: 'busybox', HostConfig: { Memory: 1.5 * GiB } }, 'binpack'), 'half');
});

test('resources: a container asking more memory or CPUs than any node has free fits nowhere, whatever the strategy', () => {
  const nodes = [node('node1', { totalMemory: GiB }), node('node2', { totalMemory: GiB, containers: [container('x', { memory: GiB / 2 })] })];
  for (const strategy of ['spread', 'binpack', 'random'] as const) {
    expectError(() => place(nodes, { Image: 'busybox', HostConfig: { Memory: 2 * GiB } }, strategy), 'conflict', /node1: resources needs 2 GiB memory, 1 GiB of 1 GiB free; node2: resources needs 2 GiB memory, 512 MiB of 1 GiB free/);
  }
  expectError(() => place(nodes, { Image: 'busybox', HostConfig: { NanoCpus: 8e9 } }), 'conflict', /resources needs 8 CPUs, 4 CPUs of 4 CPUs free/);
  // CpuQuota/CpuPeriod count as a CPU reservation too; CpuShares (a relative weight) does not.
  expectError(() => place(nodes, { Image: 'busybox', HostConfig: { CpuQuota: 500000, CpuPeriod: 100000 } }), 'conflict', /needs 5 CPUs/);
  assert.ok(['node1', 'node2'].includes(place(nodes, { Image: 'busybox', HostConfig: { CpuShares: 8192 } })));
});

test('random respects filters and is reproducible with a seed', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'].map((n) => node(n, { labels: { zone: n < 'n3' ? 'a' : 'b' } }));
  const seeded = makeScheduler({ random: seededRandom(42) });
  const picks = Array.from({ length: 50 }, () => seeded(nodes, { body: { Image: 'busybox', Env: ['constraint:zone==b'] } }, 'random').name);
  assert.ok(picks.every((p) => ['n3', 'n4', 'n5'].includes(p)), picks.join(','));
  assert.equal(new Set(picks).size, 3, 'all eligible nodes get picked over 50 draws');
  const again = makeScheduler({ random: seededRandom(42) });
  assert.deepEqual(Array.from({ length: 50 }, () => again(nodes, { body: { Image: 'busybox', Env: ['constraint:zone==b'] } }, 'random').name), picks);
});

test('health: unhealthy nodes are never chosen', () => {
  const nodes = [node('a', { healthy: false }), node('b')];
  assert.equal(place(nodes, { Image: 'busybox' }), 'b');
  expectError(() => place([node('a', { healthy: false })], { Image: 'busybox' }), 'conflict', /a: health node is unhealthy or unreachable/);
});

test('constraint: node name or id, engine labels, standard facts, !=', () => {
  const nodes = [
    node('node1', { labels: { storagedriver: 'overlay2', region: 'us-east', kernelversion: '6.1.0-18-amd64' } }),
    node('node2', { labels: { storagedriver: 'btrfs', region: 'eu-west', kernelversion: '5.10.0' } }),
    node('node3', { labels: { storagedriver: 'overlay2', region: 'eu-central', kernelversion: '6.1.0' } }),
  ];
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:node==node2'] }), 'node2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:node==ID-node3'] }), 'node3');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:storagedriver==btrfs'] }), 'node2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:storagedriver==overlay2', 'constraint:node!=node1'] }), 'node3');
  // A missing label fails == and passes !=.
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:gpu!=yes'] }), 'node1');
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:gpu==yes'] }), 'conflict', /node1: constraint gpu==yes/);
});

test('constraint: globs and regexps', () => {
  const nodes = [node('node-1', { labels: { region: 'us-east' } }), node('node-2', { labels: { region: 'eu-west' } }), node('db-1', { labels: { region: 'eu-central' } })];
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:region==us*'] }), 'node-1');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:region!=us*', 'constraint:node==node-?'] }), 'node-2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:node==/^db-[0-9]$/'] }), 'db-1');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:node!=/node-[12]/'] }), 'db-1');
  // Go's (?i) inline flag, as swarm's docs write case-insensitive matches.
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:region==/(?i)EU-W/'] }), 'node-2');
  // Globs are anchored and literal elsewhere: "eu.west" is not a regexp.
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:region==eu.west'] }), 'conflict', /constraint region==eu\.west/);
});

test('constraint: swarm-mode forms in the com.docker.swarm.constraints label', () => {
  const nodes = [node('n1', { labels: { disk: 'ssd' } }), node('n2', { labels: { disk: 'hdd' } })];
  const label = (list: string[]): ContainerCreateBody => ({ Image: 'busybox', Labels: { 'com.docker.swarm.constraints': JSON.stringify(list) } });
  assert.equal(place(nodes, label(['node.labels.disk==hdd'])), 'n2');
  assert.equal(place(nodes, label(['engine.labels.disk==ssd'])), 'n1');
  assert.equal(place(nodes, label(['node.hostname==n2'])), 'n2');
  assert.equal(place(nodes, label(['node.id==ID-n2'])), 'n2');
  assert.equal(place(nodes, label(['node.hostname!=n1', 'node.labels.disk==*d'])), 'n2');
  // A plain expression (not JSON) in the label is accepted too.
  assert.equal(place(nodes, { Image: 'busybox', Labels: { 'com.docker.swarm.constraints': 'node.labels.disk==hdd' } }), 'n2');
});

test('soft constraints are preferred but do not fail the placement', () => {
  const nodes = [node('n1', { labels: { disk: 'ssd' } }), node('n2', { labels: { disk: 'hdd' } })];
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:disk==~hdd'] }), 'n2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:disk==~nvme'] }), 'n1');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:node!=~n1'] }), 'n2');
  // The hard rule still holds when the soft one is dropped.
  assert.equal(place(nodes, { Image: 'busybox', Env: ['constraint:disk==~nvme', 'constraint:node==n2'] }), 'n2');
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:disk==~ssd', 'constraint:disk==nvme'] }), 'conflict', /constraint disk==nvme/);
});

test('malformed constraints and affinities are invalid parameters naming them', () => {
  const nodes = [node('n1')];
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:node=n1'] }), 'invalidParameter', /invalid constraint "node=n1": expected KEY==VALUE/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:==n1'] }), 'invalidParameter', /invalid constraint "==n1": empty key/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:node=='] }), 'invalidParameter', /invalid constraint "node==": empty value/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:node==/[a-/'] }), 'invalidParameter', /invalid constraint "node==\/\[a-\/": bad regular expression/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:no de==x'] }), 'invalidParameter', /key "no de"/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['constraint:node.role==manager'] }), 'invalidParameter', /unsupported key node\.role/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['affinity:container'] }), 'invalidParameter', /invalid affinity "container"/);
  expectError(() => place(nodes, { Image: 'busybox', Labels: { 'com.docker.swarm.constraints': '["node==n1"' } }), 'invalidParameter', /invalid label com\.docker\.swarm\.constraints/);
  expectError(() => place(nodes, { Image: 'busybox', Env: ['reschedule:sometimes'] }), 'invalidParameter', /invalid reschedule policy "sometimes"/);
});

test('affinity: container by name, node/name, id; != keeps apart; image affinity; label affinity', () => {
  const front = container('frontend', { labels: { 'com.example.type': 'frontend' } });
  const nodes = [
    node('n1', { containers: [container('db')], images: [{ id: 'sha256:' + 'c'.repeat(64), repoTags: ['redis:latest'] }] }),
    node('n2', { containers: [front] }),
    node('n3'),
  ];
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:container==frontend'] }), 'n2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:container==n2/frontend'] }), 'n2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:container==' + front.id.slice(0, 12)] }), 'n2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:container==front*'] }), 'n2');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:container!=db', 'affinity:container!=frontend'] }), 'n3');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:image==redis'] }), 'n1');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:image==redis:latest'] }), 'n1');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:image==' + 'c'.repeat(12)] }), 'n1');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:com.example.type==frontend'] }), 'n2');
  // Label form, as stored by the manager on the container for rescheduling.
  assert.equal(place(nodes, { Image: 'busybox', Labels: { 'com.docker.swarm.affinities': '["container==db"]' } }), 'n1');
  expectError(() => place(nodes, { Image: 'busybox', Env: ['affinity:container==nothere'] }), 'conflict', /n1: affinity container==nothere; n2: affinity container==nothere; n3: affinity container==nothere/);
  // Soft affinities fall back.
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:image==~postgres'] }), 'n3');
  assert.equal(place(nodes, { Image: 'busybox', Env: ['affinity:container==~frontend'] }), 'n2');
});

test('dependency: --volumes-from, --link and --net container: land next to their container', () => {
  const nodes = [node('n1', { containers: [container('data'), container('cache')] }), node('n2', { containers: [container('db')] }), node('n3')];
  const hc = (h: Record<string, unknown>): ContainerCreateBody => ({ Image: 'busybox', HostConfig: h as ContainerCreateBody['HostConfig'] });
  assert.equal(place(nodes, hc({ VolumesFrom: ['db:ro'] })), 'n2');
  assert.equal(place(nodes, hc({ Links: ['/db:database'] })), 'n2');
  assert.equal(place(nodes, hc({ NetworkMode: 'container:data' })), 'n1');
  assert.equal(place(nodes, hc({ VolumesFrom: ['data'], Links: ['cache:c'] })), 'n1');
  assert.equal(place(nodes, hc({ NetworkMode: 'container:n2/db' })), 'n2');
  expectError(() => place(nodes, hc({ VolumesFrom: ['data'], Links: ['db:db'] })), 'conflict', /dependencies are on different nodes.*data \(--volumes-from\) on n1; db \(--link\) on n2/);
  expectError(() => place(nodes, hc({ VolumesFrom: ['ghost'] })), 'notFound', /No such container: ghost \(--volumes-from\)/);
  // The node holding the dependency is down: the error names both reasons.
  nodes[1]!.healthy = false;
  expectError(() => place(nodes, hc({ Links: ['db:db'] })), 'conflict', /n1: dependency --link db is on n2; n2: health node is unhealthy or unreachable; n3: dependency --link db is on n2/);
});

test('port: a host port published by a running container excludes the node; host IPs and protocols are told apart', () => {
  const web = container('web', { publishedPorts: [{ hostIp: '0.0.0.0', hostPort: 80, protocol: 'tcp' }] });
  const dns = container('dns', { publishedPorts: [{ hostIp: '127.0.0.1', hostPort: 53, protocol: 'udp' }] });
  const nodes = [node('n1', { containers: [web, dns] }), node('n2', { containers: [container('x'), container('y'), container('z')] })];
  const ports = (b: Record<string, Array<{ HostIp?: string; HostPort?: string }>>): ContainerCreateBody => ({ Image: 'busybox', HostConfig: { PortBindings: b } as ContainerCreateBody['HostConfig'] });
  // spread alone would choose n1 (2 containers vs 3).
  assert.equal(place(nodes, { Image: 'busybox' }), 'n1');
  assert.equal(place(nodes, ports({ '80/tcp': [{ HostPort: '80' }] })), 'n2');
  assert.equal(place(nodes, ports({ '80/tcp': [{ HostIp: '10.1.2.3', HostPort: '80' }] })), 'n2', '0.0.0.0 clashes with any address');
  assert.equal(place(nodes, ports({ '80/udp': [{ HostPort: '80' }] })), 'n1', 'udp 80 is free');
  assert.equal(place(nodes, ports({ '53/udp': [{ HostIp: '127.0.0.2', HostPort: '53' }] })), 'n1', 'another address is free');
  assert.equal(place(nodes, ports({ '53/udp': [{ HostPort: '53' }] })), 'n2', 'a wildcard request clashes with a specific address');
  assert.equal(place(nodes, ports({ '80/tcp': [{ HostPort: '' }] })), 'n1', 'an ephemeral port never clashes');
  assert.equal(place(nodes, ports({ '80/tcp': [{ HostPort: '80-81' }] })), 'n1', 'a range with a free port fits');
  nodes[1]!.containers.push(container('web2', { publishedPorts: [{ hostIp: '', hostPort: 80, protocol: 'tcp' }] }));
  expectError(() => place(nodes, ports({ '80/tcp': [{ HostPort: '80' }] })), 'conflict', /\[port 80\/tcp\].*n1: port 80\/tcp in use by web; n2: port 80\/tcp in use by web2/);
  // --net host: exposed ports are host ports.
  expectError(() => place(nodes, { Image: 'busybox', ExposedPorts: { '80/tcp': {} }, HostConfig: { NetworkMode: 'host' } } as ContainerCreateBody), 'conflict', /port 80\/tcp in use/);
});

test('port: a stopped container holds its port only softly', () => {
  const old = container('old', { running: false, publishedPorts: [{ hostIp: '0.0.0.0', hostPort: 8080, protocol: 'tcp' }] });
  const nodes = [node('n1', { containers: [old] }), node('n2', { containers: [container('a'), container('b')] })];
  const body = { Image: 'busybox', HostConfig: { PortBindings: { '8080/tcp': [{ HostPort: '8080' }] } } } as ContainerCreateBody;
  assert.equal(place(nodes, body), 'n2', 'another node is preferred');
  assert.equal(place([nodes[0]!], body), 'n1', 'but the node is used when nothing else fits');
});

test('containerslots label caps the containers on a node', () => {
  const nodes = [node('n1', { labels: { containerslots: '1' }, containers: [container('a')] }), node('n2', { containers: [container('b'), container('c')] })];
  assert.equal(place(nodes, { Image: 'busybox' }), 'n2');
  expectError(() => place([nodes[0]!], { Image: 'busybox' }), 'conflict', /\[available container slots\].*n1: containerslots all 1 container slots used/);
});

test('the fits-nowhere error names every node and the filter that removed it', () => {
  const nodes = [
    node('node1', { labels: { region: 'us' } }),
    node('node2', { labels: { region: 'eu' }, containers: [container('web', { publishedPorts: [{ hostIp: '', hostPort: 80, protocol: 'tcp' }] })] }),
    node('node3', { healthy: false, labels: { region: 'eu' } }),
    node('node4', { labels: { region: 'eu' }, totalMemory: 0 }),
  ];
  const body = { Image: 'busybox', Env: ['constraint:region==eu'], HostConfig: { Memory: GiB, PortBindings: { '80/tcp': [{ HostPort: '80' }] } } } as ContainerCreateBody;
  assert.throws(() => place(nodes, body), (e: unknown) => {
    assert.ok(isBerthError(e, 'conflict'));
    assert.equal(
      e.message,
      'Unable to find a node that satisfies the following conditions [region==eu] [port 80/tcp] [healthy node] [available resources]; ' +
        'no suitable node (node1: constraint region==eu; node2: port 80/tcp in use by web; node3: health node is unhealthy or unreachable; node4: resources needs 1 GiB memory, 0 B of 0 B free)',
    );
    return true;
  });
  expectError(() => place([], { Image: 'busybox' }), 'conflict', /the cluster has no nodes/);
});

test('filterNodes reports rejections with their filter', () => {
  const out = filterNodes([node('a', { healthy: false }), node('b', { labels: { x: '1' } }), node('c')], { body: { Image: 'busybox', Env: ['constraint:x==1'] } });
  assert.deepEqual(out.candidates.map((n) => n.name), ['b']);
  assert.deepEqual(out.rejections.map((r) => [r.node, r.filter, r.reason]), [['a', 'health', 'node is unhealthy or unreachable'], ['c', 'constraint', 'x==1']]);
});

test('unknown strategy is an invalid parameter', () => {
  expectError(() => schedule([node('a')], { body: { Image: 'busybox' } }, 'roundrobin' as StrategyName), 'invalidParameter', /unknown scheduling strategy "roundrobin"/);
});

test('stripSchedulingHints moves Env hints into swarm labels and leaves the rest', () => {
  const body: ContainerCreateBody = {
    Image: 'busybox',
    Env: ['A=1', 'constraint:node==n1', 'affinity:container!=~web', 'reschedule:on-node-failure', 'B=constraint:not-a-hint'],
    Labels: { keep: 'yes', 'com.docker.swarm.constraints': '["region==eu"]' },
  };
  const { body: out, hints } = stripSchedulingHints(body);
  assert.deepEqual(out.Env, ['A=1', 'B=constraint:not-a-hint']);
  assert.deepEqual(out.Labels, {
    keep: 'yes',
    'com.docker.swarm.constraints': '["region==eu","node==n1"]',
    'com.docker.swarm.affinities': '["container!=~web"]',
    'com.docker.swarm.reschedule-policies': '["on-node-failure"]',
  });
  assert.deepEqual(hints.constraints, ['region==eu', 'node==n1']);
  assert.deepEqual(body.Env?.length, 5, 'the input is not modified');
  // Stripping twice changes nothing more, and the stripped body schedules the same way.
  assert.deepEqual(stripSchedulingHints(out).body, out);
  assert.deepEqual(readSchedulingHints(out), hints);
  const nodes = [node('n1', { labels: { region: 'eu' } }), node('n2', { labels: { region: 'eu' } })];
  assert.equal(place(nodes, out), 'n1');
  // No hints: no labels added.
  assert.deepEqual(stripSchedulingHints({ Image: 'busybox', Env: ['A=1'] }).body, { Image: 'busybox', Env: ['A=1'] });
});

test('parseExpr reads soft operators before hard ones', () => {
  const e = parseExpr('constraint', 'node==~n1');
  assert.equal(e.soft, true);
  assert.equal(e.negate, false);
  assert.equal(e.value, 'n1');
  const n = parseExpr('affinity', 'image!=~redis*');
  assert.equal(n.negate, true);
  assert.ok(n.matches('redis:7'));
});
