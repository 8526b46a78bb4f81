/**
 * Services on netns machines, driven by the real docker CLI: three machines (own bridge bsvm0,
 * 10.231.95.0/24, each berthd behind client-cert TLS on IP:2376), a real 3-member etcd on
 * loopback, one `berth swarm join` agent per node (the store's client cert, a 4 s TTL) and a
 * `berth swarm manage --tlsverify` reconciling services every second (test/helpers/cluster-lab.ts).
 * Counts come from each node's own engine: spread 2/2/2, service ls/ps/scale/rm, drain, a
 * rolling update never below 4 of 6, and a node whose berthd stops having its tasks rescheduled.
 * Traffic goes only to loopback and to the machines' addresses on the test's own bridge.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startClusterLab, waitFor, type ClusterLab } from '../helpers/cluster-lab.js';
import type { MachineNode } from '../helpers/machines.js';
import type { TestManager } from '../helpers/manager.js';
import type { RunResult } from '../helpers/exec.js';
import type { Service, SwarmNode, Task } from '../../src/cluster/services/types.js';

const TTL = 4;
const RECONCILE_S = 1;
const PREFIX = 'svm';
const NAMES = [1, 2, 3].map((i) => `${PREFIX}-${i}`);

let lab: ClusterLab | undefined;
let manager: TestManager;
let nodes: MachineNode[] = [];

const docker = (args: string[]): Promise<RunResult> => lab!.docker(manager, args, undefined, 90_000);
const ok = async (what: string, args: string[]): Promise<string> => lab!.expectDocker(manager, what, await docker(args));
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> =>
  waitFor(what, probe, timeoutMs, () => `--- manager log ---\n${manager.log().split('\n').slice(-30).join('\n')}`);

/** Ground truth from each node's own engine: running containers of a service, in node order. */
async function perNode(service: string, only = nodes): Promise<number[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${service}`], status: ['running'] }));
  return Promise.all(
    only.map(async (n) => {
      const r = await n.api('GET', `/containers/json?filters=${filters}`, undefined, { timeoutMs: 5_000 });
      if (r.status !== 200) throw new Error(`${n.name}: ${r.status} ${r.text}`);
      return (r.json as unknown[]).length;
    }),
  );
}

const sum = (l: number[]): number => l.reduce((a, b) => a + b, 0);
const sameAs = (want: number[]) => async (l: number[]) => (JSON.stringify(l) === JSON.stringify(want) ? l : undefined);

/** Waits until the service's running containers per node satisfy `check` (which returns them, or undefined). */
async function untilCounts(what: string, service: string, check: (counts: number[]) => Promise<number[] | undefined>, timeoutMs = 30_000): Promise<number[]> {
  let last: number[] = [];
  return until(what, async () => check((last = await perNode(service))), timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\nlast counts per node: ${JSON.stringify(last)}`);
  });
}

async function serviceRecord(name: string): Promise<Service> {
  const r = await manager.api('GET', `/services/${name}`);
  if (r.status !== 200) throw new Error(`GET /services/${name} -> ${r.status}: ${r.text}`);
  return r.json as Service;
}

async function removeService(name: string): Promise<void> {
  await ok(`docker service rm ${name}`, ['service', 'rm', name]);
  await untilCounts(`${name}'s containers gone`, name, sameAs([0, 0, 0]));
}

before(async () => {
  lab = await startClusterLab({ bridge: 'bsvm0', subnet: '10.231.95.0/24', namePrefix: PREFIX, ttl: TTL, discoveryPrefix: `svm${process.pid}` });
  nodes = lab.nodes;
  manager = await lab.startManager('svc', ['--reconcile-interval', `${RECONCILE_S}s`]);
  await until('three ready nodes', async () => {
    const list = (await manager.api('GET', '/nodes')).json as SwarmNode[];
    return list.filter((n) => n.Status.State === 'ready').length === 3 ? true : undefined;
  });
});

after(async () => {
  assert.deepEqual((await lab?.stop()) ?? [], [], 'cleanup left things behind');
});

describe('services on netns machines', { timeout: 300_000 }, () => {
  it('docker service create --replicas 6 spreads 2/2/2; service ls, ps, scale and rm', async () => {
    await ok('docker service create', ['service', 'create', '-d', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', 'busybox', 'sleep', '600']);
    await untilCounts('2/2/2 on the engines', 'web', sameAs([2, 2, 2]));
    const ls = await until('service ls says 6/6', async () => {
      const out = await ok('docker service ls', ['service', 'ls']);
      return /\bweb\s+replicated\s+6\/6\s+busybox/.test(out) ? out : undefined;
    });
    assert.match(ls, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS/m);
    const ps = await ok('docker service ps', ['service', 'ps', '--format', '{{.Name}} {{.Node}} {{.DesiredState}} {{.CurrentState}}', 'web']);
    const rows = ps.trim().split('\n');
    assert.equal(rows.length, 6, ps);
    for (const row of rows) assert.match(row, new RegExp(`^web\\.[1-6] ${PREFIX}-[123] Running Running`), ps);
    for (const name of NAMES) assert.equal(rows.filter((r) => r.split(' ')[1] === name).length, 2, ps);

    await ok('docker service scale', ['service', 'scale', '-d', 'web=9']);
    await untilCounts('3/3/3 after scaling to 9', 'web', sameAs([3, 3, 3]));
    await ok('docker service scale down', ['service', 'scale', '-d', 'web=3']);
    const down = await untilCounts('3 after scaling down', 'web', async (l) => (sum(l) === 3 ? l : undefined));
    assert.ok(down.every((c) => c <= 2), JSON.stringify(down));
    await removeService('web');
    assert.equal((await ok('docker service ls -q', ['service', 'ls', '-q'])).trim(), '');
  });

  it('docker node update --availability drain moves tasks off a node', async () => {
    await ok('docker service create', ['service', 'create', '-d', '--name', 'drainer', '--replicas', '6', '--stop-grace-period', '1s', 'busybox', 'sleep', '600']);
    await untilCounts('2/2/2', 'drainer', sameAs([2, 2, 2]));
    await ok('docker node update drain', ['node', 'update', '--availability', 'drain', NAMES[1]!]);
    await untilCounts(`nothing on ${NAMES[1]}, 3 and 3 on the others`, 'drainer', sameAs([3, 0, 3]));
    assert.match(await ok('docker node ls', ['node', 'ls']), new RegExp(`\\b${NAMES[1]}\\s+Ready\\s+Drain`));
    const ps = await ok('docker service ps', ['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}}', 'drainer']);
    assert.doesNotMatch(ps, new RegExp(`^${NAMES[1]}$`, 'm'), ps);
    await ok('docker node update active', ['node', 'update', '--availability', 'active', NAMES[1]!]);
    assert.match(await ok('docker node ls', ['node', 'ls']), new RegExp(`\\b${NAMES[1]}\\s+Ready\\s+Active`));
    await removeService('drainer');
  });

  it('a rolling update of 6 replicas with --update-parallelism 2 never has fewer than 4 running', async (t) => {
    await ok('docker service create', [
      'service', 'create', '-d', '--name', 'roll', '--replicas', '6', '--stop-grace-period', '1s',
      '--update-parallelism', '2', '--update-delay', '0s', '--update-monitor', '1s', '--update-order', 'stop-first', '--update-failure-action', 'pause',
      'busybox', 'sleep', '600',
    ]);
    await untilCounts('6 running', 'roll', sameAs([2, 2, 2]));
    await until('6 tasks recorded running', async () => {
      const tasks = (await manager.api('GET', `/tasks?filters=${encodeURIComponent(JSON.stringify({ service: ['roll'] }))}`)).json as Task[];
      return tasks.filter((x) => x.Status.State === 'running').length === 6 ? true : undefined;
    });
    await ok('docker service update', ['service', 'update', '-d', '--env-add', 'VERSION=2', 'roll']);
    let min = 6;
    let samples = 0;
    const deadline = Date.now() + 60_000;
    for (;;) {
      min = Math.min(min, sum(await perNode('roll')));
      samples++;
      if (samples % 5 === 0) {
        const svc = await serviceRecord('roll');
        if (svc.UpdateStatus?.State === 'completed') break;
        assert.notEqual(svc.UpdateStatus?.State, 'paused', svc.UpdateStatus?.Message);
      }
      assert.ok(Date.now() < deadline, `the update did not complete in 60 s (${samples} samples)`);
    }
    t.diagnostic(`rolling update: ${samples} samples, at least ${min} of 6 running`);
    assert.ok(samples > 10, `only ${samples} samples`);
    assert.ok(min >= 4, `fewer than 4 running during the update: ${min}`);
    assert.ok(min < 6, 'stop-first with parallelism 2 should dip below 6 while tasks are replaced (was the update sampled?)');
    // Every running container on the engines is of the new spec.
    for (const n of nodes) {
      const filters = encodeURIComponent(JSON.stringify({ label: ['com.docker.swarm.service.name=roll'], status: ['running'] }));
      for (const c of (await n.api('GET', `/containers/json?filters=${filters}`)).json as { Id: string }[]) {
        const env = ((await n.api('GET', `/containers/${c.Id}/json`)).json as { Config: { Env: string[] } }).Config.Env;
        assert.ok(env.includes('VERSION=2'), `${n.name}: ${c.Id} runs the old spec`);
      }
    }
    await untilCounts('6 running after the update', 'roll', async (l) => (sum(l) === 6 ? l : undefined));
    await removeService('roll');
  });

  it("a node whose berthd stops has its tasks rescheduled within the agent's TTL plus a reconcile period", async (t) => {
    await ok('docker service create', ['service', 'create', '-d', '--name', 'survivor', '--replicas', '6', '--stop-grace-period', '1s', 'busybox', 'sleep', '600']);
    await untilCounts('2/2/2', 'survivor', sameAs([2, 2, 2]));
    const victim = nodes[2]!;
    const others = nodes.filter((n) => n !== victim);
    const stoppedAt = Date.now();
    await victim.stopEngine();
    const stopTook = (Date.now() - stoppedAt) / 1000;
    // The agent finds its engine down and stops heart-beating; the entry expires after the TTL,
    // the manager sees the node go and the next reconcile places its 2 tasks on the others.
    await until('6 running on the two others', async () => (sum(await perNode('survivor', others)) === 6 ? true : undefined), (TTL + RECONCILE_S + 20) * 1000);
    const took = (Date.now() - stoppedAt) / 1000;
    t.diagnostic(`tasks of the stopped node running elsewhere ${took.toFixed(1)} s after its berthd was told to stop (the stop took ${stopTook.toFixed(1)} s; TTL ${TTL} s, reconcile ${RECONCILE_S} s)`);
    // TTL, plus the manager noticing (a 1 s refresh), a reconcile period and container starts.
    assert.ok(took < TTL + RECONCILE_S + 6, `rescheduling took ${took.toFixed(1)} s`);
    const ps = await ok('docker service ps', ['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.Node}}', 'survivor']);
    assert.equal(ps.trim().split('\n').length, 6, ps);
    assert.doesNotMatch(ps, new RegExp(`^${victim.name}$`, 'm'), ps);
    await until(`${victim.name}'s agent stops heart-beating`, async () => (/not answering.*stopped heart-beating/.test(lab!.agentLog(victim)) ? true : undefined), 10_000);
    await until(`${victim.name} Down in docker node ls`, async () => (new RegExp(`\\b${victim.name}\\s+Down\\b`).test(await ok('docker node ls', ['node', 'ls'])) ? true : undefined), 10_000);

    // The node returns: its old task containers (kept running while berthd was down) are removed.
    await victim.startEngine();
    await until(`${victim.name} ready again`, async () => {
      const list = (await manager.api('GET', '/nodes')).json as SwarmNode[];
      return list.some((n) => n.Description.Hostname === victim.name && n.Status.State === 'ready') ? true : undefined;
    });
    await untilCounts(`old containers on ${victim.name} removed`, 'survivor', async (l) => (l[2] === 0 && sum(l) === 6 ? l : undefined));
    await removeService('survivor');
  });
});
