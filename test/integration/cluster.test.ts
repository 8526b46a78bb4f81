/**
 * The cluster manager without TLS, on loopback: two berthd nodes on loopback TCP that the test
 * registers in a single-member etcd itself (as an agent would, through the discovery API), and
 * a `berth swarm manage` on a unix socket. What only this plain setup covers: a manager without
 * TLS, images listed once across nodes, what the manager does not support, and a manager whose
 * etcd is unreachable. Placement, filters, node loss, failover and the docker CLI over TLS are
 * in cluster-machines.test.ts (netns machines, agents, TLS managers).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { startEtcd, freePort, type TestEtcd } from '../helpers/etcd.js';
import { healthyNodes, startManager, type TestManager } from '../helpers/manager.js';
import { dockerBin } from '../helpers/paths.js';
import { run, sleep, describeResult } from '../helpers/exec.js';
import { openDiscovery } from '../../src/cluster/discovery/index.js';
import type { Discovery, NodeEntry, Registration } from '../../src/cluster/types.js';

const TTL = 3;
const NODES = ['node1', 'node2'];
const ZONES = ['a', 'b'];

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

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cluster-'));
  etcd = await startEtcd();
  discovery = openDiscovery(etcd.url('clustertest'));
  for (const [i, name] of NODES.entries()) {
    const port = await freePort();
    const daemon = await startDaemon({ args: ['-H', `tcp://127.0.0.1:${port}`] });
    await importBusybox(daemon);
    const addr = `127.0.0.1:${port}`;
    // Registered as an agent would, with a name of its own: these engines share one host name.
    const entry: NodeEntry = { addr, name, labels: { zone: ZONES[i]! }, healthy: true };
    nodes.push({ name, daemon, addr, entry, registration: await discovery.register(entry, TTL) });
  }
  manager = await startManager(dir, 'spread', ['--engine-refresh-interval', '1s', etcd.url('clustertest')]);
  managers.push(manager);
  await waitFor('two healthy nodes', async () => ((await healthyNodes(manager)).length === 2 ? true : undefined));
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
    assert.match(r.stdout, /Nodes: 2/);
    for (const n of nodes) assert.match(r.stdout, new RegExp(`  ${n.name}: ${n.addr.replace(/\./g, '\\.')}`));
    assert.match(r.stdout, /└ Status: Healthy/);
    assert.match(r.stdout, /└ Reserved Memory: 0 B \/ /);
    assert.match(r.stdout, /└ Labels: .*zone=a/);
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
});
