/**
 * Units of the machines and TLS work: berthd's -H and TLS flags and daemon.json keys, the
 * client's TLS settlement (flags, DOCKER_/BERTH_ environment, cert dir), the machine store's
 * names, subnets, storage path and env output, and the certs made with openssl.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { parseListener } from '../../src/daemon/listeners.js';
import { loadConfig, parseDaemonArgs } from '../../src/daemon/config.js';
import { resolveClientAddress, tlsAddress } from '../../src/client/tls.js';
import { storagePath, validateMachineName, MachineStore, type MachineConfig } from '../../src/cluster/machine/store.js';
import { parseMachineSubnet, netnsNames, isInSubnet } from '../../src/cluster/machine/netns-driver.js';
import { Machines, envScript } from '../../src/cluster/machine/machines.js';
import { createMachineCerts, ensureStoreCerts } from '../../src/cluster/machine/certs.js';
import { validateSshOptions } from '../../src/cluster/machine/ssh-driver.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'berth-unit-machine-'));
}

describe('berthd listeners and TLS flags', () => {
  it('parses dockerd -H forms', () => {
    assert.deepEqual(parseListener('unix:///run/x.sock', false), { kind: 'unix', path: '/run/x.sock' });
    assert.deepEqual(parseListener('/run/y.sock', false), { kind: 'unix', path: '/run/y.sock' });
    assert.deepEqual(parseListener('tcp://10.0.0.2:2376', true), { kind: 'tcp', host: '10.0.0.2', port: 2376 });
    assert.deepEqual(parseListener('tcp://10.0.0.2', true), { kind: 'tcp', host: '10.0.0.2', port: 2376 });
    assert.deepEqual(parseListener('tcp://10.0.0.2', false), { kind: 'tcp', host: '10.0.0.2', port: 2375 });
    assert.deepEqual(parseListener('tcp://:2375', false), { kind: 'tcp', host: '0.0.0.0', port: 2375 });
    assert.deepEqual(parseListener('tcp://[::1]:2376', true), { kind: 'tcp', host: '::1', port: 2376 });
    assert.throws(() => parseListener('tcp://host:99999', false), /invalid host/);
    assert.throws(() => parseListener('fd://', false), /unsupported host fd:\/\//);
    assert.throws(() => parseListener('unix://', false), /path is empty/);
  });

  it('takes --tls, --tlsverify and the cert flags, and the same keys from daemon.json', async () => {
    const parsed = parseDaemonArgs(['-H', 'unix:///a.sock', '-H', 'tcp://0.0.0.0:2376', '--tlsverify', '--tlscacert', '/c/ca.pem', '--tlscert=/c/s.pem', '--tlskey', '/c/k.pem', '--label', 'a=b', '--label', 'c=d']);
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') return;
    assert.deepEqual(parsed.flags.hosts, ['unix:///a.sock', 'tcp://0.0.0.0:2376']);
    assert.equal(parsed.flags.tlsVerify, true);
    assert.equal(parsed.flags.tlsCert, '/c/s.pem');
    assert.deepEqual(parsed.flags.labels, ['a=b', 'c=d']);

    const dir = tempDir();
    try {
      const file = join(dir, 'daemon.json');
      writeFileSync(file, JSON.stringify({ hosts: ['tcp://1.2.3.4:2376'], tls: true, tlsverify: true, tlscacert: '/x/ca.pem', tlscert: '/x/cert.pem', tlskey: '/x/key.pem', labels: ['zone=a'] }));
      const config = await loadConfig({ configFile: file });
      assert.deepEqual(config.hosts, ['tcp://1.2.3.4:2376']);
      assert.equal(config.tls, true);
      assert.equal(config.tlsVerify, true);
      assert.equal(config.tlsCaCert, '/x/ca.pem');
      assert.deepEqual(config.labels, ['zone=a']);
      await assert.rejects(loadConfig({ configFile: file, tlsVerify: true }), /specified both as a flag and in the configuration file: tlsverify/);
      writeFileSync(file, JSON.stringify({ tlsverify: 'yes' }));
      await assert.rejects(loadConfig({ configFile: file }), /"tlsverify" has the wrong type/);
      writeFileSync(file, JSON.stringify({ labels: ['nokey'] }));
      await assert.rejects(loadConfig({ configFile: file }), /engine labels are key=value/);
      // dockerd's defaults for the cert paths.
      writeFileSync(file, '{}');
      const defaults = await loadConfig({ configFile: file });
      assert.equal(defaults.tlsCaCert, join(homedir(), '.docker', 'ca.pem'));
      assert.equal(defaults.tls, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('client TLS settlement', () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'ca.pem'), 'CA');
  writeFileSync(join(dir, 'cert.pem'), 'CERT');
  writeFileSync(join(dir, 'key.pem'), 'KEY');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('uses no TLS for unix sockets or when nothing asks for it', () => {
    assert.equal(resolveClientAddress('unix:///x.sock', { tlsVerify: true }, {}).kind, 'unix');
    const plain = resolveClientAddress('tcp://1.2.3.4:2375', {}, {});
    assert.equal(plain.kind === 'tcp' && plain.tls, undefined);
  });

  it('DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as `machine env` sets them', () => {
    const a = resolveClientAddress('tcp://1.2.3.4:2376', {}, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
    assert.ok(a.kind === 'tcp' && a.tls);
    if (a.kind !== 'tcp' || !a.tls) return;
    assert.equal(a.tls.verify, true);
    assert.equal(a.tls.ca?.toString(), 'CA');
    assert.equal(a.tls.cert?.toString(), 'CERT');
    assert.equal(a.tls.key?.toString(), 'KEY');
    // BERTH_ names win; "0" reads as off.
    const off = resolveClientAddress('tcp://1.2.3.4:2376', {}, { DOCKER_TLS_VERIFY: '1', BERTH_TLS_VERIFY: '0', DOCKER_CERT_PATH: dir });
    assert.equal(off.kind === 'tcp' && off.tls, undefined);
    // The flag beats the environment.
    const flagOff = resolveClientAddress('tcp://1.2.3.4:2376', { tlsVerify: false }, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir });
    assert.equal(flagOff.kind === 'tcp' && flagOff.tls, undefined);
  });

  it('--tls without verify takes the client cert when there is one and skips the CA', () => {
    const a = resolveClientAddress('tcp://1.2.3.4:2376', { tls: true }, { DOCKER_CERT_PATH: dir });
    assert.ok(a.kind === 'tcp' && a.tls && a.tls.verify === false && a.tls.ca === undefined && a.tls.cert?.toString() === 'CERT');
    const empty = tempDir();
    try {
      const b = resolveClientAddress('tcp://1.2.3.4:2376', { tls: true }, { DOCKER_CERT_PATH: empty });
      assert.ok(b.kind === 'tcp' && b.tls && b.tls.cert === undefined);
      assert.throws(() => resolveClientAddress('tcp://1.2.3.4:2376', { tlsVerify: true }, { DOCKER_CERT_PATH: empty }), /could not read the TLS CA certificate .*ca\.pem: ENOENT/);
      assert.throws(() => resolveClientAddress('tcp://1.2.3.4:2376', { tlsVerify: true, tlsCaCert: join(dir, 'ca.pem'), tlsCert: join(empty, 'nope.pem') }, {}), /nope\.pem/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('tlsAddress builds a verifying address from a cert directory', () => {
    const a = tlsAddress('192.168.99.2:2376', dir);
    assert.ok(a.kind === 'tcp' && a.host === '192.168.99.2' && a.port === 2376 && a.tls?.verify === true);
    assert.throws(() => tlsAddress('unix:///x.sock', dir), /needs a tcp/);
  });
});

describe('machine store', () => {
  it('storage path: flag, BERTH_MACHINE_STORAGE_PATH, MACHINE_STORAGE_PATH, ~/.berth/machine', () => {
    assert.equal(storagePath('/a', { BERTH_MACHINE_STORAGE_PATH: '/b', MACHINE_STORAGE_PATH: '/c' }), '/a');
    assert.equal(storagePath(undefined, { BERTH_MACHINE_STORAGE_PATH: '/b', MACHINE_STORAGE_PATH: '/c' }), '/b');
    assert.equal(storagePath(undefined, { MACHINE_STORAGE_PATH: '/c' }), '/c');
    assert.equal(storagePath(undefined, {}), join(homedir(), '.berth', 'machine'));
  });

  it('validates names, subnets and ssh options', () => {
    for (const ok of ['node-1', 'a', 'N0.de']) validateMachineName(ok);
    for (const bad of ['', '-x', 'a_b', 'a b', 'x'.repeat(64), '../etc']) assert.throws(() => validateMachineName(bad), /invalid machine name/);
    assert.deepEqual(parseMachineSubnet('192.168.99.0/24'), { base: (192 << 24 >>> 0) + (168 << 16) + (99 << 8), prefix: 24 });
    for (const bad of ['192.168.99.0', '192.168.99.0/33', '300.1.1.0/24', '10.0.0.0/30', '10.0.0.0/4', 'fe80::/64']) assert.throws(() => parseMachineSubnet(bad), /invalid subnet/);
    assert.equal(isInSubnet('10.1.2.3', '10.1.2.0/24'), true);
    assert.equal(isInSubnet('10.1.3.3', '10.1.2.0/24'), false);
    assert.throws(() => validateSshOptions({ keyPath: '/k' }), /--ssh-host is required/);
    assert.throws(() => validateSshOptions({ host: 'h' }), /--ssh-key is required/);
    assert.throws(() => validateSshOptions({ host: 'h', keyPath: '/no/such/key' }), /ssh key \/no\/such\/key: no such file/);
  });

  it('host names stay short and unique per store', () => {
    const a = netnsNames(new MachineStore('/tmp/store-a'), 'node-1', false);
    const b = netnsNames(new MachineStore('/tmp/store-b'), 'node-1', false);
    assert.notEqual(a.netns, b.netns);
    assert.notEqual(a.hostVeth, b.hostVeth);
    assert.ok(a.hostVeth.length <= 15);
    // conmon's attach socket: EXEC_ROOT/socket/<64 hex>/attach must fit in sun_path (108).
    assert.ok(`${a.execRoot}/socket/${'f'.repeat(64)}/attach`.length < 108);
    assert.equal(netnsNames(new MachineStore('/tmp/store-a'), 'node-1', true).netns, 'berth-m-node-1');
  });

  it('machine env prints docker-machine exports for each shell', () => {
    const m = new Machines('/tmp/store-env');
    const config: MachineConfig = { name: 'n1', driver: 'netns', ip: '192.168.99.2', port: 2376, labels: [], created: '' };
    assert.equal(
      envScript(m, config, 'bash', false, 'berth machine env n1'),
      'export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="tcp://192.168.99.2:2376"\nexport DOCKER_CERT_PATH="/tmp/store-env/machines/n1"\nexport DOCKER_MACHINE_NAME="n1"\n# Run this command to configure your shell: \n# eval $(berth machine env n1)\n',
    );
    assert.match(envScript(m, config, 'fish', false, 'x'), /^set -gx DOCKER_TLS_VERIFY "1";\n[\s\S]*# eval \(x\)\n$/);
    assert.match(envScript(m, config, 'bash', true, 'x'), /^unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\n/);
    assert.match(envScript(m, config, 'powershell', false, 'x'), /^\$Env:DOCKER_TLS_VERIFY = "1"/);
  });
});

describe('machine certs (openssl)', () => {
  it('one CA and client cert per store, a server cert per machine with the IP as SAN', async () => {
    const root = tempDir();
    try {
      const store = new MachineStore(root);
      const certs = await ensureStoreCerts(store.certDir);
      const caBefore = readFileSync(certs.caCert);
      await ensureStoreCerts(store.certDir);
      assert.deepEqual(readFileSync(certs.caCert), caBefore, 'the CA is made once');
      const m = await createMachineCerts(certs, store.machineDir('n1'), 'n1', '10.231.9.2');
      const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8' });
      assert.match(openssl('verify', '-CAfile', m.ca, m.serverCert), /OK/);
      assert.match(openssl('verify', '-CAfile', m.ca, m.clientCert), /OK/);
      const server = openssl('x509', '-in', m.serverCert, '-noout', '-text');
      assert.match(server, /IP Address:10\.231\.9\.2/);
      assert.match(server, /TLS Web Server Authentication/);
      assert.match(openssl('x509', '-in', m.clientCert, '-noout', '-text'), /TLS Web Client Authentication/);
      assert.equal((await import('node:fs')).statSync(m.serverKey).mode & 0o777, 0o600);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
