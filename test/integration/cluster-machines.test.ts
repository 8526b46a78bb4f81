/**
 * The cluster as a user builds it, end to end on this host: three netns machines (own bridge
 * bclu0, 10.231.93.0/24, each berthd behind client-cert TLS on IP:2376 with an engine label), a
 * real 3-member etcd on loopback, one `berth swarm join` agent process per node (the store's
 * client cert, a 4 s TTL), and two `berth swarm manage --replication` processes on loopback
 * serving TLS with --tlsverify (a machine's server cert, the store's CA) and dialing the nodes
 * with the store's client cert. The real docker CLI (DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) talks
 * to the managers: info, placement by spread and binpack, each filter, run/ps/logs/exec/rm, a
 * node whose berthd stops, a killed primary, and a client without a valid cert.
 * Traffic goes only to loopback and to the machines' addresses on the test's own bridge.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { startClusterLab, waitFor, type Agent, type ClusterLab } from '../helpers/cluster-lab.js';
import { tlsClientEnv, type MachineNode } from '../helpers/machines.js';
import { healthyNodes, managerStatus, statusValue, type TestManager } from '../helpers/manager.js';
import { berthBin, dockerBin } from '../helpers/paths.js';
import { run, type RunResult } from '../helpers/exec.js';
import { createCa, createSignedCert } from '../../src/sys/openssl.js';

const BRIDGE = 'bclu0';
const SUBNET = '10.231.93.0/24';
const PREFIX = 'cnode';
const TTL = 4;
const ZONES = ['a', 'b', 'c'];
const NAMES = ZONES.map((_, i) => `${PREFIX}-${i + 1}`);

let lab: ClusterLab | undefined;
let dir: string;
let nodes: MachineNode[] = [];
let agents: Agent[] = [];
let primary: TestManager;
let backup: TestManager;
let certDir: string;
let discoveryUrl: string;

const docker = (m: TestManager, args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> => lab!.docker(m, args, env);
const expectDocker = (m: TestManager, what: string, r: RunResult): string => lab!.expectDocker(m, what, r);
const agentLog = (a: Agent): string => lab!.agentLog(a);
const startTlsManager = (name: string, extra: string[]): Promise<TestManager> => lab!.startManager(name, extra);

/** docker create through the manager; the node it landed on, or the CLI's error. */
async function place(m: TestManager, args: string[]): Promise<{ node?: string; id?: string; error?: string }> {
  const r = await docker(m, ['create', ...args]);
  if (r.code !== 0) return { error: r.stderr.trim() };
  const id = r.stdout.trim();
  const node = expectDocker(m, 'docker inspect', await docker(m, ['inspect', '--format', '{{.Node.Name}}', id])).trim();
  return { node, id };
}

async function removeAll(m: TestManager): Promise<void> {
  const r = await m.api('GET', '/containers/json?all=1');
  for (const c of r.json as { Id: string }[]) await m.api('DELETE', `/containers/${c.Id}?force=1`);
}

before(async () => {
  lab = await startClusterLab({ bridge: BRIDGE, subnet: SUBNET, namePrefix: PREFIX, labels: ZONES.map((z) => [`zone=${z}`]), ttl: TTL, discoveryPrefix: `cm${process.pid}` });
  ({ dir, nodes, agents, certDir, discoveryUrl } = lab);
  const replication = ['--replication', '--replication-ttl', '3s', '--advertise', '127.0.0.1:PORT'];
  primary = await startTlsManager('primary', replication);
  await waitFor('the first manager is primary', async () => (statusValue(await managerStatus(primary), 'Role') === 'primary' ? true : undefined));
  backup = await startTlsManager('backup', replication);
  await waitFor('the second manager is a replica of the first', async () => {
    const s = await managerStatus(backup);
    return statusValue(s, 'Role') === 'replica' && statusValue(s, 'Primary') === primary.host.replace('tcp://', '') ? true : undefined;
  });
  await waitFor('three healthy nodes', async () => ((await healthyNodes(primary)).length === 3 ? true : undefined), 30_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${agents.map((a) => `--- agent ${a.node.name} ---\n${agentLog(a)}`).join('\n')}\n--- manager ---\n${primary.log()}`);
  });
});

after(async () => {
  assert.deepEqual((await lab?.stop()) ?? [], [], 'cleanup left things behind');
});

describe('cluster on netns machines', { timeout: 600_000 }, () => {
  it('docker info through the TLS manager shows Nodes: 3 with a block per node and the roles', async () => {
    const out = expectDocker(primary, 'docker info', await docker(primary, ['info']));
    assert.match(out, /Role: primary/);
    assert.match(out, /Strategy: spread/);
    assert.match(out, /Nodes: 3/);
    for (const [i, n] of nodes.entries()) {
      assert.match(out, new RegExp(`  ${n.name}: ${n.ip.replace(/\./g, '\\.')}:2376`));
      // Each block: the engine's label as its agent registered it.
      const block = out.slice(out.indexOf(`  ${n.name}: `)).split('\n').slice(0, 12).join('\n');
      assert.match(block, /└ Status: Healthy/);
      assert.match(block, new RegExp(`└ Labels: .*zone=${ZONES[i]}`));
      assert.match(block, /└ Reserved Memory: 0 B \/ /);
    }
    const replica = expectDocker(backup, 'docker info via the backup', await docker(backup, ['info']));
    assert.match(replica, /Role: replica/);
    assert.match(replica, new RegExp(`Primary: ${primary.host.replace('tcp://', '').replace(/\./g, '\\.')}`));
    // What the agents registered, as discovery holds it.
    const list = await run(berthBin, ['swarm', 'list', discoveryUrl]);
    assert.deepEqual(list.stdout.trim().split('\n').sort(), nodes.map((n) => `${n.ip}:2376`).sort(), list.stderr);
  });

  it('a client without a cert from the store CA is refused in the TLS handshake', async () => {
    const foreign = join(dir, 'foreign');
    mkdirSync(foreign);
    await createCa(join(foreign, 'ca-key.pem'), join(foreign, 'other-ca.pem'), 'intruder');
    await createSignedCert({ caCert: join(foreign, 'other-ca.pem'), caKey: join(foreign, 'ca-key.pem'), keyPath: join(foreign, 'key.pem'), certPath: join(foreign, 'cert.pem'), organization: 'intruder', usage: 'client' });
    copyFileSync(join(certDir, 'ca.pem'), join(foreign, 'ca.pem'));
    const r = await run(dockerBin, ['ps'], { env: tlsClientEnv(primary.host, foreign, join(dir, 'docker-config')), timeoutMs: 30_000 });
    assert.notEqual(r.code, 0, 'a cert from another CA must be refused');
    assert.match(r.stderr, /tls|certificate|remote error/i, r.stderr);

    const [host, port] = primary.host.replace('tcp://', '').split(':') as [string, string];
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({ host, port: Number(port), ca: lab!.clientTls.ca }, () => socket.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('data', (d: Buffer) => resolve(`answered: ${d.toString().split('\r\n')[0]}`));
      socket.on('error', (e) => resolve(`error: ${e.message}`));
      socket.on('close', () => resolve('closed'));
    });
    assert.doesNotMatch(outcome, /^answered/, 'no client cert, no answer');

    const plain = await run(dockerBin, ['ps'], { env: { ...process.env, DOCKER_HOST: primary.host, DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '', DOCKER_CONFIG: join(dir, 'docker-config') }, timeoutMs: 30_000 });
    assert.notEqual(plain.code, 0, 'plain HTTP on the TLS port');
    assert.match(primary.log(), /manager listening on .* \(TLS\)/);
  });

  it('spread places 6 containers 2/2/2', async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const c = await place(primary, ['busybox', 'sleep', '600']);
      assert.ok(c.node, c.error);
      counts.set(c.node!, (counts.get(c.node!) ?? 0) + 1);
    }
    assert.deepEqual([...counts.keys()].sort(), NAMES);
    assert.deepEqual([...counts.values()], [2, 2, 2], JSON.stringify([...counts]));
    // The containers are really on those engines.
    for (const n of nodes) assert.equal(((await n.api('GET', '/containers/json?all=1')).json as unknown[]).length, 2, n.name);
    await removeAll(primary);
  });

  it('binpack fills one node first within its memory', async () => {
    const binpack = await startTlsManager('binpack', ['--strategy', 'binpack']);
    await waitFor('binpack manager sees 3 nodes', async () => ((await healthyNodes(binpack)).length === 3 ? true : undefined));
    const info = (await binpack.api('GET', '/info')).json as { MemTotal: number };
    const memory = Math.floor((info.MemTotal / 3) * 0.4);
    const placed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await place(binpack, ['-m', String(memory), 'busybox', 'sleep', '600']);
      assert.ok(c.node, c.error);
      placed.push(c.node!);
    }
    // Two 40% reservations fit one node; the third needs another.
    assert.equal(placed[0], placed[1]);
    assert.notEqual(placed[2], placed[0]);
    const out = expectDocker(binpack, 'docker info', await docker(binpack, ['info']));
    assert.match(out, /Strategy: binpack/);
    await removeAll(binpack);
    await binpack.stop();
  });

  it('constraints on the node name, an engine label and the storage driver decide the node', async () => {
    assert.equal((await place(primary, ['-e', `constraint:node==${NAMES[2]}`, 'busybox', 'true'])).node, NAMES[2]);
    const byLabel = await place(primary, ['-e', 'constraint:zone==b', 'busybox', 'true']);
    assert.equal(byLabel.node, NAMES[1], byLabel.error);
    const env = expectDocker(primary, 'inspect env', await docker(primary, ['inspect', '--format', '{{json .Config.Env}}', byLabel.id!]));
    assert.doesNotMatch(env, /constraint:/, 'the hint must not reach the node');
    // One regexp, not two `-e constraint:zone!=...`: the docker CLI keeps only the last -e of a
    // variable name ("constraint:zone!"), as it did for classic swarm.
    const excluded = await place(primary, ['-e', 'constraint:zone!=/[ab]/', '-e', 'constraint:storagedriver==overlay*', 'busybox', 'true']);
    assert.equal(excluded.node, NAMES[2], excluded.error);
    const nowhere = await place(primary, ['-e', 'constraint:zone==z', 'busybox', 'true']);
    assert.ok(nowhere.error, 'no node has zone=z');
    for (const n of NAMES) assert.match(nowhere.error!, new RegExp(`${n}: constraint`));
    await removeAll(primary);
  });

  it('affinity, --volumes-from and --link put a container next to another', async () => {
    const anchor = await place(primary, ['--name', 'anchor', '-e', `constraint:node==${NAMES[1]}`, 'busybox', 'sleep', '600']);
    assert.equal(anchor.node, NAMES[1], anchor.error);
    expectDocker(primary, 'start anchor', await docker(primary, ['start', 'anchor']));
    // Spread alone would pick an empty node; each rule keeps the new one on the anchor's.
    assert.equal((await place(primary, ['-e', 'affinity:container==anchor', 'busybox', 'true'])).node, NAMES[1]);
    assert.equal((await place(primary, ['--volumes-from', 'anchor', 'busybox', 'true'])).node, NAMES[1]);
    const linked = await place(primary, ['--link', 'anchor:db', 'busybox', 'true']);
    assert.equal(linked.node, NAMES[1], linked.error);
    assert.equal((await place(primary, ['-e', 'affinity:container!=anchor', '-e', `constraint:node!=${NAMES[0]}`, 'busybox', 'true'])).node, NAMES[2]);
    await removeAll(primary);
  });

  it('the port filter keeps a published host port off the node that uses it', async () => {
    const ran = await docker(primary, ['run', '-d', '--name', 'porta', '-p', '39401:80', '-e', `constraint:node==${NAMES[0]}`, 'busybox', 'sleep', '600']);
    expectDocker(primary, 'docker run -p', ran);
    const second = await place(primary, ['-p', '39401:80', '-e', `constraint:node!=${NAMES[2]}`, 'busybox', 'sleep', '600']);
    assert.equal(second.node, NAMES[1], second.error);
    const none = await place(primary, ['-p', '39401:80', '-e', `constraint:node==${NAMES[0]}`, 'busybox', 'true']);
    assert.ok(none.error, 'the port is taken on the only allowed node');
    assert.match(none.error!, /port/);
    await removeAll(primary);
  });

  it('the docker CLI runs, lists, logs, execs and removes containers on the cluster (also through the backup)', async () => {
    expectDocker(primary, 'docker run -d', await docker(primary, ['run', '-d', '--name', 'web', 'busybox', 'sh', '-c', 'echo hello-from-cluster; sleep 600']));
    const ps = expectDocker(primary, 'docker ps', await docker(primary, ['ps', '--format', '{{.Names}}']));
    const m = new RegExp(`^(${PREFIX}-\\d)/web$`, 'm').exec(ps);
    assert.ok(m, ps);
    const nodeName = m[1]!;
    const logs = await waitFor('logs', async () => {
      const r = await docker(primary, ['logs', `${nodeName}/web`]);
      return r.stdout.includes('hello-from-cluster') ? r : undefined;
    });
    assert.equal(logs.code, 0);
    const exec = expectDocker(primary, 'docker exec', await docker(primary, ['exec', 'web', 'sh', '-c', 'echo exec-$((1+2)) $(hostname)']));
    assert.match(exec.trim(), /^exec-3 \S+$/);
    // On that node's own engine too.
    const node = nodes.find((n) => n.name === nodeName)!;
    assert.match(expectDocker(primary, 'node ps', await node.docker(['ps', '--format', '{{.Names}}'])), /^web$/m);
    // The backup forwards to the primary.
    assert.match(expectDocker(backup, 'docker ps via backup', await docker(backup, ['ps', '--format', '{{.Names}}'])), new RegExp(`^${nodeName}/web$`, 'm'));
    const attached = expectDocker(backup, 'docker run --rm via backup', await docker(backup, ['run', '--rm', 'busybox', 'echo', 'attached-through-backup']));
    assert.equal(attached.trim(), 'attached-through-backup');
    expectDocker(primary, 'docker rm -f', await docker(primary, ['rm', '-f', 'web']));
    assert.doesNotMatch(expectDocker(primary, 'docker ps -a', await docker(primary, ['ps', '-a', '--format', '{{.Names}}'])), /web/);
  });

  it("a node whose berthd stops leaves after the agent's TTL and new containers avoid it; it returns when started", async () => {
    const victim = nodes[2]!;
    await victim.stopEngine();
    const t0 = Date.now();
    await waitFor(`${victim.name} unhealthy or gone`, async () => (!(await healthyNodes(primary)).includes(victim.name) ? true : undefined), 15_000);
    const placed = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const c = await place(primary, ['busybox', 'true']);
      assert.ok(c.node, c.error);
      placed.add(c.node!);
    }
    assert.ok(!placed.has(victim.name), [...placed].join(','));
    await waitFor(`${victim.name} removed after the TTL`, async () => (statusValue(await managerStatus(primary), 'Nodes') === '2' ? true : undefined), (TTL + 10) * 1000);
    const gone = Date.now() - t0;
    assert.ok(gone < (TTL + 8) * 1000, `the node left after ${gone} ms`);
    const agent = agents.find((a) => a.node === victim)!;
    assert.match(agentLog(agent), /not answering.*stopped heart-beating/, agentLog(agent));
    assert.doesNotMatch(expectDocker(primary, 'docker info', await docker(primary, ['info'])), new RegExp(`  ${victim.name}: `));
    await removeAll(primary);
    await victim.startEngine();
    await waitFor(`${victim.name} back`, async () => ((await healthyNodes(primary)).includes(victim.name) ? true : undefined), 30_000);
    console.log(`# node left the cluster ${gone} ms after its berthd stopped (TTL ${TTL} s)`);
  });

  it('killing the primary hands over to the backup and the docker CLI keeps working through it', async () => {
    expectDocker(backup, 'docker run via backup', await docker(backup, ['run', '-d', '--name', 'ha-web', 'busybox', 'sleep', '600']));
    await primary.kill9();
    const t0 = Date.now();
    await waitFor('the backup becomes primary', async () => (statusValue(await managerStatus(backup), 'Role') === 'primary' ? true : undefined), 20_000);
    const took = Date.now() - t0;
    assert.ok(took < 10_000, `failover took ${took} ms`);
    await waitFor('the new primary sees 3 nodes', async () => ((await healthyNodes(backup)).length === 3 ? true : undefined));
    const info = expectDocker(backup, 'docker info after failover', await docker(backup, ['info']));
    assert.match(info, /Role: primary/);
    assert.match(info, /Nodes: 3/);
    assert.match(expectDocker(backup, 'docker ps after failover', await docker(backup, ['ps', '--format', '{{.Names}}'])), /\/ha-web$/m);
    const ran = expectDocker(backup, 'docker run after failover', await docker(backup, ['run', '--rm', 'busybox', 'echo', 'after-failover']));
    assert.equal(ran.trim(), 'after-failover');
    expectDocker(backup, 'docker rm after failover', await docker(backup, ['rm', '-f', 'ha-web']));
    console.log(`# failover took ${took} ms (replication TTL 3 s)`);
  });
});
