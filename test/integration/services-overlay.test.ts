/**
 * A service on an overlay network, reached by name from another node: three netns machines
 * (test/helpers/machines.ts, client-cert TLS on IP:2376) whose berthds share a real etcd as
 * cluster store (--cluster-store, the overlay driver) and are registered in it for discovery
 * under the same prefix; a `berth swarm manage` places a 2-replica dnsrr service on nodes B and
 * C and registers its name; a client container on node A resolves it through the embedded DNS
 * and fetches from both tasks over VXLAN. Addresses: an underlay 10.213.N.0/24 on a test-made
 * bridge and the overlay 10.214.N.0/24; unknown names go to 127.0.0.1, nothing leaves the host.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestEtcd } from '../helpers/etcd.js';
import { createClusterStoreMachines, expectOk, type MachineNode, type MachineSet } from '../helpers/machines.js';
import { startManager, type TestManager } from '../helpers/manager.js';
import { sleep } from '../helpers/exec.js';
import { openDiscovery } from '../../src/cluster/discovery/index.js';
import type { Discovery, Registration } from '../../src/cluster/types.js';
import type { Task } from '../../src/cluster/services/types.js';

let cluster: MachineSet | undefined;
let etcd: TestEtcd | undefined;
let discovery: Discovery | undefined;
let manager: TestManager | undefined;
let nodes: MachineNode[] = [];
const registrations: Registration[] = [];
let overlaySubnet = '';
let dir = '';
const prefix = `svcovl-${process.pid}`;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- manager log ---\n${manager?.log().split('\n').slice(-30).join('\n')}`);
    await sleep(250);
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-svc-overlay-'));
  ({ cluster, etcd, overlaySubnet } = await createClusterStoreMachines(3, 'svc', { storePrefix: prefix }));
  nodes = cluster.nodes;
  discovery = openDiscovery(etcd.url(prefix));
  for (const node of nodes) registrations.push(await discovery.register({ addr: `${node.ip}:2376`, name: node.name, healthy: true }, 4));
  manager = await startManager(dir, 'ovsvc', ['--storage-path', cluster.storePath, '--engine-refresh-interval', '1s', etcd.url(prefix)]);
  await until('three ready nodes', async () => {
    const r = await manager!.api('GET', '/nodes');
    return (r.json as { Status: { State: string } }[]).filter((n) => n.Status.State === 'ready').length === 3 ? true : undefined;
  });
});

after(async () => {
  const problems: string[] = [];
  await manager?.api('DELETE', '/services/web').catch(() => undefined);
  for (const node of nodes) {
    await until(`no task containers on ${node.name}`, async () => {
      const r = await node.api('GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: ['com.docker.swarm.service.id'] }))}`);
      return (r.json as unknown[]).length === 0 ? true : undefined;
    }, 30_000).catch((e: Error) => problems.push(e.message.split('\n')[0]!));
  }
  await manager?.stop().catch((e: Error) => problems.push(e.message));
  for (const r of registrations) await r.stop().catch(() => undefined);
  await discovery?.close().catch(() => undefined);
  for (const node of nodes) await node.stopEngine().catch((err: Error) => problems.push(`${node.name}: stop: ${err.message}`));
  await cluster?.removeAll().catch((err: Error) => problems.push(err.message));
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(problems, [], 'cleanup left things behind');
});

test('a client on node A reaches, by name over the overlay, a service whose tasks run on B and C', async () => {
  const [a, b, c] = nodes as [MachineNode, MachineNode, MachineNode];
  expectOk(a, 'network create', await a.berth(['network', 'create', '-d', 'overlay', '--subnet', overlaySubnet, 'svcnet']));
  const created = await manager!.api('POST', '/services/create', {
    Name: 'web',
    TaskTemplate: {
      ContainerSpec: { Image: 'busybox', Command: ['sh', '-c', 'mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www'], StopGracePeriod: 1e9 },
      Placement: { Constraints: [`node.hostname!=${a.name}`] },
      Networks: [{ Target: 'svcnet' }],
    },
    Mode: { Replicated: { Replicas: 2 } },
    EndpointSpec: { Mode: 'dnsrr' },
  });
  assert.equal(created.status, 201, created.text);
  const tasks = await until('2 running tasks', async () => {
    const r = await manager!.api('GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: ['web'], 'desired-state': ['running'] }))}`);
    const list = (r.json as Task[]).filter((t) => t.Status.State === 'running');
    return list.length === 2 ? list : undefined;
  });
  const nodeList = (await manager!.api('GET', '/nodes')).json as { ID: string; Description: { Hostname: string } }[];
  const names = new Map(nodeList.map((n) => [n.ID, n.Description.Hostname]));
  assert.deepEqual(tasks.map((t) => names.get(t.NodeID!)).sort(), [b.name, c.name].sort());
  // The tasks' overlay addresses, from their own nodes.
  const ips: string[] = [];
  for (const t of tasks) {
    const owner = nodes.find((n) => n.name === names.get(t.NodeID!))!;
    const r = await owner.api('GET', `/containers/${t.Status.ContainerStatus!.ContainerID}/json`);
    ips.push((r.json as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }).NetworkSettings.Networks.svcnet!.IPAddress);
  }
  ips.sort();
  // busybox-static's resolver is unusable (static glibc): ask the embedded DNS with nslookup.
  const lookup = async (name: string) => {
    const r = await a.berth(['run', '--rm', '--network', 'svcnet', 'busybox', 'sh', '-c', `nslookup ${name} 127.0.0.11 | awk '/^Address: /{print $2}' | sort`], { timeoutMs: 60_000 });
    return r.stdout.trim().split('\n').filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l));
  };
  const resolved = await until('web resolves to both task addresses on node A', async () => {
    const got = await lookup('web');
    return JSON.stringify(got) === JSON.stringify(ips) ? got : undefined;
  });
  assert.deepEqual(resolved, ips);
  assert.deepEqual(await lookup('tasks.web'), ips);
  const fetched = expectOk(a, 'fetch from both tasks', await a.berth(['run', '--rm', '--network', 'svcnet', 'busybox', 'sh', '-c', ips.map((ip) => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} 80`).join('; ')], { timeoutMs: 60_000 }));
  assert.match(fetched.stdout, /hello-from-/);
  assert.equal((fetched.stdout.match(/hello-from-/g) ?? []).length, 2, fetched.stdout);
  // Removing the service removes its name.
  assert.equal((await manager!.api('DELETE', '/services/web')).status, 200);
  await until('web no longer resolves', async () => ((await lookup('web')).length === 0 ? true : undefined));
});
