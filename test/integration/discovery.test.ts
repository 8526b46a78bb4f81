/**
 * Discovery and election against a real 3-member etcd on loopback and a real berthd: agents
 * register engines under leases, a dead engine leaves after the TTL and comes back, duplicate
 * names are refused, a dead etcd member changes nothing, a dead etcd is reported and survived,
 * and a killed primary manager is replaced within the election TTL.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { run, sleep } from '../helpers/exec.js';
import { berthBin } from '../helpers/paths.js';
import { processesMentioning, terminate } from '../helpers/cleanup.js';
import { openDiscovery } from '../../src/cluster/discovery/index.js';
import { openElection } from '../../src/cluster/election.js';
import { startAgent, type Agent } from '../../src/cluster/agent.js';
import type { Discovery, NodeEntry } from '../../src/cluster/types.js';
import { isBerthError } from '../../src/util/errors.js';
import { parseHost, type DaemonAddress } from '../../src/client/host.js';
import { createMachineCerts, ensureStoreCerts } from '../../src/cluster/machine/certs.js';

const T = { timeout: 120_000 };
const TTL = 3;
const FAST = { backoff: { initialMs: 100, maxMs: 1_000 }, callTimeoutMs: 2_000 };

/** Records every set a watch delivers and lets a test wait for one that matches. */
function follow(discovery: Discovery): { sets: NodeEntry[][]; errors: Error[]; until(pred: (nodes: NodeEntry[]) => boolean, timeoutMs: number, what: string): Promise<number>; stop(): void } {
  const sets: NodeEntry[][] = [];
  const errors: Error[] = [];
  const stop = discovery.watch((nodes) => sets.push(nodes), (err) => errors.push(err));
  return {
    sets,
    errors,
    stop,
    async until(pred, timeoutMs, what) {
      const start = Date.now();
      for (;;) {
        const last = sets[sets.length - 1];
        if (last && pred(last)) return Date.now() - start;
        if (Date.now() - start > timeoutMs) throw new Error(`${what}: not seen in ${timeoutMs} ms; last set ${JSON.stringify(last?.map((n) => n.addr))}; errors ${errors.map((e) => e.message).slice(-3).join(' | ')}`);
        await sleep(50);
      }
    },
  };
}

const addrs = (nodes: NodeEntry[]): string[] => nodes.map((n) => n.addr).sort();

describe('discovery on a 3-member etcd', { timeout: 600_000 }, () => {
  let etcd: TestEtcd;
  let daemon: TestDaemon;
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    etcd = await startEtcd({ members: 3 });
    daemon = await startDaemon();
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await daemon?.stop();
    await etcd?.stop();
  });

  it('registered entries reach watchers; stopping a registration removes its entry at once', T, async () => {
    const discovery = openDiscovery(etcd.url('two'), FAST);
    cleanups.push(() => discovery.close());
    const watch = follow(discovery);
    await watch.until((n) => n.length === 0, 5_000, 'the empty set');
    const a = await discovery.register({ addr: '127.0.0.1:23751', name: 'node-a', cpus: 2, memory: 1 << 30, labels: { zone: 'a' }, healthy: true }, TTL);
    const b = await discovery.register({ addr: '127.0.0.1:23752', name: 'node-b', healthy: true }, TTL);
    await watch.until((n) => n.length === 2, 5_000, 'both entries');
    const got = watch.sets[watch.sets.length - 1]!;
    assert.deepEqual(addrs(got), ['127.0.0.1:23751', '127.0.0.1:23752']);
    assert.deepEqual(got.find((n) => n.name === 'node-a'), { addr: '127.0.0.1:23751', name: 'node-a', cpus: 2, memory: 1 << 30, labels: { zone: 'a' }, healthy: true });
    // Leases are renewed: both entries outlive several TTLs.
    await sleep(TTL * 1000 * 2);
    assert.deepEqual(addrs(await discovery.list()), ['127.0.0.1:23751', '127.0.0.1:23752']);
    await a.update({ addr: '127.0.0.1:23751', name: 'node-a', healthy: false });
    await watch.until((n) => n.some((e) => e.name === 'node-a' && e.healthy === false), 5_000, 'the update');
    const stopped = Date.now();
    await b.stop();
    await watch.until((n) => n.length === 1, 2_000, 'removal on stop');
    assert.ok(Date.now() - stopped < 2_000, 'stop() deletes at once rather than waiting for the TTL');
    await a.stop();
    watch.stop();
  });

  it('an agent keeps its engine registered; a dead engine leaves after the TTL and returns when it is back', T, async (t) => {
    const url = etcd.url('agent');
    const observer = openDiscovery(url, FAST);
    cleanups.push(() => observer.close());
    const watch = follow(observer);
    const lines: string[] = [];
    const agent = await startAgent({ advertise: '127.0.0.1:23761', discoveryUrl: url, engine: daemon.host, ttlSeconds: TTL, heartbeatSeconds: 1, log: (l) => lines.push(l), discoveryOptions: FAST });
    cleanups.push(() => agent.stop());
    await watch.until((n) => n.length === 1, 5_000, 'the agent entry');
    const entry = watch.sets[watch.sets.length - 1]![0]!;
    assert.equal(entry.addr, '127.0.0.1:23761');
    assert.equal(entry.name, hostname());
    assert.equal(entry.healthy, true);
    assert.ok((entry.cpus ?? 0) >= 1 && (entry.memory ?? 0) > 1e8, `resources from /info: ${JSON.stringify(entry)}`);
    assert.equal(entry.labels?.storagedriver, 'overlay2');
    assert.ok(entry.labels?.kernelversion && entry.labels.operatingsystem, `engine facts as labels: ${JSON.stringify(entry.labels)}`);
    assert.ok(entry.id && entry.updatedAt);

    await daemon.kill9();
    const killed = Date.now();
    await watch.until((n) => n.length === 1 && n[0]!.healthy === false, 5_000, 'the unhealthy mark');
    const gone = killed + (await watch.until((n) => n.length === 0, (TTL + 5) * 1000, 'expiry after the TTL'));
    const elapsed = gone - killed;
    t.diagnostic(`entry gone ${elapsed} ms after the engine was killed (TTL ${TTL} s, heartbeat 1 s)`);
    // At most: one heartbeat to notice, then the TTL (plus etcd's expiry granularity).
    assert.ok(elapsed >= (TTL - 1) * 1000, `entry left after ${elapsed} ms, before the TTL ran out`);
    assert.ok(elapsed <= (TTL + 3) * 1000, `entry left after ${elapsed} ms`);
    assert.ok(lines.some((l) => /is not answering.*leaves discovery after the TTL \(3s\)/.test(l)), lines.join('\n'));

    await daemon.start();
    await watch.until((n) => n.length === 1 && n[0]!.healthy === true, 8_000, 'the engine back');
    watch.stop();
  });

  it('a second node with a name a live node holds is refused, by the API and by berth swarm join', T, async () => {
    const url = etcd.url('dup');
    const first = await startAgent({ advertise: '127.0.0.1:23771', discoveryUrl: url, engine: daemon.host, ttlSeconds: TTL, heartbeatSeconds: 1, discoveryOptions: FAST });
    cleanups.push(() => first.stop());
    await assert.rejects(
      startAgent({ advertise: '127.0.0.1:23772', discoveryUrl: url, engine: daemon.host, ttlSeconds: TTL, heartbeatSeconds: 1, discoveryOptions: FAST }),
      (err: unknown) => isBerthError(err, 'conflict') && err.message.includes(`node name "${hostname()}" is already registered by 127.0.0.1:23771`),
    );
    const cli = await run(berthBin, ['swarm', 'join', '--advertise', '127.0.0.1:23773', '--engine-host', daemon.host, '--ttl', '3s', '--heartbeat', '1s', url], { timeoutMs: 20_000 });
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /swarm join: node name ".*" is already registered by 127\.0\.0\.1:23771, a live node/);
    // The holder itself may re-register (restart of the same agent): same address, same name.
    const discovery = openDiscovery(url, FAST);
    cleanups.push(() => discovery.close());
    const again = await discovery.register({ addr: '127.0.0.1:23771', name: hostname() }, TTL);
    await again.stop();
    await first.stop();
    // Once the holder is gone the name is free.
    const freed = await discovery.register({ addr: '127.0.0.1:23772', name: hostname() }, TTL);
    await freed.stop();
    const listed = await run(berthBin, ['swarm', 'list', url], { timeoutMs: 20_000 });
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(listed.stdout, '');
  });

  it('one etcd member down: registration, renewal, watch and list keep working', T, async () => {
    const url = etcd.url('member');
    const discovery = openDiscovery(url, FAST);
    cleanups.push(() => discovery.close());
    const watch = follow(discovery);
    const agent = await startAgent({ advertise: '127.0.0.1:23781', discoveryUrl: url, engine: daemon.host, ttlSeconds: TTL, heartbeatSeconds: 1, discoveryOptions: FAST });
    cleanups.push(() => agent.stop());
    await watch.until((n) => n.length === 1, 5_000, 'the agent entry');
    await etcd.kill(0);
    try {
      const other = await discovery.register({ addr: '127.0.0.1:23782', name: 'other' }, TTL);
      await watch.until((n) => n.length === 2, 10_000, 'a registration with a member down');
      // Several TTLs with a member down: the agent's lease is still renewed.
      await sleep(TTL * 1000 * 2);
      assert.deepEqual(addrs(await discovery.list()), ['127.0.0.1:23781', '127.0.0.1:23782']);
      const listed = await run(berthBin, ['swarm', 'list', url], { timeoutMs: 20_000 });
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(listed.stdout.trim().split('\n').sort(), ['127.0.0.1:23781', '127.0.0.1:23782']);
      await other.stop();
      await watch.until((n) => n.length === 1, 5_000, 'removal with a member down');
    } finally {
      await etcd.start(0);
    }
    await agent.stop();
    watch.stop();
  });

  it('etcd entirely down: clear errors naming the endpoints, bounded retries, no crash, recovery', T, async () => {
    const url = etcd.url('outage');
    const discovery = openDiscovery(url, FAST);
    cleanups.push(() => discovery.close());
    const watch = follow(discovery);
    const lines: string[] = [];
    const agent: Agent = await startAgent({ advertise: '127.0.0.1:23791', discoveryUrl: url, engine: daemon.host, ttlSeconds: TTL, heartbeatSeconds: 1, log: (l) => lines.push(l), discoveryOptions: FAST });
    cleanups.push(() => agent.stop());
    await watch.until((n) => n.length === 1, 5_000, 'the agent entry');

    await etcd.killAll();
    try {
      await assert.rejects(discovery.list(), (err: unknown) => isBerthError(err, 'unavailable') && err.message.startsWith(`etcd at ${etcd.endpoints}: listing nodes:`));
      await assert.rejects(
        discovery.register({ addr: '127.0.0.1:23792', name: 'late' }, TTL),
        (err: unknown) => err instanceof Error && err.message.includes(`etcd at ${etcd.endpoints}: registering 127.0.0.1:23792`),
      );
      const listed = await run(berthBin, ['swarm', 'list', url], { timeoutMs: 30_000 });
      assert.equal(listed.code, 1);
      assert.match(listed.stderr, new RegExp(`swarm list: etcd at ${etcd.endpoints.replace(/\./g, '\\.')}: listing nodes`));
      const errorsBefore = watch.errors.length;
      await sleep(6_000);
      const errorsDuring = watch.errors.length - errorsBefore;
      // Capped exponential back-off (100 ms doubling to 1 s): a handful per second at most, not a spin.
      assert.ok(errorsDuring >= 1, 'the watch reports the outage');
      assert.ok(errorsDuring < 60, `${errorsDuring} watch errors in 6 s`);
      assert.ok(watch.errors.every((e) => e.message.includes(`etcd at ${etcd.endpoints}`)), watch.errors[0]?.message);
      assert.ok(lines.some((l) => l.includes(`etcd at ${etcd.endpoints}`)), `the agent logs the outage:\n${lines.join('\n')}`);
    } finally {
      await etcd.startAll();
    }
    // The watch resumes by itself; a new registration works; the agent's entry is (still or again) there.
    const late = await discovery.register({ addr: '127.0.0.1:23792', name: 'late' }, TTL);
    await watch.until((n) => addrs(n).join() === '127.0.0.1:23791,127.0.0.1:23792', 20_000, 'both entries after recovery');
    // And after another TTL the agent is still renewing.
    await sleep((TTL + 1) * 1000);
    assert.deepEqual(addrs(await discovery.list()), ['127.0.0.1:23791', '127.0.0.1:23792']);
    await late.stop();
    await agent.stop();
    watch.stop();
  });

  it('berth swarm join dials a TLS engine with the client cert, refuses to count an engine it cannot authenticate to, deregisters on SIGTERM', T, async () => {
    const certs = mkdtempSync(join(tmpdir(), 'berth-disc-tls-'));
    cleanups.push(async () => rmSync(certs, { recursive: true, force: true }));
    const store = await ensureStoreCerts(join(certs, 'store'));
    const node = await createMachineCerts(store, join(certs, 'node'), 'node', '127.0.0.1');
    const port = await freePort();
    const tlsDaemon = await startDaemon({ args: ['-H', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', node.ca, '--tlscert', node.serverCert, '--tlskey', node.serverKey] });
    cleanups.push(() => tlsDaemon.stop());
    const url = etcd.url('tls');
    const observer = openDiscovery(url, FAST);
    cleanups.push(() => observer.close());
    const watch = follow(observer);
    const advertise = `127.0.0.1:${port}`;

    // Without a client cert the engine refuses the agent: it never registers the node.
    const noCert = await startAgent({ advertise, discoveryUrl: url, engine: { ...parseHost(`tcp://${advertise}`), tls: { verify: true, ca: readFileSync(node.ca) } } as DaemonAddress, ttlSeconds: TTL, heartbeatSeconds: 1, discoveryOptions: FAST });
    assert.equal(noCert.state, 'engine-down');
    await sleep(1_500);
    assert.deepEqual(await observer.list(), []);
    await noCert.stop();

    const agent = spawn(berthBin, ['swarm', 'join', '--advertise', advertise, '--tlsverify', '--cert-path', join(certs, 'node'), '--ttl', '3s', '--heartbeat', '1s', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    cleanups.push(async () => agent.kill('SIGKILL'));
    let log = '';
    agent.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    await watch.until((n) => n.length === 1 && n[0]!.addr === advertise && n[0]!.healthy === true, 10_000, 'the TLS engine');
    assert.match(log, new RegExp(`registered ${advertise.replace(/\./g, '\\.')} \\(.+\\) in ${url.replace(/[./]/g, (c) => `\\${c}`)}, TTL 3s`));
    agent.kill('SIGTERM');
    assert.equal(await exited, 0, log);
    // Deregistration deletes the entry at once, well before the 3 s TTL.
    await watch.until((n) => n.length === 0, 1_500, 'deregistration on SIGTERM');
    watch.stop();
  });

  it('election: one primary; resign hands over at once; a killed primary is replaced within the TTL', T, async (t) => {
    const url = etcd.url('election');
    const ttl = 2;
    const e1 = openElection(url, { ttlSeconds: ttl, ...FAST });
    const e2 = openElection(url, { ttlSeconds: ttl, ...FAST });
    cleanups.push(() => e1.close(), () => e2.close());
    const seen: (string | undefined)[] = [];
    const stopObserving = e2.observe((leader) => seen.push(leader));

    await e1.campaign('10.9.0.1:3375');
    let second = false;
    const e2elected = e2.campaign('10.9.0.2:3375').then(() => {
      second = true;
    });
    await sleep(1_500);
    assert.equal(second, false, 'two primaries at once');
    assert.equal(await e1.leader(), '10.9.0.1:3375');
    const resigned = Date.now();
    await e1.resign();
    await e2elected;
    assert.ok(Date.now() - resigned < 2_000, 'resign hands over without waiting for the TTL');
    assert.equal(await e2.leader(), '10.9.0.2:3375');
    await waitUntil(() => seen[seen.length - 1] === '10.9.0.2:3375', 3_000);
    assert.ok(seen.includes('10.9.0.1:3375'), `observer saw ${JSON.stringify(seen)}`);

    // A primary in another process that dies without resigning: its lease runs out.
    await e2.resign();
    const script = `
      const { openElection } = await import(${JSON.stringify(new URL('../../src/cluster/election.js', import.meta.url).href)});
      const e = openElection(${JSON.stringify(url)}, { ttlSeconds: ${ttl} });
      await e.campaign('10.9.0.3:3375');
      process.stdout.write('elected\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(async () => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (b: Buffer) => b.toString().includes('elected') && resolve());
      child.once('exit', (code) => reject(new Error(`campaigning child exited (${code})`)));
    });
    assert.equal(await e1.leader(), '10.9.0.3:3375');
    let backupWon = 0;
    const backup = e1.campaign('10.9.0.1:3375').then(() => {
      backupWon = Date.now();
    });
    await sleep(500);
    assert.equal(backupWon, 0, 'the backup waits while the primary lives');
    const killed = Date.now();
    child.kill('SIGKILL');
    await backup;
    const failover = backupWon - killed;
    t.diagnostic(`failover after SIGKILL of the primary: ${failover} ms (TTL ${ttl} s)`);
    assert.ok(failover <= (ttl + 1) * 1000, `failover took ${failover} ms with a ${ttl} s TTL`);
    assert.equal(await e1.leader(), '10.9.0.1:3375');
    await waitUntil(() => seen[seen.length - 1] === '10.9.0.1:3375', 3_000);
    stopObserving();
    await e1.close();
    await e2.close();
  });
});

describe('berth swarm etcd', () => {
  it('runs a single-member etcd in the foreground, prints a usable discovery URL, stops on SIGTERM', T, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-swarm-etcd-'));
    let port = await freePort();
    // The peer port is the next one up; find a pair that is free.
    while (port >= 65534) port = await freePort();
    const child = spawn(berthBin, ['swarm', 'etcd', '--data-dir', join(dir, 'data'), '--listen', `127.0.0.1:${port}`, '--prefix', 'trial'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      let err = '';
      child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      const deadline = Date.now() + 30_000;
      while (!out.includes('discovery URL:')) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no URL printed:\n${out}\n${err}`);
        await sleep(100);
      }
      const url = /discovery URL: (\S+)/.exec(out)![1]!;
      assert.equal(url, `etcd://127.0.0.1:${port}/trial`);
      const discovery = openDiscovery(url, FAST);
      try {
        const r = await discovery.register({ addr: '127.0.0.1:23801', name: 'trial' }, 5);
        assert.deepEqual((await discovery.list()).map((n) => n.addr), ['127.0.0.1:23801']);
        await r.stop();
      } finally {
        await discovery.close();
      }
      assert.ok(existsSync(join(dir, 'data', 'member')), 'etcd data in --data-dir');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      // An etcd left behind by a CLI that died is found by its data dir on the command line.
      const leftovers = processesMentioning(dir);
      for (const p of leftovers) await terminate(p.pid, 2_000);
      rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(leftovers.map((p) => p.argv[0]), [], 'etcd outlived berth swarm etcd');
    }
  });
});

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(50);
  }
}
