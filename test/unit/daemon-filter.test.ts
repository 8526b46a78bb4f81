import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterContainers } from '../../src/container/filter.js';
import { initialState, type ContainerRecord } from '../../src/container/model.js';
import { commandString, statusString } from '../../src/container/views.js';

function record(id: string, name: string, status: ContainerRecord['state']['status'], created: string, labels: Record<string, string> = {}, exitCode = 0): ContainerRecord {
  return {
    id: id.padEnd(64, '0'),
    name,
    created,
    image: 'sha256:img',
    imageRef: 'busybox',
    path: 'sh',
    args: ['-c', 'exit 3'],
    config: { Labels: labels },
    hostConfig: {},
    state: { ...initialState(), status, exitCode, finishedAt: status === 'exited' ? created : initialState().finishedAt },
    restartCount: 0,
    logPath: '',
    hostnamePath: '',
    hostsPath: '',
    resolvConfPath: '',
  };
}

const records = [
  record('aa', 'web', 'running', '2024-01-01T00:00:01Z', { tier: 'front' }),
  record('bb', 'db', 'exited', '2024-01-01T00:00:02Z', { tier: 'back' }, 3),
  record('cc', 'job', 'created', '2024-01-01T00:00:03Z'),
];
const options = { imageIdOf: () => 'sha256:img', containerOf: (ref: string) => records.find((r) => r.name === ref)! };

test('without all only running containers, newest first with all', () => {
  assert.deepEqual(filterContainers(records, { ...options, all: false, filters: new Map() }).map((r) => r.name), ['web']);
  assert.deepEqual(filterContainers(records, { ...options, all: true, filters: new Map() }).map((r) => r.name), ['job', 'db', 'web']);
  assert.deepEqual(filterContainers(records, { ...options, all: false, limit: 1, filters: new Map() }).map((r) => r.name), ['job']);
});

test('filters: status, exited, label, name, before/since', () => {
  const f = (k: string, v: string[]) => filterContainers(records, { ...options, all: false, filters: new Map([[k, v]]) }).map((r) => r.name);
  assert.deepEqual(f('status', ['exited']), ['db']);
  assert.deepEqual(f('exited', ['3']), ['db']);
  assert.deepEqual(f('exited', ['0']), []);
  assert.deepEqual(filterContainers(records, { ...options, all: true, filters: new Map([['label', ['tier=back']]]) }).map((r) => r.name), ['db']);
  assert.deepEqual(filterContainers(records, { ...options, all: true, filters: new Map([['name', ['^w']]]) }).map((r) => r.name), ['web']);
  assert.deepEqual(f('before', ['job']), ['db', 'web']);
  assert.deepEqual(f('since', ['web']), ['job', 'db']);
  assert.throws(() => f('status', ['sleeping']), /invalid filter/);
});

test('Command and Status strings as docker prints them', () => {
  assert.equal(commandString(records[1]!), "sh -c 'exit 3'");
  const now = Date.parse('2024-01-01T00:00:07Z');
  assert.equal(statusString(records[1]!, now), 'Exited (3) 5 seconds ago');
  assert.equal(statusString(records[2]!, now), 'Created');
  const running = { ...records[0]!, state: { ...records[0]!.state, startedAt: '2024-01-01T00:00:00Z' } };
  assert.equal(statusString(running, Date.parse('2024-01-01T00:01:30Z')), 'Up About a minute');
});
