/** Pure parts of networking: -p grammar, IPAM, subnet choice, firewall rules, DNS messages, link env. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePublish } from '../../src/cli/commands/network-flags.js';
import { allocate, release } from '../../src/network/ipam.js';
import { pickSubnet, DEFAULT_POOLS } from '../../src/network/subnets.js';
import { parseCidr, macForIp, parseIp } from '../../src/network/ipv4.js';
import { buildRules, chainNames } from '../../src/network/firewall.js';
import { buildReply, parseQuery, TYPE_A } from '../../src/network/dnsmsg.js';
import { linkEnv } from '../../src/network/links.js';
import { wantedBindings } from '../../src/network/ports.js';
import type { NetworkRecord } from '../../src/network/types.js';
import { NetworkStore } from '../../src/network/store.js';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

test('-p grammar: ports, ip, ranges, protocols and docker errors', () => {
  assert.deepEqual(parsePublish('8080:80'), [{ key: '80/tcp', hostIp: '', hostPort: '8080' }]);
  assert.deepEqual(parsePublish('127.0.0.1::53/udp'), [{ key: '53/udp', hostIp: '127.0.0.1', hostPort: '' }]);
  assert.deepEqual(parsePublish('8000-8001:80-81').map((m) => `${m.hostPort}->${m.key}`), ['8000->80/tcp', '8001->81/tcp']);
  assert.deepEqual(parsePublish('9000-9010:80'), [{ key: '80/tcp', hostIp: '', hostPort: '9000-9010' }]);
  assert.throws(() => parsePublish('8080:abc'), /invalid containerPort: abc/);
  assert.throws(() => parsePublish('99999:80'), /invalid hostPort: 99999/);
  assert.throws(() => parsePublish('80/xyz'), /invalid proto: xyz/);
  assert.throws(() => parsePublish('8000-8002:80-81'), /invalid ranges specified for container and host Ports: 80-81 and 8000-8002/);
});

test('daemon side port bindings: invalid keys are 400s, -P adds exposed ports', () => {
  assert.throws(() => wantedBindings({ '0/tcp': null }, undefined, false), /invalid port specification: "0\/tcp"/);
  const all = wantedBindings({ '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, { '80/tcp': {}, '53/udp': {} }, true);
  assert.deepEqual(all.map((w) => `${w.hostIp}:${w.hostRange.join('-')}->${w.port}/${w.proto}`), ['0.0.0.0:8080-8080->80/tcp', '0.0.0.0:0-0->53/udp']);
});

function network(subnet: string, gateway: string, range?: string): NetworkRecord {
  return {
    id: 'n', name: 'n', driver: 'bridge', created: '', internal: false, attachable: false, predefined: false, isDefaultBridge: false,
    ipam: [{ Subnet: subnet, Gateway: gateway, ...(range ? { IPRange: range } : {}) }], ipamOptions: {}, options: {}, labels: {}, allocations: {},
  };
}

test('IPAM: lowest free address, never the gateway, never twice, fixed addresses, release', () => {
  const n = network('10.1.0.0/29', '10.1.0.1');
  assert.equal(allocate(n, 'a'), '10.1.0.2');
  assert.equal(allocate(n, 'b'), '10.1.0.3');
  assert.equal(allocate(n, 'c', '10.1.0.6'), '10.1.0.6');
  assert.throws(() => allocate(n, 'd', '10.1.0.6'), /Address already in use/);
  assert.throws(() => allocate(n, 'd', '10.1.0.1'), /Address already in use/);
  assert.throws(() => allocate(n, 'd', '10.2.0.9'), /no configured subnet/);
  assert.equal(allocate(n, 'd'), '10.1.0.4');
  assert.equal(allocate(n, 'e'), '10.1.0.5');
  assert.throws(() => allocate(n, 'f'), /no available IPv4 addresses/);
  assert.ok(release(n, 'b'));
  assert.equal(allocate(n, 'f'), '10.1.0.3');
  const ranged = network('10.2.0.0/24', '10.2.0.1', '10.2.0.128/25');
  assert.equal(allocate(ranged, 'a'), '10.2.0.128');
});

test('subnet choice skips host routes and other networks', () => {
  const taken = [parseCidr('172.17.0.0/16')!, parseCidr('172.18.5.0/24')!];
  assert.equal(pickSubnet(DEFAULT_POOLS, taken), '172.19.0.0/16');
  assert.equal(pickSubnet([{ base: '10.10.0.0/16', size: 24 }], [parseCidr('10.10.0.0/23')!]), '10.10.2.0/24');
  assert.equal(macForIp(parseIp('172.17.0.2')!), '02:42:ac:11:00:02');
});

test('firewall: own chains only, isolation, internal, hairpin and loopback NAT, DNAT', () => {
  const c = chainNames('abcd1234');
  assert.equal(c.forward, 'BERTH-FORWARD-abcd1234');
  const [filter, nat] = buildRules(c, {
    networks: [
      { bridge: 'br0', subnet: '10.0.0.0/24', internal: false },
      { bridge: 'br1', subnet: '10.0.1.0/24', internal: true },
    ],
    ports: [{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerIp: '10.0.0.2', containerPort: 80 }],
  });
  const f = filter!.rules.map((r) => r.join(' '));
  const n = nat!.rules.map((r) => r.join(' '));
  assert.ok([...f, ...n].every((r) => r.startsWith('-A BERTH-')), 'rules only in berth chains');
  assert.ok(f.includes('-A BERTH-FORWARD-abcd1234 -i br0 ! -o br0 -j BERTH-ISOLATION-abcd1234'));
  assert.ok(f.includes('-A BERTH-FORWARD-abcd1234 -i br1 ! -o br1 -j DROP'));
  assert.ok(f.indexOf('-A BERTH-FORWARD-abcd1234 -o br0 -m conntrack --ctstate DNAT -j ACCEPT') < f.indexOf('-A BERTH-FORWARD-abcd1234 -i br0 ! -o br0 -j BERTH-ISOLATION-abcd1234'));
  assert.ok(n.includes('-A BERTH-POSTROUTING-abcd1234 -s 10.0.0.0/24 ! -o br0 -j MASQUERADE'));
  assert.ok(!n.some((r) => r.includes('-s 10.0.1.0/24 ! -o br1')), 'internal networks are not masqueraded out');
  assert.ok(n.includes('-A BERTH-DNAT-abcd1234 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80'));
});

test('DNS: a query parsed and answered with A records', () => {
  const query = Buffer.from('abcd0100000100000000000003777777076578616d706c6500000100 01'.replace(/ /g, ''), 'hex');
  const q = parseQuery(query)!;
  assert.equal(q.name, 'www.example');
  assert.equal(q.type, TYPE_A);
  const reply = buildReply(query, q, 0, ['10.0.0.7']);
  assert.equal(reply.readUInt16BE(0), 0xabcd);
  assert.equal(reply.readUInt16BE(6), 1);
  assert.deepEqual([...reply.subarray(reply.length - 4)], [10, 0, 0, 7]);
});

test('link environment follows docker', () => {
  const env = linkEnv({ fullName: '/app/db', alias: 'my-db', ip: '10.0.0.3', exposed: ['5432/tcp', '53/udp'], env: ['PATH=/bin', 'PW=x'] });
  assert.deepEqual(env, [
    'MY_DB_PORT=udp://10.0.0.3:53',
    'MY_DB_PORT_53_UDP=udp://10.0.0.3:53', 'MY_DB_PORT_53_UDP_ADDR=10.0.0.3', 'MY_DB_PORT_53_UDP_PORT=53', 'MY_DB_PORT_53_UDP_PROTO=udp',
    'MY_DB_PORT_5432_TCP=tcp://10.0.0.3:5432', 'MY_DB_PORT_5432_TCP_ADDR=10.0.0.3', 'MY_DB_PORT_5432_TCP_PORT=5432', 'MY_DB_PORT_5432_TCP_PROTO=tcp',
    'MY_DB_NAME=/app/db', 'MY_DB_ENV_PW=x',
  ]);
});

test('NetworkStore: saves of one network land in call order, so the file ends with the last allocation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-netstore-'));
  try {
    const store = await NetworkStore.open(dir);
    const n = network('10.9.0.0/24', '10.9.0.1');
    // Each save is begun before the previous one finished, as concurrent creates and removals do.
    const saves: Promise<void>[] = [];
    for (let i = 0; i < 40; i++) {
      allocate(n, `c${i}`);
      if (i % 3 === 0) release(n, `c${i - 1}`);
      saves.push(store.save(n, i % 2 ? 'contents' : 'full'));
    }
    await Promise.all(saves);
    await store.flush();
    const onDisk = JSON.parse(readFileSync(join(dir, `${n.id}.json`), 'utf8')) as NetworkRecord;
    assert.deepEqual(onDisk.allocations, JSON.parse(JSON.stringify(n.allocations)));
    assert.equal(Object.keys(onDisk.allocations).length, 40 - 13);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.')), [], 'no temp file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
