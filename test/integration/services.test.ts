/**
 * Swarm-mode services end to end: three berthd nodes (loopback TCP) registered in a real etcd
 * under a short lease, a `berth swarm manage` in front reconciling services, the real docker
 * CLI and berth's CLI against it. Placement, node loss, rolling updates, rollback, drain, bad
 * input and an etcd outage.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { startEtcd, freePort, type TestEtcd } from '../helpers/etcd.js';
import { startManager, type TestManager } from '../helpers/manager.js';
import { berthBin, dockerBin } from '../helpers/paths.js';
import { run, sleep, describeResult } from '../helpers/exec.js';
import { openDiscovery } from '../../src/cluster/discovery/index.js';
import type { Discovery, NodeEntry, Registration } from '../../src/cluster/types.js';
import type { Service, SwarmNode, Task } from '../../src/cluster/services/types.js';

const TTL = 3;
const RECONCILE_S = 1;
const NODES = ['node1', 'node2', 'node3'];

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
let manager: TestManager;

const env = () => ({ ...process.env, DOCKER_HOST: manager.host, BERTH_HOST: manager.host, DOCKER_CLI_HINTS: 'false', DOCKER_CONFIG: join(dir, 'docker-config') });
const docker = (args: string[], timeoutMs = 90_000) => run(dockerBin, args, { env: env(), timeoutMs });
const berth = (args: string[], timeoutMs = 90_000) => run(berthBin, args, { env: env(), timeoutMs });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- manager log ---\n${manager.log().split('\n').slice(-40).join('\n')}`);
    await sleep(200);
  }
}

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await manager.api(method, path, body);
  if (r.status >= 300) throw new Error(`${method} ${path} -> ${r.status}: ${r.text}`);
  return r.json as T;
}

const q = (filters: Record<string, string[]>) => `filters=${encodeURIComponent(JSON.stringify(filters))}`;

async function tasksOf(service: string): Promise<Task[]> {
  return json<Task[]>('GET', `/tasks?${q({ service: [service] })}`);
}

async function nodeNames(): Promise<Map<string, string>> {
  const list = await json<SwarmNode[]>('GET', '/nodes');
  return new Map(list.map((n) => [n.ID, n.Description.Hostname]));
}

/** Ground truth from the engines themselves: running task containers of a service, per node. */
async function runningContainers(serviceId: string, only = nodes): Promise<Map<string, { image: string; env: string[] }[]>> {
  const out = new Map<string, { image: string; env: string[] }[]>();
  await Promise.all(
    only.map(async (n) => {
      const r = await n.daemon.api('GET', `/containers/json?${q({ label: [`com.docker.swarm.service.id=${serviceId}`], status: ['running'] })}`).catch(() => undefined);
      if (r?.status !== 200) return;
      out.set(n.name, (r.json as { Image: string; Labels: Record<string, string> }[]).map((c) => ({ image: c.Image, env: [] })));
    }),
  );
  return out;
}

const total = (m: Map<string, unknown[]>) => [...m.values()].reduce((s, l) => s + l.length, 0);

async function createService(spec: Record<string, unknown>): Promise<string> {
  const r = await manager.api('POST', '/services/create', spec);
  assert.equal(r.status, 201, r.text);
  return (r.json as { ID: string }).ID;
}

function spec(name: string, replicas: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '600'], StopGracePeriod: 1e9 }, RestartPolicy: { Condition: 'any', Delay: 1e9 } },
    Mode: { Replicated: { Replicas: replicas } },
    ...extra,
  };
}

async function removeService(id: string): Promise<void> {
  await manager.api('DELETE', `/services/${id}`);
  await waitFor(`containers of ${id} gone`, async () => (total(await runningContainers(id)) === 0 ? true : undefined), 60_000);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-services-'));
  etcd = await startEtcd();
  discovery = openDiscovery(etcd.url('svctest'));
  for (const name of NODES) {
    const port = await freePort();
    const daemon = await startDaemon({ args: ['-H', `tcp://127.0.0.1:${port}`] });
    await importBusybox(daemon);
    const addr = `127.0.0.1:${port}`;
    // Registered as an agent would, with names of their own: these engines share one host name.
    const entry: NodeEntry = { addr, name, labels: { zone: name === 'node1' ? 'a' : 'b' }, healthy: true };
    nodes.push({ name, daemon, addr, entry, registration: await discovery.register(entry, TTL) });
  }
  manager = await startManager(dir, 'svc', ['--engine-refresh-interval', '1s', '--reconcile-interval', `${RECONCILE_S}s`, etcd.url('svctest')]);
  await waitFor('three ready nodes', async () => {
    const list = await json<SwarmNode[]>('GET', '/nodes');
    return list.filter((n) => n.Status.State === 'ready').length === 3 ? true : undefined;
  });
});

after(async () => {
  const problems: string[] = [];
  await manager?.stop().catch((e: Error) => problems.push(e.message));
  for (const n of nodes) await n.registration?.stop().catch(() => undefined);
  await discovery?.close().catch(() => undefined);
  for (const n of nodes) await n.daemon.stop().catch((e: Error) => problems.push(e.message));
  await etcd?.stop().catch((e: Error) => problems.push(e.message));
  rmSync(dir, { recursive: true, force: true });
  if (problems.length) throw new Error(problems.join('\n'));
});

describe('services', () => {
  it('a 6-replica service spreads 2/2/2 over 3 nodes, and the task records say where', async () => {
    const id = await createService(spec('web', 6));
    const placed = await waitFor('6 running', async () => {
      const m = await runningContainers(id);
      return total(m) === 6 ? m : undefined;
    });
    assert.deepEqual(NODES.map((n) => placed.get(n)?.length ?? 0), [2, 2, 2]);
    const names = await nodeNames();
    const running = (await tasksOf(id)).filter((t) => t.DesiredState === 'running');
    await waitFor('tasks recorded running', async () => ((await tasksOf(id)).filter((t) => t.Status.State === 'running').length === 6 ? true : undefined));
    const perNode = new Map<string, number>();
    for (const t of running) perNode.set(names.get(t.NodeID!)!, (perNode.get(names.get(t.NodeID!)!) ?? 0) + 1);
    assert.deepEqual([...perNode.values()], [2, 2, 2]);
    const svc = await json<Service>('GET', `/services/${id}`);
    assert.ok(svc.Version.Index > 0);
    // An update with a stale version is refused as docker refuses it.
    const stale = await manager.api('POST', `/services/${id}/update?version=${svc.Version.Index - 1}`, svc.Spec);
    assert.ok(stale.status === 500 || stale.status === 409, stale.text);
    assert.match(stale.text, /update out of sequence/);
    await removeService(id);
  });

  it('the real docker CLI: service create, ls, ps, inspect, scale, logs, rm and node ls', async () => {
    const created = await docker(['service', 'create', '--name', 'cli', '--replicas', '2', '--stop-grace-period', '1s', 'busybox', 'sh', '-c', 'echo hello-from-task; exec sleep 600']);
    assert.equal(created.code, 0, describeResult('docker service create', created));
    assert.match(created.stdout + created.stderr, /verify: Service converged|converged/);
    const ls = await docker(['service', 'ls']);
    assert.equal(ls.code, 0, describeResult('docker service ls', ls));
    assert.match(ls.stdout, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS/m);
    assert.match(ls.stdout, /\bcli\s+replicated\s+2\/2\s+busybox/);
    const ps = await docker(['service', 'ps', 'cli']);
    assert.equal(ps.code, 0, describeResult('docker service ps', ps));
    assert.match(ps.stdout, /cli\.1\s+busybox(:latest)?\s+node\d\s+Running\s+Running/);
    assert.match(ps.stdout, /cli\.2\s+/);
    const inspect = await docker(['service', 'inspect', '--format', '{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}}', 'cli']);
    assert.equal(inspect.stdout.trim(), 'cli 2', describeResult('docker service inspect', inspect));
    const scaled = await docker(['service', 'scale', 'cli=4']);
    assert.equal(scaled.code, 0, describeResult('docker service scale', scaled));
    const svc = await json<Service>('GET', '/services/cli');
    await waitFor('4 running', async () => (total(await runningContainers(svc.ID)) === 4 ? true : undefined));
    const logs = await waitFor('service logs', async () => {
      const r = await docker(['service', 'logs', 'cli']);
      return r.code === 0 && (r.stdout.match(/hello-from-task/g) ?? []).length >= 4 ? r : undefined;
    });
    assert.match(logs.stdout, /^cli\.\d\.[a-z0-9]+@node\d\s+\| hello-from-task$/m);
    const updated = await docker(['service', 'update', '--env-add', 'STAGE=2', '--update-parallelism', '2', '--update-monitor', '1s', 'cli']);
    assert.equal(updated.code, 0, describeResult('docker service update', updated));
    let now = await json<Service>('GET', '/services/cli');
    assert.equal(now.UpdateStatus?.State, 'completed');
    assert.deepEqual(now.Spec.TaskTemplate.ContainerSpec.Env, ['STAGE=2']);
    const rolled = await docker(['service', 'rollback', 'cli']);
    assert.equal(rolled.code, 0, describeResult('docker service rollback', rolled));
    now = await json<Service>('GET', '/services/cli');
    assert.equal(now.UpdateStatus?.State, 'rollback_completed');
    assert.equal(now.Spec.TaskTemplate.ContainerSpec.Env, undefined);
    const nodeLs = await docker(['node', 'ls']);
    assert.equal(nodeLs.code, 0, describeResult('docker node ls', nodeLs));
    for (const n of NODES) assert.match(nodeLs.stdout, new RegExp(`\\b${n}\\s+Ready\\s+Active`));
    const rm = await docker(['service', 'rm', 'cli']);
    assert.equal(rm.code, 0, describeResult('docker service rm', rm));
    await waitFor('cli containers gone', async () => (total(await runningContainers(svc.ID)) === 0 ? true : undefined));
    const lsAfter = await docker(['service', 'ls', '-q']);
    assert.equal(lsAfter.stdout.trim(), '');
  });

  it("berth's CLI: service create/ls/ps/update/rollback/rm and node inspect", async () => {
    const created = await berth(['service', 'create', '--name', 'bcli', '--replicas', '3', '-e', 'A=1', '-l', 'tier=web', '--stop-grace-period', '1s', '--update-parallelism', '3', '--update-monitor', '1s', 'busybox', 'sleep', '600']);
    assert.equal(created.code, 0, describeResult('berth service create', created));
    assert.match(created.stdout, /verify: Service converged/);
    const ls = await berth(['service', 'ls']);
    assert.match(ls.stdout, /\bbcli\s+replicated\s+3\/3\s+busybox/, ls.stdout);
    const updated = await berth(['service', 'update', '--env-add', 'B=2', 'bcli']);
    assert.equal(updated.code, 0, describeResult('berth service update', updated));
    let svc = await json<Service>('GET', '/services/bcli');
    assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec.Env, ['A=1', 'B=2']);
    assert.equal(svc.UpdateStatus?.State, 'completed');
    const ps = await berth(['service', 'ps', 'bcli']);
    assert.match(ps.stdout, / \\_ bcli\.\d/, ps.stdout);
    assert.match(ps.stdout, /Shutdown/);
    const rolled = await berth(['service', 'rollback', 'bcli']);
    assert.equal(rolled.code, 0, describeResult('berth service rollback', rolled));
    svc = await json<Service>('GET', '/services/bcli');
    assert.deepEqual(svc.Spec.TaskTemplate.ContainerSpec.Env, ['A=1']);
    const inspect = await berth(['node', 'inspect', '--format', '{{.Description.Hostname}} {{.Status.State}}', 'node2']);
    assert.equal(inspect.stdout.trim(), 'node2 ready', describeResult('berth node inspect', inspect));
    assert.equal((await berth(['service', 'rm', 'bcli'])).code, 0);
    await waitFor('bcli gone', async () => (total(await runningContainers(svc.ID)) === 0 ? true : undefined));
  });

  it('a rolling update of 6 replicas with parallelism 2 never has fewer than 4 running', async (t) => {
    const id = await createService(spec('roll', 6, { UpdateConfig: { Parallelism: 2, Delay: 0, Monitor: 1e9, FailureAction: 'pause', Order: 'stop-first' } }));
    await waitFor('6 running', async () => (total(await runningContainers(id)) === 6 ? true : undefined));
    await waitFor('6 recorded running', async () => ((await tasksOf(id)).filter((t) => t.Status.State === 'running').length === 6 ? true : undefined));
    const svc = await json<Service>('GET', `/services/${id}`);
    const next = structuredClone(svc.Spec);
    next.TaskTemplate.ContainerSpec.Env = ['VERSION=2'];
    await json('POST', `/services/${id}/update?version=${svc.Version.Index}`, next);
    let min = 6;
    let samples = 0;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const m = await runningContainers(id);
      min = Math.min(min, total(m));
      samples++;
      if (samples % 5 === 0) {
        const now = await json<Service>('GET', `/services/${id}`);
        if (now.UpdateStatus?.State === 'completed') break;
        assert.notEqual(now.UpdateStatus?.State, 'paused', now.UpdateStatus?.Message);
      }
      assert.ok(Date.now() < deadline, 'update did not complete in 120 s');
      await sleep(20);
    }
    assert.ok(samples > 10, `only ${samples} samples`);
    t.diagnostic(`rolling update: ${samples} samples, at least ${min} of 6 running`);
    assert.ok(min >= 4, `fewer than 4 running during the update: ${min}`);
    assert.ok(min < 6, 'stop-first with parallelism 2 should dip below 6 while tasks are replaced (was the update sampled?)');
    const tasks = (await tasksOf(id)).filter((t) => t.DesiredState === 'running');
    assert.equal(tasks.length, 6);
    assert.ok(tasks.every((t) => t.Spec.ContainerSpec.Env?.includes('VERSION=2')));
    await removeService(id);
  });

  it('an update to a missing image fails its tasks and rolls back', async () => {
    const id = await createService(spec('bad', 3, { UpdateConfig: { Parallelism: 1, Monitor: 1e9, FailureAction: 'rollback' } }));
    await waitFor('3 running', async () => ((await tasksOf(id)).filter((t) => t.Status.State === 'running').length === 3 ? true : undefined));
    const svc = await json<Service>('GET', `/services/${id}`);
    const next = structuredClone(svc.Spec);
    // A registry on loopback port 1: the pull fails at once, without leaving this host.
    next.TaskTemplate.ContainerSpec.Image = '127.0.0.1:1/missing:1';
    await json('POST', `/services/${id}/update?version=${svc.Version.Index}`, next);
    const done = await waitFor('rollback completed', async () => {
      const s = await json<Service>('GET', `/services/${id}`);
      return s.UpdateStatus?.State === 'rollback_completed' ? s : undefined;
    }, 90_000);
    assert.match(done.UpdateStatus!.Message ?? '', /rollback/);
    assert.equal(done.Spec.TaskTemplate.ContainerSpec.Image, 'busybox');
    const tasks = await tasksOf(id);
    const rejected = tasks.find((t) => t.Spec.ContainerSpec.Image === '127.0.0.1:1/missing:1' && t.Status.State === 'rejected');
    assert.ok(rejected, `a task of the missing image was tried and rejected: ${JSON.stringify(tasks.map((t) => [t.Spec.ContainerSpec.Image, t.Status]))}`);
    assert.match(rejected.Status.Err ?? '', /No such image: 127\.0\.0\.1:1\/missing:1/);
    await waitFor('3 busybox tasks running', async () => {
      const live = (await tasksOf(id)).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
      return live.length === 3 && live.every((t) => t.Spec.ContainerSpec.Image === 'busybox') ? true : undefined;
    });
    await removeService(id);
  });

  it('drain moves tasks off a node; active brings it back for new tasks', async () => {
    const id = await createService(spec('drainme', 6));
    await waitFor('6 running', async () => (total(await runningContainers(id)) === 6 ? true : undefined));
    const node2 = (await json<SwarmNode[]>('GET', '/nodes')).find((n) => n.Description.Hostname === 'node2')!;
    const drained = await docker(['node', 'update', '--availability', 'drain', 'node2']);
    assert.equal(drained.code, 0, describeResult('docker node update --availability drain', drained));
    const after = await waitFor('no tasks on node2, 6 elsewhere', async () => {
      const m = await runningContainers(id);
      return (m.get('node2')?.length ?? 0) === 0 && total(m) === 6 ? m : undefined;
    });
    assert.equal((after.get('node1')?.length ?? 0) + (after.get('node3')?.length ?? 0), 6);
    const inspected = await json<SwarmNode>('GET', `/nodes/${node2.ID}`);
    assert.equal(inspected.Spec.Availability, 'drain');
    const active = await berth(['node', 'update', '--availability', 'active', '--label-add', 'disk=ssd', 'node2']);
    assert.equal(active.code, 0, describeResult('berth node update', active));
    await removeService(id);
    // The label now decides placement.
    const pinned = await createService(spec('pinned', 2, { TaskTemplate: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '600'], StopGracePeriod: 1e9 }, Placement: { Constraints: ['node.labels.disk==ssd'] } } }));
    const m = await waitFor('2 on node2', async () => {
      const x = await runningContainers(pinned);
      return total(x) === 2 ? x : undefined;
    });
    assert.equal(m.get('node2')?.length, 2);
    await removeService(pinned);
  });

  it('bad input: impossible constraints stay pending with the reason; conflicting published ports are refused', async () => {
    const id = await createService(spec('nowhere', 1, { TaskTemplate: { ContainerSpec: { Image: 'busybox', Args: ['sleep', '600'] }, Placement: { Constraints: ['node.labels.zone==mars'] } } }));
    const pending = await waitFor('a pending task with a reason', async () => {
      const [t] = await tasksOf(id);
      return t?.Status.State === 'pending' && t.Status.Err ? t : undefined;
    });
    assert.match(pending.Status.Err!, /no suitable node/);
    const ps = await docker(['service', 'ps', '--no-trunc', 'nowhere']);
    assert.match(ps.stdout, /Pending.*no suitable node/);
    await removeService(id);

    const web = await createService(spec('port-a', 1, { EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 38080, Protocol: 'tcp' }] } }));
    const clash = await manager.api('POST', '/services/create', spec('port-b', 1, { EndpointSpec: { Ports: [{ TargetPort: 81, PublishedPort: 38080 }] } }));
    assert.equal(clash.status, 409, clash.text);
    assert.match(clash.text, /port '38080' is already in use by service 'port-a'/);
    const cli = await docker(['service', 'create', '-d', '--name', 'port-c', '-p', '38080:80', 'busybox', 'sleep', '600']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /already in use/);
    const dup = await manager.api('POST', '/services/create', spec('port-a', 1));
    assert.equal(dup.status, 409, dup.text);
    const badName = await manager.api('POST', '/services/create', spec('bad name', 1));
    assert.equal(badName.status, 400, badName.text);
    // Host-mode publishing: the task's node binds the port.
    await waitFor('port-a running', async () => ((await tasksOf(web)).some((t) => t.Status.State === 'running') ? true : undefined));
    const [t] = (await tasksOf(web)).filter((x) => x.Status.State === 'running');
    const names = await nodeNames();
    const owner = nodes.find((n) => n.name === names.get(t!.NodeID!))!;
    const inspect = await owner.daemon.api('GET', `/containers/${t!.Status.ContainerStatus!.ContainerID}/json`);
    const bindings = (inspect.json as { HostConfig: { PortBindings: Record<string, { HostPort: string }[]> } }).HostConfig.PortBindings;
    assert.equal(bindings['80/tcp']?.[0]?.HostPort, '38080');
    await removeService(web);
  });

  it('etcd unavailable: the reconciler pauses and kills nothing, then catches up', async () => {
    const id = await createService(spec('steady', 3));
    await waitFor('3 running', async () => (total(await runningContainers(id)) === 3 ? true : undefined));
    await etcd.killAll();
    for (let i = 0; i < 8; i++) {
      await sleep(1000);
      assert.equal(total(await runningContainers(id)), 3, 'a task container was stopped while etcd was down');
    }
    const r = await manager.api('GET', '/services');
    assert.equal(r.status, 503, r.text);
    await etcd.startAll();
    // The nodes' leases may have expired meanwhile; they register again.
    for (const n of nodes) await n.registration?.update(n.entry).catch(() => undefined);
    await waitFor('manager answers again', async () => ((await manager.api('GET', '/services')).status === 200 ? true : undefined));
    await waitFor('3 ready nodes again', async () => ((await json<SwarmNode[]>('GET', '/nodes')).filter((n) => n.Status.State === 'ready').length === 3 ? true : undefined));
    const svc = await json<Service>('GET', `/services/${id}`);
    const next = structuredClone(svc.Spec);
    next.Mode = { Replicated: { Replicas: 5 } };
    await json('POST', `/services/${id}/update?version=${svc.Version.Index}`, next);
    await waitFor('5 running after the outage', async () => (total(await runningContainers(id)) === 5 ? true : undefined));
    const all = (await tasksOf(id)).filter((t) => t.DesiredState === 'running');
    assert.equal(all.length, 5, 'no duplicate tasks');
    await removeService(id);
  });

  it('a manager failover in the middle of convergence neither duplicates nor loses tasks', async (t) => {
    // A second cluster on the same engines under its own prefix, with two replicated managers.
    const prefix = 'svcfailover';
    const disc = openDiscovery(etcd.url(prefix));
    const regs: Registration[] = [];
    const managers: TestManager[] = [];
    try {
      for (const n of nodes) regs.push(await disc.register(n.entry, TTL));
      const [p1, p2] = [await freePort(), await freePort()];
      const args = (port: number) => ['--replication', '--replication-ttl', '2s', '--advertise', `127.0.0.1:${port}`, '--engine-refresh-interval', '1s', etcd.url(prefix)];
      const role = async (m: TestManager) => ((await m.api('GET', '/info')).json as { SystemStatus: [string, string][] }).SystemStatus.find(([k]) => k === 'Role')?.[1];
      const first = await startManager(dir, 'fo1', args(p1), `tcp://127.0.0.1:${p1}`);
      managers.push(first);
      await waitFor('first is primary', async () => ((await role(first)) === 'primary' ? true : undefined));
      const second = await startManager(dir, 'fo2', args(p2), `tcp://127.0.0.1:${p2}`);
      managers.push(second);
      await waitFor('second is a replica', async () => ((await role(second)) === 'replica' ? true : undefined));
      await waitFor('first sees 3 ready nodes', async () => (((await first.api('GET', '/nodes')).json as SwarmNode[]).filter((n) => n.Status.State === 'ready').length === 3 ? true : undefined));
      const created = await first.api('POST', '/services/create', spec('failover', 12));
      assert.equal(created.status, 201, created.text);
      const id = (created.json as { ID: string }).ID;
      // Kill the primary as soon as its first containers exist: decisions are half carried out.
      await waitFor('first containers', async () => (total(await runningContainers(id)) > 0 ? true : undefined));
      const seenAtKill = total(await runningContainers(id));
      await first.kill9();
      await waitFor('second takes over', async () => ((await role(second)) === 'primary' ? true : undefined), 30_000);
      await waitFor('12 running after the failover', async () => (total(await runningContainers(id)) === 12 ? true : undefined), 60_000);
      // Several more rounds: nothing extra appears.
      await sleep(3_000);
      const all = await Promise.all(nodes.map(async (n) => (await n.daemon.api('GET', `/containers/json?all=1&${q({ label: [`com.docker.swarm.service.id=${id}`] })}`)).json as { Labels: Record<string, string> }[]));
      const containers = all.flat();
      assert.equal(containers.length, 12, 'exactly one container per task, none left over');
      const slots = containers.map((c) => Number(c.Labels['com.docker.swarm.task.slot'])).sort((a, b) => a - b);
      assert.deepEqual(slots, Array.from({ length: 12 }, (_, i) => i + 1));
      const tasks = (await second.api('GET', `/tasks?${q({ service: [id] })}`)).json as Task[];
      assert.equal(tasks.filter((x) => x.DesiredState === 'running').length, 12);
      t.diagnostic(`primary killed with ${seenAtKill} of 12 containers running; the backup finished with exactly 12`);
      assert.equal((await second.api('DELETE', `/services/${id}`)).status, 200);
      await waitFor('failover containers gone', async () => (total(await runningContainers(id)) === 0 ? true : undefined));
    } finally {
      for (const m of managers) await m.stop().catch(() => undefined);
      for (const r of regs) await r.stop().catch(() => undefined);
      await disc.close().catch(() => undefined);
    }
  });

  it("killing a node's engine reschedules its tasks within the TTL plus a reconcile period", async (t) => {
    const id = await createService(spec('survivor', 6));
    await waitFor('6 running', async () => (total(await runningContainers(id)) === 6 ? true : undefined));
    const victim = nodes[2]!;
    const before = await runningContainers(id);
    assert.equal(before.get(victim.name)?.length, 2, `the victim runs 2 of the 6: ${JSON.stringify([...before].map(([k, v]) => [k, v.length]))}`);
    const killedAt = Date.now();
    await victim.daemon.kill9();
    // The agent stops heart-beating when its engine is down: the entry expires after the TTL.
    victim.registration!.suspend();
    const others = nodes.filter((n) => n !== victim);
    await waitFor('6 running on the two others', async () => (total(await runningContainers(id, others)) === 6 ? true : undefined), 60_000);
    const took = (Date.now() - killedAt) / 1000;
    t.diagnostic(`tasks of the killed node running elsewhere after ${took.toFixed(1)} s (TTL ${TTL} s, reconcile ${RECONCILE_S} s)`);
    // TTL, plus the manager noticing (refresh), a reconcile period and container starts.
    assert.ok(took < TTL + RECONCILE_S + 8, `rescheduling took ${took.toFixed(1)} s`);
    const names = await nodeNames();
    const live = (await tasksOf(id)).filter((t) => t.DesiredState === 'running');
    assert.equal(live.length, 6);
    assert.ok(live.every((t) => names.get(t.NodeID!) !== victim.name));
    // The node comes back: its old task containers (still running under their monitors) are removed.
    await victim.daemon.start();
    await victim.registration!.update(victim.entry);
    await waitFor('old containers on the returning node removed', async () => (total(await runningContainers(id, [victim])) === 0 ? true : undefined), 60_000);
    assert.equal(total(await runningContainers(id)), 6);
    await removeService(id);
  });
});
