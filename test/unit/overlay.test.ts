/** Overlay networks' pure parts: store URL and advertise grammar, VNI, subnet and address choice. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  VNI_MAX,
  VNI_MIN,
  addressCandidates,
  checkWantedAddress,
  overlayLinkNames,
  overlayMtu,
  parseAdvertise,
  parseClusterStore,
  pickOverlaySubnet,
  resolveAdvertise,
  subnetKey,
  validVni,
  vniCandidates,
  type AddressPool,
} from '../../src/network/overlay/alloc.js';
import { parseCidr, parseIp } from '../../src/network/ipv4.js';
import { isBerthError } from '../../src/util/errors.js';

const invalid = (err: unknown): boolean => isBerthError(err, 'invalidParameter');

test('cluster store URLs: members, prefix, and the stores berth does not speak', () => {
  assert.deepEqual(parseClusterStore('etcd://10.0.0.1:2379'), { endpoints: ['http://10.0.0.1:2379'], prefix: 'berth', text: 'etcd://10.0.0.1:2379' });
  const multi = parseClusterStore('etcd://a:2379,b.example:12379/team/x/');
  assert.deepEqual(multi.endpoints, ['http://a:2379', 'http://b.example:12379']);
  assert.equal(multi.prefix, 'team/x');
  assert.throws(() => parseClusterStore('consul://h:8500'), /only etcd/);
  assert.throws(() => parseClusterStore('etcd://h'), invalid);
  assert.throws(() => parseClusterStore('etcd://h:99999'), invalid);
  assert.throws(() => parseClusterStore('http://h:2379'), invalid);
});

test('--cluster-advertise: IP:PORT or INTERFACE:PORT, resolved against this namespace', () => {
  const addrs = [
    { ifname: 'lo', address: '127.0.0.1', mtu: 65536 },
    { ifname: 'eth0', address: '10.9.0.5', mtu: 1500 },
  ];
  assert.deepEqual(resolveAdvertise(parseAdvertise('10.9.0.5:2376'), addrs), { ip: '10.9.0.5', dev: 'eth0', mtu: 1500 });
  assert.deepEqual(resolveAdvertise(parseAdvertise('eth0:2376'), addrs), { ip: '10.9.0.5', dev: 'eth0', mtu: 1500 });
  assert.throws(() => resolveAdvertise(parseAdvertise('10.9.0.6:2376'), addrs), /no interface of this host has that address/);
  assert.throws(() => resolveAdvertise(parseAdvertise('eth1:2376'), addrs), /no interface with that name/);
  assert.throws(() => parseAdvertise('10.9.0.5'), invalid);
  assert.throws(() => parseAdvertise('10.9.0.5:0'), invalid);
});

test('VNIs: derived from the network id, in range, and every other one follows once', () => {
  const first = (id: string): number => vniCandidates(id).next().value as number;
  assert.equal(first('abc'), first('abc'), 'the same id proposes the same VNI');
  assert.notEqual(first('abc'), first('abd'));
  const seen = new Set<number>();
  const gen = vniCandidates('some-network');
  for (let i = 0; i < 1000; i++) {
    const v = gen.next().value as number;
    assert.ok(v >= VNI_MIN && v <= VNI_MAX, String(v));
    assert.ok(!seen.has(v), 'no VNI proposed twice');
    seen.add(v);
  }
  assert.equal(validVni('4097'), 4097);
  assert.throws(() => validVni('0'), invalid);
  assert.throws(() => validVni(String(VNI_MAX + 1)), invalid);
  assert.throws(() => validVni('12a'), invalid);
});

test('subnets: the first /24 of 10.0.0.0/8 that neither another overlay nor a route uses', () => {
  assert.equal(pickOverlaySubnet([]), '10.0.0.0/24');
  assert.equal(pickOverlaySubnet([parseCidr('10.0.0.0/24')!, parseCidr('10.0.1.0/24')!]), '10.0.2.0/24');
  assert.equal(pickOverlaySubnet([parseCidr('10.0.0.0/22')!]), '10.0.4.0/24');
  assert.equal(subnetKey('10.1.2.0/24'), '10.1.2.0-24');
});

test('addresses: lowest free first, never the network, broadcast, gateway or a taken one', () => {
  const pool: AddressPool = { subnet: parseCidr('10.5.0.0/29')!, gateway: parseIp('10.5.0.1')!, range: parseCidr('10.5.0.0/29')! };
  assert.deepEqual([...addressCandidates(pool, new Set())], ['10.5.0.2', '10.5.0.3', '10.5.0.4', '10.5.0.5', '10.5.0.6']);
  assert.deepEqual([...addressCandidates(pool, new Set(['10.5.0.2', '10.5.0.4']))], ['10.5.0.3', '10.5.0.5', '10.5.0.6']);
  const ranged: AddressPool = { subnet: parseCidr('10.5.0.0/24')!, gateway: parseIp('10.5.0.1')!, range: parseCidr('10.5.0.128/30')! };
  assert.deepEqual([...addressCandidates(ranged, new Set())], ['10.5.0.128', '10.5.0.129', '10.5.0.130', '10.5.0.131']);
  assert.equal(checkWantedAddress(pool, '10.5.0.6'), '10.5.0.6');
  assert.throws(() => checkWantedAddress(pool, '10.5.0.7'), /no configured subnet/);
  assert.throws(() => checkWantedAddress(pool, '10.6.0.2'), /no configured subnet/);
  assert.throws(() => checkWantedAddress(pool, '10.5.0.1'), /already in use/);
  assert.throws(() => checkWantedAddress(pool, 'x'), invalid);
});

test('MTU and device names', () => {
  assert.equal(overlayMtu(1500), 1450);
  const names = overlayLinkNames('0123456789abcdef'.repeat(4));
  assert.ok(names.bridge.length <= 15 && names.vxlan.length <= 15);
  assert.notEqual(names.bridge, names.vxlan);
});
