import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, entryFromInfo } from '../../src/cluster/agent.js';
import { Backoff } from '../../src/cluster/backoff.js';
import { openElection } from '../../src/cluster/election.js';
import { isBerthError } from '../../src/util/errors.js';

test("an engine's /info becomes its discovery entry, with classic swarm's engine facts as labels", () => {
  const entry = entryFromInfo('10.0.0.2:2376', {
    Name: 'node1',
    ID: 'ABCD:EFGH',
    NCPU: 4,
    MemTotal: 8 << 30,
    Labels: ['zone=eu', 'disk=ssd', 'weird=a=b', 'novalue'],
    Driver: 'overlay2',
    KernelVersion: '6.1.0',
    OperatingSystem: 'Debian GNU/Linux 12',
    DefaultRuntime: 'runc',
  });
  assert.deepEqual({ ...entry, updatedAt: undefined }, {
    addr: '10.0.0.2:2376',
    name: 'node1',
    id: 'ABCD:EFGH',
    labels: { zone: 'eu', disk: 'ssd', weird: 'a=b', storagedriver: 'overlay2', kernelversion: '6.1.0', operatingsystem: 'Debian GNU/Linux 12', executiondriver: 'runc' },
    cpus: 4,
    memory: 8 << 30,
    healthy: true,
    updatedAt: undefined,
  });
  assert.ok(!Number.isNaN(Date.parse(entry.updatedAt!)));
});

test('agent options are checked before anything is dialed', () => {
  const base = { advertise: '10.0.0.2:2376', discoveryUrl: 'etcd://127.0.0.1:1/x' };
  assert.throws(() => new Agent({ ...base, advertise: '10.0.0.2' }), /--advertise: "10.0.0.2" is not an address of the form HOST:PORT/);
  assert.throws(() => new Agent({ ...base, ttlSeconds: 5, heartbeatSeconds: 5 }), /--heartbeat \(5s\) must be shorter than --ttl \(5s\)/);
  assert.throws(() => new Agent({ ...base, ttlSeconds: 1.5 }), /--ttl must be a whole number/);
  assert.throws(() => new Agent({ ...base, discoveryUrl: 'zk://1.2.3.4/x' }), (err: unknown) => isBerthError(err, 'invalidParameter') && /unsupported discovery "zk:\/\/"/.test((err as Error).message));
});

test('back-off doubles from the initial delay and stays under the cap', () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1_000 });
  const delays = Array.from({ length: 8 }, () => b.next());
  delays.forEach((d, i) => {
    const base = Math.min(1_000, 100 * 2 ** i);
    assert.ok(d >= base * 0.8 - 1 && d <= base, `delay ${i} = ${d}, expected about ${base}`);
  });
  b.reset();
  assert.ok(b.next() <= 100);
});

test('an election needs etcd', () => {
  assert.throws(() => openElection('nodes://a:1,b:2'), (err: unknown) => isBerthError(err, 'invalidParameter') && /replication needs an etcd:\/\/ discovery URL/.test((err as Error).message));
  assert.throws(() => openElection('etcd://127.0.0.1:1/x', { ttlSeconds: 0 }), /election TTL must be a whole number/);
});
