/**
 * Overlay networks across three nodes: netns machines (test/helpers/machines.ts) on a test-made
 * bridge (10.213.N.0/24), each running its own berthd (client-cert TLS on IP:2376) with
 * --cluster-store (a real etcd listening on that bridge's address) and --cluster-advertise
 * eth0:2376; containers talk over real VXLAN devices (overlay 10.214.N.0/24). Every address is
 * inside the namespaces this test made; names the embedded DNS doesn't know go to 127.0.0.1
 * (--dns), so nothing leaves the machine.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { TestEtcd } from '../helpers/etcd.js';
import { createClusterStoreMachines, type MachineNode, type MachineSet } from '../helpers/machines.js';
import { expectOk, run, waitFor } from '../helpers/exec.js';

/** waitFor that fails the test when the condition never holds. */
async function until<T>(check: () => Promise<T>, options?: { timeoutMs?: number; intervalMs?: number }): Promise<NonNullable<T>> {
  const value = await waitFor(check, options);
  if (!value) throw new Error(`condition never held: ${check.toString().slice(0, 200)}`);
  return value as NonNullable<T>;
}

let cluster: MachineSet | undefined;
let etcd: TestEtcd | undefined;
let nodes: MachineNode[] = [];
let overlaySubnet = '';

/** busybox-static's wget crashes in its resolver (static glibc): HTTP clients resolve with nslookup at the embedded DNS (ping resolves by itself). */
const resolve = (name: string): string => `$(nslookup ${name} 127.0.0.11 | awk '/^Address: /{print $2}' | tail -1)`;
const fetch = (name: string): string => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${resolve(name)} 80`;
const HTTPD = ['sh', '-c', 'mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www'];

function vxlanOf(networkId: string): string {
  return `ovx-${networkId.slice(0, 11)}`;
}

/** A command in a node's namespace (not in a container): ip, bridge. */
async function inNode(node: MachineNode, file: string, args: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', node.config.netns!.netns, file, ...args])).stdout;
}

const fdb = (node: MachineNode, dev: string): Promise<string> => inNode(node, 'bridge', ['fdb', 'show', 'dev', dev]);
const neigh = (node: MachineNode, dev: string): Promise<string> => inNode(node, 'ip', ['neigh', 'show', 'dev', dev]);

async function inspectIp(d: MachineNode, name: string, network: string): Promise<{ ip: string; mac: string }> {
  const r = await d.api('GET', `/containers/${name}/json`);
  const e = (r.json as { NetworkSettings: { Networks: Record<string, { IPAddress: string; MacAddress: string }> } }).NetworkSettings.Networks[network]!;
  return { ip: e.IPAddress, mac: e.MacAddress };
}

before(async () => {
  ({ cluster, etcd, overlaySubnet } = await createClusterStoreMachines(3, 'ovl', { engineArgs: ['--debug'] }));
  nodes = cluster.nodes;
});

after(async () => {
  const problems: string[] = [];
  for (const node of nodes) {
    const alive = await node.api('GET', '/_ping').then((r) => r.status === 200, () => false);
    if (!alive) problems.push(`${node.name}: berthd died; its log ends:\n${node.log().split('\n').slice(-25).join('\n')}`);
    await node.berth(['rm', '-f', 'web-b', 'web-c', 'sleeper-a', 'late-c']).catch(() => undefined);
    await node.stopEngine().catch((err: Error) => problems.push(`${node.name}: stop: ${err.message}`));
    // A node's devices live in its namespace: none may be left once its berthd stopped.
    for (const line of (await inNode(node, 'ip', ['-o', 'link', 'show'])).split('\n')) {
      if (/ov(br|x)-/.test(line)) problems.push(`${node.name}: ${line.trim()}`);
    }
  }
  await cluster?.removeAll().catch((err: Error) => problems.push(err.message));
  await etcd?.stop();
  assert.deepEqual(problems, [], 'cleanup left things behind');
});

test('an overlay created on node A is listed, with scope global and the same id, on B and C', async () => {
  const [a, b, c] = nodes as [MachineNode, MachineNode, MachineNode];
  const id = expectOk('network create', await a.berth(['network', 'create', '-d', 'overlay', '--subnet', overlaySubnet, 'ovnet'])).trim();
  for (const d of [a, b, c]) {
    const found = await until(async () => {
      const r = await d.api('GET', '/networks');
      return (r.json as Array<{ Name: string; Id: string; Scope: string; Driver: string }>).find((n) => n.Name === 'ovnet');
    });
    assert.equal(found.Id, id);
    assert.equal(found.Scope, 'global');
    assert.equal(found.Driver, 'overlay');
  }
  // The real docker CLI sees it too, with docker's SCOPE column.
  const ls = await c.docker(['network', 'ls', '--filter', 'driver=overlay', '--format', '{{.Name}} {{.Scope}}']);
  assert.equal(expectOk('docker network ls', ls).trim(), 'ovnet global');
  const dup = await b.berth(['network', 'create', '-d', 'overlay', 'ovnet']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /already exists/);
  const overlap = await c.berth(['network', 'create', '-d', 'overlay', '--subnet', overlaySubnet, 'ovnet2']);
  assert.notEqual(overlap.code, 0, 'a second overlay on the same subnet must be refused');
  assert.match(overlap.stderr, /overlaps/);
});

test('containers on B and C get distinct addresses; a client on A reaches both by name (ping and HTTP)', async () => {
  const [a, b, c] = nodes as [MachineNode, MachineNode, MachineNode];
  expectOk('run web-b', await b.berth(['run', '-d', '--name', 'web-b', '--network', 'ovnet', 'busybox', ...HTTPD]));
  expectOk('run web-c', await c.berth(['run', '-d', '--name', 'web-c', '--network', 'ovnet', '--network-alias', 'www', 'busybox', ...HTTPD]));
  const ipB = await inspectIp(b, 'web-b', 'ovnet');
  const ipC = await inspectIp(c, 'web-c', 'ovnet');
  assert.notEqual(ipB.ip, ipC.ip);
  assert.ok(ipB.ip.startsWith(overlaySubnet.slice(0, overlaySubnet.lastIndexOf('.'))), ipB.ip);
  const script = [
    'ping -c 1 -W 3 web-b',
    'ping -c 1 -W 3 web-c',
    `echo B=$(${fetch('web-b')} | tail -1)`,
    `echo C=$(${fetch('www')} | tail -1)`,
    `echo IPB=${resolve('web-b')}`,
    // The MTU is the underlay's less VXLAN's 50 bytes.
    'echo MTU=$(cat /sys/class/net/eth0/mtu)',
  ].join(' && ');
  const r = await a.berth(['run', '--rm', '--network', 'ovnet', 'busybox', 'sh', '-c', script]);
  const out = expectOk('client on A', r);
  assert.match(out, /B=hello-from-/, `${r.stderr}\n--- node A log ---\n${a.log().split('\n').slice(-40).join('\n')}`);
  assert.match(out, /C=hello-from-/);
  assert.match(out, new RegExp(`IPB=${ipB.ip.replace(/\./g, '\\.')}\\b`));
  assert.match(out, /MTU=1450/);
});

test('removing a container removes its FDB and neighbour entries on the other nodes', async () => {
  const [a, b] = nodes as [MachineNode, MachineNode];
  const network = (await a.api('GET', '/networks/ovnet')).json as { Id: string };
  const dev = vxlanOf(network.Id);
  expectOk('run sleeper-a', await a.berth(['run', '-d', '--name', 'sleeper-a', '--network', 'ovnet', 'busybox', 'sleep', '600']));
  const web = await inspectIp(b, 'web-b', 'ovnet');
  const nodeA = a;
  await until(async () => (await fdb(nodeA, dev)).includes(`${web.mac} dst ${b.ip}`) || undefined);
  assert.match(await neigh(nodeA, dev), new RegExp(`${web.ip.replace(/\./g, '\\.')} lladdr ${web.mac}`));
  expectOk('rm web-b', await b.berth(['rm', '-f', 'web-b']));
  await until(async () => !(await fdb(nodeA, dev)).includes(web.mac) || undefined);
  await until(async () => !(await neigh(nodeA, dev)).includes(web.ip + ' ') || undefined);
  // C still has its own endpoint and A's: only B's entries went.
  const nodeC = nodes[2]!;
  const sleeper = await inspectIp(a, 'sleeper-a', 'ovnet');
  await until(async () => (await fdb(nodeC, dev)).includes(sleeper.mac) || undefined);
  assert.ok(!(await fdb(nodeC, dev)).includes(web.mac));
});

test('network connect puts a running container on the overlay, disconnect takes it off everywhere', async () => {
  const [a, , c] = nodes as [MachineNode, MachineNode, MachineNode];
  const network = (await a.api('GET', '/networks/ovnet')).json as { Id: string };
  expectOk('run late-c', await c.berth(['run', '-d', '--name', 'late-c', 'busybox', 'sleep', '600']));
  expectOk('connect', await c.berth(['network', 'connect', '--alias', 'late', 'ovnet', 'late-c']));
  const late = await inspectIp(c, 'late-c', 'ovnet');
  const ping = await a.berth(['exec', 'sleeper-a', 'ping', '-c', '1', '-W', '3', 'late']);
  expectOk('ping late from A', ping);
  assert.match(ping.stdout, new RegExp(late.ip.replace(/\./g, '\\.')));
  expectOk('disconnect', await c.berth(['network', 'disconnect', 'ovnet', 'late-c']));
  // The vxlan device's entry (MAC dst NODE) goes; the bridge learns nothing from the vxlan port.
  await until(async () => !(await inNode(a, 'bridge', ['fdb', 'show', 'br', `ovbr-${network.Id.slice(0, 10)}`])).includes(late.mac) || undefined);
  expectOk('rm late-c', await c.berth(['rm', '-f', 'late-c']));
});

test('a restarted node withdraws its endpoints while down and announces them again', async () => {
  const [a, , c] = nodes as [MachineNode, MachineNode, MachineNode];
  const network = (await a.api('GET', '/networks/ovnet')).json as { Id: string };
  const dev = vxlanOf(network.Id);
  const web = await inspectIp(c, 'web-c', 'ovnet');
  await until(async () => (await fdb(a, dev)).includes(web.mac) || undefined);
  await c.stopEngine();
  // Containers keep running; the revoked node lease takes web-c's endpoint off the other nodes.
  await until(async () => !(await fdb(a, dev)).includes(web.mac) || undefined);
  await c.startEngine();
  await until(async () => (await fdb(a, dev)).includes(`${web.mac} dst ${c.ip}`) || undefined, { timeoutMs: 20_000 });
  const r = await a.berth(['exec', 'sleeper-a', 'sh', '-c', `echo C=$(${fetch('www')} | tail -1)`]);
  assert.match(expectOk('exec on A', r), /C=hello-from-/);
});

test('network rm is refused while any node has an endpoint, and then removes it everywhere', async () => {
  const [a, b, c] = nodes as [MachineNode, MachineNode, MachineNode];
  const network = (await a.api('GET', '/networks/ovnet')).json as { Id: string };
  const refused = await b.berth(['network', 'rm', 'ovnet']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /has active endpoints/);
  expectOk('rm', await a.berth(['rm', '-f', 'sleeper-a']));
  expectOk('rm', await c.berth(['rm', '-f', 'web-c']));
  // The node lease is not involved: withdrawals are immediate.
  await until(async () => (await b.berth(['network', 'rm', 'ovnet'])).code === 0 || undefined, { timeoutMs: 10_000 });
  for (const d of [a, b, c]) {
    await until(async () => ((await d.api('GET', '/networks')).json as Array<{ Name: string }>).every((n) => n.Name !== 'ovnet') || undefined);
  }
  for (const node of nodes) {
    await until(async () => !(await inNode(node, 'ip', ['-o', 'link', 'show'])).includes(vxlanOf(network.Id)) || undefined);
  }
});

test('with etcd down, overlay create fails with a clear error, local networks still work, and it recovers', async () => {
  const a = nodes[0]!;
  await etcd!.killAll();
  try {
    const started = Date.now();
    const r = await a.berth(['network', 'create', '-d', 'overlay', 'ovdown']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cluster store etcd:\/\/.* is unreachable/);
    assert.ok(Date.now() - started < 15_000, 'the error must come within seconds');
    expectOk('local network', await a.berth(['network', 'create', 'localnet']));
    expectOk('local network rm', await a.berth(['network', 'rm', 'localnet']));
  } finally {
    await etcd!.startAll();
  }
  await until(async () => (await a.berth(['network', 'create', '-d', 'overlay', 'ovback'])).code === 0 || undefined, { timeoutMs: 30_000, intervalMs: 500 });
  await until(async () => ((await nodes[2]!.api('GET', '/networks')).json as Array<{ Name: string }>).some((n) => n.Name === 'ovback') || undefined, { timeoutMs: 30_000 });
  expectOk('rm ovback', await nodes[1]!.berth(['network', 'rm', 'ovback']));
});
