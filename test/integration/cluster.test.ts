/**
 * The cluster manager end to end: three berthd nodes (loopback TCP), real etcd discovery with
 * each node registered under a short lease, `berth swarm manage` processes in front, the real
 * docker CLI against them. Placement (spread, binpack, each filter), node loss, bad input and
 * primary/backup failover.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { startEtcd, freePort, type TestEtcd } from '../helpers/etcd.js';
import { startManager, hostRequest, type TestManager } from '../helpers/manager.js';
import { dockerBin } from '../helpers/paths.js';
import { run, sleep, describeResult } from '../helpers/exec.js';
import { openDiscovery } from '../../src/cluster/discovery/index.js';
import type { Discovery, NodeEntry, Registration } from '../../src/cluster/types.js';

const TTL = 3;
const NODES = ['node1', 'node2', 'node3'];
const ZONES = ['a', 'b', 'c'];

interface Node {
  name: string;
  daemon: TestDaemon;
  addr: string;
  entry: NodeEntry;
  registration?: Registration;
}

let dir: string;
let etcd: TestEtcd;
let discovery: Discovery;
const nodes: Node[] = [];
const managers: TestManager[] = [];
let manager: TestManager;

const docker = (host: string, args: string[]) =>
  run(dockerBin, args, { env: { ...process.env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false', DOCKER_CONFIG: join(dir, 'docker-config') }, timeoutMs: 60_000 });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The SystemStatus pairs of the manager's /info. */
async function status(m: TestManager): Promise<Array<[string, string]>> {
  const r = await m.api('GET', '/info');
  return (r.json as { SystemStatus: Array<[string, string]> }).SystemStatus;
}

async function healthyNodes(m: TestManager): Promise<string[]> {
  const s = await status(m);
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    const [k] = s[i]!;
    if (/^ \S/.test(k) && s.slice(i + 1, i + 4).some(([kk, v]) => kk === '  └ Status' && v === 'Healthy')) out.push(k.trim());
  }
  return out.sort();
}

async function create(m: TestManager, body: Record<string, unknown>, name?: string): Promise<{ status: number; id?: string; node?: string; message?: string }> {
  const r = await m.api('POST', `/containers/create${name ? `?name=${name}` : ''}`, { Image: 'busybox', Cmd: ['sleep', '600'], ...body });
  if (r.status !== 201) return { status: r.status, message: (r.json as { message?: string } | undefined)?.message ?? r.text };
  const id = (r.json as { Id: string }).Id;
  const inspect = await m.api('GET', `/containers/${id}/json`);
  return { status: 201, id, node: (inspect.json as { Node: { Name: string } }).Node.Name };
}

async function removeAll(m: TestManager): Promise<void> {
  const r = await m.api('GET', '/containers/json?all=1');
  for (const c of r.json as { Id: string }[]) await m.api('DELETE', `/containers/${c.Id}?force=1`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cluster-'));
  etcd = await startEtcd();
  discovery = openDiscovery(etcd.url('clustertest'));
  for (const [i, name] of NODES.entries()) {
    const port = await freePort();
    const daemon = await startDaemon({ args: ['-H', `tcp://127.0.0.1:${port}`] });
    await importBusybox(daemon);
    const addr = `127.0.0.1:${port}`;
    // Registered as an agent would, with a name of its own: these three engines share one host name.
    const entry: NodeEntry = { addr, name, labels: { zone: ZONES[i]! }, healthy: true };
    nodes.push({ name, daemon, addr, entry, registration: await discovery.register(entry, TTL) });
  }
  manager = await startManager(dir, 'spread', ['--engine-refresh-interval', '1s', etcd.url('clustertest')]);
  managers.push(manager);
  await waitFor('three healthy nodes', async () => ((await healthyNodes(manager)).length === 3 ? true : undefined));
});

after(async () => {
  const problems: string[] = [];
  for (const m of managers) await m.stop().catch((e: Error) => problems.push(e.message));
  for (const n of nodes) await n.registration?.stop().catch(() => undefined);
  await discovery?.close().catch(() => undefined);
  for (const n of nodes) await n.daemon.stop().catch((e: Error) => problems.push(e.message));
  await etcd?.stop().catch((e: Error) => problems.push(e.message));
  rmSync(dir, { recursive: true, force: true });
  if (problems.length) throw new Error(problems.join('\n'));
});

describe('cluster manager', () => {
  it('docker info shows the nodes, their state and the role', async () => {
    const r = await docker(manager.host, ['info']);
    assert.equal(r.code, 0, describeResult('docker info', r));
    assert.match(r.stdout, /Role: primary/);
    assert.match(r.stdout, /Strategy: spread/);
    assert.match(r.stdout, /Nodes: 3/);
    for (const n of nodes) assert.match(r.stdout, new RegExp(`  ${n.name}: ${n.addr.replace(/\./g, '\\.')}`));
    assert.match(r.stdout, /└ Status: Healthy/);
    assert.match(r.stdout, /└ Reserved Memory: 0 B \/ /);
    assert.match(r.stdout, /└ Labels: .*zone=a/);
  });

  it('spread places 6 containers 2/2/2', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const c = await create(manager, {});
      assert.equal(c.status, 201, c.message);
      counts.set(c.node!, (counts.get(c.node!) ?? 0) + 1);
    }
    assert.deepEqual([...counts.values()], [2, 2, 2], JSON.stringify([...counts]));
    await removeAll(manager);
  });

  it('binpack fills one node first within its memory', async () => {
    const binpack = await startManager(dir, 'binpack', ['--strategy', 'binpack', '--engine-refresh-interval', '1s', etcd.url('clustertest')]);
    managers.push(binpack);
    await waitFor('binpack manager sees 3 nodes', async () => ((await healthyNodes(binpack)).length === 3 ? true : undefined));
    const info = (await binpack.api('GET', '/info')).json as { MemTotal: number };
    const perNode = info.MemTotal / 3;
    const memory = Math.floor(perNode * 0.4);
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await create(binpack, { HostConfig: { Memory: memory } });
      assert.equal(c.status, 201, c.message);
      placed.push(c.node!);
    }
    // Two 40% reservations fit one node; the third needs another.
    assert.equal(placed[0], placed[1]);
    assert.notEqual(placed[2], placed[0]);
    await removeAll(binpack);
    await binpack.stop();
  });

  it('constraints decide the node, by name and by label; a malformed one is a 400', async () => {
    const byName = await create(manager, { Env: ['constraint:node==node3'] });
    assert.equal(byName.node, 'node3');
    const byLabel = await create(manager, { Env: ['constraint:zone==b'] });
    assert.equal(byLabel.node, 'node2');
    const inspect = await manager.api('GET', `/containers/${byLabel.id}/json`);
    const env = (inspect.json as { Config: { Env: string[] } }).Config.Env;
    assert.ok(!env.some((e) => e.startsWith('constraint:')), `hint reached the node: ${env.join(' ')}`);
    const bad = await create(manager, { Env: ['constraint:zone=~'] });
    assert.equal(bad.status, 400, bad.message);
    assert.match(bad.message!, /constraint/);
    const nowhere = await create(manager, { Env: ['constraint:zone==z'] });
    assert.equal(nowhere.status, 409);
    for (const n of NODES) assert.match(nowhere.message!, new RegExp(`${n}: constraint`));
    await removeAll(manager);
  });

  it('affinity and dependency put a container next to another', async () => {
    const anchor = await create(manager, { Env: ['constraint:node==node2'] }, 'anchor');
    assert.equal(anchor.node, 'node2');
    const friend = await create(manager, { Env: ['affinity:container==anchor'] });
    assert.equal(friend.node, 'node2');
    const dependent = await create(manager, { HostConfig: { VolumesFrom: ['anchor'] } });
    assert.equal(dependent.node, 'node2');
    await removeAll(manager);
  });

  it('the port filter keeps a used host port off a node', async () => {
    const first = await create(manager, { ExposedPorts: { '80/tcp': {} }, HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '39401' }] } }, Env: ['constraint:node==node1'] });
    assert.equal(first.node, 'node1');
    const second = await create(manager, { ExposedPorts: { '80/tcp': {} }, HostConfig: { PortBindings: { '80/tcp': [{ HostPort: '39401' }] } }, Env: ['constraint:node!=node3'] });
    assert.equal(second.status, 201, second.message);
    assert.equal(second.node, 'node2');
    await removeAll(manager);
  });

  it('the docker CLI runs, lists, inspects, logs, execs and removes containers on the cluster', async () => {
    const ran = await docker(manager.host, ['run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo hello-from-cluster; sleep 600']);
    assert.equal(ran.code, 0, describeResult('docker run -d', ran));
    const ps = await docker(manager.host, ['ps', '--format', '{{.Names}}']);
    assert.equal(ps.code, 0, describeResult('docker ps', ps));
    assert.match(ps.stdout, /^node\d\/web$/m);
    const nodeName = /^(node\d)\/web$/m.exec(ps.stdout)![1]!;
    const inspect = await docker(manager.host, ['inspect', '--format', '{{.State.Running}} {{.Node.Name}}', 'web']);
    assert.equal(inspect.stdout.trim(), `true ${nodeName}`, describeResult('docker inspect', inspect));
    const logs = await waitFor('logs', async () => {
      const r = await docker(manager.host, ['logs', `${nodeName}/web`]);
      return r.stdout.includes('hello-from-cluster') ? r : undefined;
    });
    assert.equal(logs.code, 0);
    const exec = await docker(manager.host, ['exec', 'web', 'sh', '-c', 'echo exec-$((1+2))']);
    assert.equal(exec.stdout.trim(), 'exec-3', describeResult('docker exec', exec));
    const local = await nodes.find((n) => n.name === nodeName)!.daemon.docker(['ps', '--format', '{{.Names}}']);
    assert.match(local.stdout, /^web$/m);
    const rm = await docker(manager.host, ['rm', '-f', 'web']);
    assert.equal(rm.code, 0, describeResult('docker rm -f', rm));
    const after = await docker(manager.host, ['ps', '-a', '--format', '{{.Names}}']);
    assert.doesNotMatch(after.stdout, /web/);
  });

  it('images are listed once across nodes; unknown endpoints say what is unsupported', async () => {
    // Each node imported busybox itself, so IDs may differ per node; one row per distinct ID.
    const ids = new Set<string>();
    for (const n of nodes) for (const i of (await n.daemon.api('GET', '/images/json')).json as { Id: string }[]) ids.add(i.Id);
    const images = await docker(manager.host, ['images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}']);
    assert.equal(images.code, 0, describeResult('docker images', images));
    const rows = images.stdout.trim().split('\n');
    assert.equal(rows.length, ids.size, images.stdout);
    assert.ok(rows.every((r) => r.endsWith(' busybox:latest')), images.stdout);
    const r = await manager.api('GET', '/networks');
    assert.equal(r.status, 501);
    assert.match(r.text, /does not support GET \/networks/);
    const missing = await manager.api('GET', '/containers/nope/json');
    assert.equal(missing.status, 404);
  });

  it("a node whose berthd dies is unhealthy at once, leaves after its lease's TTL, and new containers avoid it", async () => {
    const victim = nodes[2]!;
    await victim.daemon.kill9();
    // The agent stops heart-beating when its engine is down: the entry expires after the TTL.
    victim.registration!.suspend();
    await waitFor('node3 unhealthy or gone', async () => (!(await healthyNodes(manager)).includes('node3') ? true : undefined), 15_000);
    const placed = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const c = await create(manager, {});
      assert.equal(c.status, 201, c.message);
      placed.add(c.node!);
    }
    assert.ok(!placed.has('node3'));
    await waitFor('node3 removed after the TTL', async () => {
      const s = await status(manager);
      return s.some(([k, v]) => k === 'Nodes' && v === '2') ? true : undefined;
    }, (TTL + 10) * 1000);
    await removeAll(manager);
    await victim.daemon.start();
    await victim.registration!.update(victim.entry);
    await waitFor('node3 back', async () => ((await healthyNodes(manager)).includes('node3') ? true : undefined), 20_000);
  });

  it('unreachable etcd: a manager still starts, answers 503 naming the problem, logs the error and keeps retrying', async () => {
    const port = await freePort();
    const lonely = await startManager(dir, 'noetcd', [`etcd://127.0.0.1:${port}/nothing`]);
    managers.push(lonely);
    const r = await lonely.api('GET', '/containers/json');
    assert.equal(r.status, 503);
    assert.match(r.text, /no healthy node/);
    await sleep(1_500);
    assert.match(lonely.log(), /discovery|etcd/i);
    assert.equal((await lonely.api('GET', '/_ping')).status, 200);
    await lonely.stop();
  });

  it('replication: the backup forwards to the primary and takes over when it dies', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const url = etcd.url('clustertest');
    const first = await startManager(dir, 'ha1', ['--replication', '--replication-ttl', '2s', '--advertise', `127.0.0.1:${p1}`, url], `tcp://127.0.0.1:${p1}`);
    managers.push(first);
    await waitFor('first is primary', async () => ((await status(first)).some(([k, v]) => k === 'Role' && v === 'primary') ? true : undefined));
    const second = await startManager(dir, 'ha2', ['--replication', '--replication-ttl', '2s', '--advertise', `127.0.0.1:${p2}`, url], `tcp://127.0.0.1:${p2}`);
    managers.push(second);
    await waitFor('second is a replica of first', async () => {
      const s = await status(second);
      return s.some(([k, v]) => k === 'Role' && v === 'replica') && s.some(([k, v]) => k === 'Primary' && v === `127.0.0.1:${p1}`) ? true : undefined;
    });
    const viaBackup = await docker(second.host, ['run', '-d', '--name', 'ha-web', 'busybox', 'sleep', '600']);
    assert.equal(viaBackup.code, 0, describeResult('docker run via backup', viaBackup));
    await first.kill9();
    const t0 = Date.now();
    await waitFor('second becomes primary', async () => ((await status(second)).some(([k, v]) => k === 'Role' && v === 'primary') ? true : undefined), 20_000);
    const took = Date.now() - t0;
    assert.ok(took < 10_000, `failover took ${took} ms`);
    const ps = await docker(second.host, ['ps', '--format', '{{.Names}}']);
    assert.match(ps.stdout, /\/ha-web$/m, describeResult('docker ps after failover', ps));
    const rm = await docker(second.host, ['rm', '-f', 'ha-web']);
    assert.equal(rm.code, 0, describeResult('docker rm after failover', rm));
    await hostRequest(second.host, 'GET', '/_ping');
  });
});
