/**
 * Networking against a real berthd: bridges, veths, iptables DNAT/MASQUERADE, the embedded
 * DNS, network modes and links. Every address used is loopback or inside namespaces this
 * test's daemon created. The daemon forwards unknown names to 127.0.0.1 (--dns), so no query
 * leaves the machine.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { get } from 'node:http';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { expectOk, sleep, waitFor } from '../helpers/exec.js';
import { berthLinks, berthRules } from '../helpers/network-cleanup.js';
import { run as runTool } from '../helpers/exec.js';

let d: TestDaemon;
// Distinct per process so parallel test files never ask for the same host port.
const BASE_PORT = 20000 + (process.pid % 2000) * 10;

/** busybox-static's wget crashes in its resolver (static glibc), so clients speak HTTP through nc. */
const fetch = (host: string, port: number | string): string => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`;
/** A name looked up through the embedded DNS, as a shell expression. */
const resolve = (name: string): string => `$(nslookup ${name} 127.0.0.11 | awk '/^Address: /{print $2}' | tail -1)`;

const HTTPD = ['sh', '-c', 'mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www'];

before(async () => {
  d = await startDaemon({ args: ['--dns', '127.0.0.1'] });
  await importBusybox(d);
});

after(async () => {
  await d?.stop();
});

/** Runs a container to completion and returns its exit code and output (from its log). */
async function runOut(args: string[]): Promise<{ code: number; out: string }> {
  const id = expectOk('run -d', await d.berth(['run', '-d', ...args])).trim();
  const code = Number(expectOk('wait', await d.berth(['wait', id], { timeoutMs: 30_000 })).trim());
  const logs = await d.berth(['logs', id]);
  await d.berth(['rm', '-f', id]);
  return { code, out: logs.stdout + logs.stderr };
}

function httpGet(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function inspect(name: string, format: string): Promise<string> {
  return expectOk('inspect', await d.berth(['inspect', '-f', format, name])).trim();
}

test('default bridge: address, MAC, hosts and resolv.conf, outbound NAT rule', async () => {
  const r = await runOut(['--hostname', 'box1', '--add-host', 'extra.example:10.9.8.7', 'busybox', 'sh', '-c', 'ip -o -4 addr show eth0; ip link show eth0; ip route; cat /etc/hosts /etc/resolv.conf']);
  assert.equal(r.code, 0, r.out);
  const ip = /inet (172\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+)\/(\d+)/.exec(r.out);
  assert.ok(ip, r.out);
  const octets = ip[1]!.split('.').map(Number);
  const mac = `02:42:${octets.map((o) => o.toString(16).padStart(2, '0')).join(':')}`;
  assert.match(r.out, new RegExp(`link/ether ${mac}`));
  assert.match(r.out, /^default via \S+ dev eth0/m);
  assert.match(r.out, new RegExp(`^${ip[1]!.replace(/\./g, '\\.')}\\tbox1$`, 'm'));
  assert.match(r.out, /^10\.9\.8\.7\textra\.example$/m);
  assert.match(r.out, /^nameserver 127\.0\.0\.1$/m);
  const rules = await berthRules(d.execRoot);
  assert.ok(rules.some((l) => /MASQUERADE/.test(l) && l.includes(`-s ${octets[0]}.${octets[1]}.`)), rules.join('\n'));
  assert.ok(rules.some((l) => /^filter: -A FORWARD -j BERTH-FORWARD-/.test(l)), rules.join('\n'));
});

test('published port answers on 127.0.0.1, port/ps/inspect show it, a taken port is refused', async () => {
  const hostPort = BASE_PORT + 1;
  expectOk('run web', await d.berth(['run', '-d', '--name', 'web1', '-p', `${hostPort}:80`, 'busybox', ...HTTPD]));
  const body = await waitFor(() => httpGet(hostPort).then((b) => (b.includes("hello") ? b : undefined)).catch(() => undefined), { timeoutMs: 10_000 });
  assert.match(body!, /hello-from-/);
  assert.equal(expectOk('port', await d.berth(['port', 'web1'])), `80/tcp -> 0.0.0.0:${hostPort}\n`);
  assert.equal(expectOk('port 80', await d.berth(['port', 'web1', '80'])), `0.0.0.0:${hostPort}\n`);
  assert.equal(await inspect('web1', '{{json .NetworkSettings.Ports}}'), `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"${hostPort}"}]}`);
  assert.match(expectOk('ps', await d.berth(['ps', '--format', '{{.Ports}}', '--filter', 'name=web1'])), new RegExp(`0\\.0\\.0\\.0:${hostPort}->80/tcp`));
  // From another container, through the bridge's gateway address (hairpin DNAT).
  const gateway = await inspect('web1', '{{.NetworkSettings.Gateway}}');
  const viaGateway = await runOut(['busybox', 'sh', '-c', fetch(gateway, hostPort)]);
  assert.match(viaGateway.out, /hello-from-/);
  const taken = await d.berth(['run', '-d', '--name', 'web2', '-p', `${hostPort}:80`, 'busybox', ...HTTPD]);
  assert.equal(taken.code, 125, taken.stdout + taken.stderr);
  assert.match(taken.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${hostPort} failed: port is already allocated`));
  await d.berth(['rm', '-f', 'web2']);
  expectOk('rm', await d.berth(['rm', '-f', 'web1']));
  assert.ok(!(await berthRules(d.execRoot)).some((l) => l.includes(`--dport ${hostPort}`)), 'DNAT rule removed with the container');
});

test('-P publishes exposed ports on ephemeral host ports', async () => {
  expectOk('run', await d.berth(['run', '-d', '--name', 'pub', '--expose', '80', '-P', 'busybox', ...HTTPD]));
  const line = expectOk('port', await d.berth(['port', 'pub', '80/tcp'])).trim();
  const port = Number(/:(\d+)$/.exec(line)?.[1]);
  assert.ok(port >= 1024, line);
  assert.match((await waitFor(() => httpGet(port).then((b) => (b.includes("hello") ? b : undefined)).catch(() => undefined)))!, /hello-from-/);
  await d.berth(['rm', '-f', 'pub']);
});

test('user network: names and aliases resolve, other networks are isolated, internal has no route out', async () => {
  expectOk('create n1', await d.berth(['network', 'create', 'n1']));
  expectOk('create n2', await d.berth(['network', 'create', '--subnet', '10.213.0.0/24', '--gateway', '10.213.0.254', 'n2']));
  expectOk('create n3', await d.berth(['network', 'create', '--internal', 'n3']));
  expectOk('web', await d.berth(['run', '-d', '--name', 'svc', '--network', 'n1', '--network-alias', 'www', 'busybox', ...HTTPD]));
  const svcIp = await inspect('svc', '{{.NetworkSettings.Networks.n1.IPAddress}}');
  const byName = await runOut(['--network', 'n1', 'busybox', 'sh', '-c', `cat /etc/resolv.conf; nslookup svc 127.0.0.11 && ${fetch(resolve('svc'), 80)} && ${fetch(resolve('www'), 80)}`]);
  assert.equal(byName.code, 0, byName.out);
  assert.match(byName.out, /nameserver 127\.0\.0\.11/);
  assert.equal(byName.out.match(/hello-from-/g)?.length, 2, byName.out);
  assert.ok(byName.out.includes(svcIp), byName.out);
  const fixed = await runOut(['--network', 'n2', '--ip', '10.213.0.77', 'busybox', 'sh', '-c', `ip -o -4 addr show eth0; ip route; ${fetch(svcIp, 80)} | grep -q hello`]);
  assert.match(fixed.out, /10\.213\.0\.77\/24/);
  assert.match(fixed.out, /default via 10\.213\.0\.254/);
  assert.notEqual(fixed.code, 0, `n2 must not reach n1: ${fixed.out}`);
  const internal = await runOut(['--network', 'n3', 'busybox', 'ip', 'route']);
  assert.doesNotMatch(internal.out, /default/);
  // in use: 409 with docker's message
  const inUse = await d.api('DELETE', '/networks/n1');
  assert.equal(inUse.status, 409);
  assert.match((inUse.json as { message: string }).message, /^error while removing network: network n1 id [0-9a-f]{64} has active endpoints$/);
  // connect a running container to a second network, then disconnect it
  expectOk('connect', await d.berth(['network', 'connect', '--alias', 'svc2', 'n2', 'svc']));
  assert.match(await inspect('svc', '{{.NetworkSettings.Networks.n2.IPAddress}}'), /^10\.213\.0\.\d+$/);
  const viaN2 = await runOut(['--network', 'n2', 'busybox', 'sh', '-c', fetch(resolve('svc2'), 80)]);
  assert.match(viaN2.out, /hello-from-/);
  expectOk('disconnect', await d.berth(['network', 'disconnect', 'n2', 'svc']));
  assert.equal(await inspect('svc', '{{len .NetworkSettings.Networks}}'), '1');
  const n1Id = expectOk('network inspect', await d.berth(['network', 'inspect', '-f', '{{.Id}}', 'n1'])).trim();
  assert.equal(n1Id.length, 64);
  const bridge = `br-${n1Id.slice(0, 12)}`;
  assert.ok((await berthLinks(d.execRoot)).includes(bridge), `${bridge} exists while n1 does`);
  expectOk('rm svc', await d.berth(['rm', '-f', 'svc']));
  expectOk('network rm', await d.berth(['network', 'rm', 'n1', 'n2', 'n3']));
  assert.ok(!(await berthLinks(d.execRoot)).includes(bridge), `${bridge} removed`);
  assert.ok(!(await berthRules(d.execRoot)).some((l) => l.includes(bridge)), 'no rule names the removed bridge');
});

test('host, none and container: network modes', async () => {
  const host = await runOut(['--network', 'host', 'busybox', 'cat', '/proc/net/dev']);
  const [bridge] = await berthLinks(d.execRoot);
  assert.ok(bridge && host.out.includes(bridge), `host mode sees the host's interfaces: ${host.out}`);
  const none = await runOut(['--network', 'none', 'busybox', 'ip', '-o', 'link']);
  assert.deepEqual(none.out.trim().split('\n').map((l) => l.split(':')[1]!.trim()), ['lo']);
  expectOk('run', await d.berth(['run', '-d', '--name', 'local', 'busybox', 'sh', '-c', 'mkdir /w && echo shared-lo > /w/index.html && exec httpd -f -p 127.0.0.1:8080 -h /w']));
  await sleep(300);
  const joined = await runOut(['--network', 'container:local', 'busybox', 'sh', '-c', fetch('127.0.0.1', 8080)]);
  assert.match(joined.out, /shared-lo/);
  await d.berth(['rm', '-f', 'local']);
});

test('--link on the default bridge: hosts entry and docker environment variables', async () => {
  expectOk('db', await d.berth(['run', '-d', '--name', 'db', '-e', 'PASSWORD=s3cret', '--expose', '5432', 'busybox', 'sleep', '60']));
  const dbIp = await inspect('db', '{{.NetworkSettings.IPAddress}}');
  const r = await runOut(['--name', 'app', '--link', 'db:dbalias', 'busybox', 'sh', '-c', 'env | sort; cat /etc/hosts']);
  assert.match(r.out, new RegExp(`^DBALIAS_PORT=tcp://${dbIp}:5432$`, 'm'));
  assert.match(r.out, new RegExp(`^DBALIAS_PORT_5432_TCP=tcp://${dbIp}:5432$`, 'm'));
  assert.match(r.out, new RegExp(`^DBALIAS_PORT_5432_TCP_ADDR=${dbIp}$`, 'm'));
  assert.match(r.out, /^DBALIAS_NAME=\/app\/dbalias$/m);
  assert.match(r.out, /^DBALIAS_ENV_PASSWORD=s3cret$/m);
  assert.match(r.out, new RegExp(`^${dbIp}\\tdbalias [0-9a-f]{12} db$`, 'm'));
  await d.berth(['rm', '-f', 'db']);
});

test('--mac-address and --ip on a user network; network prune removes only unused networks', async () => {
  expectOk('create', await d.berth(['network', 'create', '--subnet', '10.215.0.0/24', 'fixed']));
  expectOk('create', await d.berth(['network', 'create', '--subnet', '10.216.0.0/24', 'unused']));
  const r = await runOut(['--network', 'fixed', '--ip', '10.215.0.77', '--mac-address', '02:42:aa:bb:cc:dd', 'busybox', 'ip', '-o', 'addr', 'show', 'eth0']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /inet 10\.215\.0\.77\/24/);
  const link = await runOut(['--network', 'fixed', '--mac-address', '02:42:aa:bb:cc:de', 'busybox', 'cat', '/sys/class/net/eth0/address']);
  assert.equal(link.out.trim(), '02:42:aa:bb:cc:de');
  expectOk('keeper', await d.berth(['run', '-d', '--name', 'keeper', '--network', 'fixed', 'busybox', 'sleep', '60']));
  const pruned = expectOk('prune', await d.berth(['network', 'prune', '-f']));
  assert.match(pruned, /^unused$/m);
  assert.doesNotMatch(pruned, /^fixed$/m);
  const left = expectOk('ls', await d.berth(['network', 'ls', '--format', '{{.Name}}'])).split('\n');
  assert.ok(left.includes('fixed') && left.includes('bridge') && !left.includes('unused'), left.join(','));
  await d.berth(['rm', '-f', 'keeper']);
  expectOk('rm', await d.berth(['network', 'rm', 'fixed']));
});

test('bad input gets docker status codes and messages', async () => {
  expectOk('create', await d.berth(['network', 'create', '--subnet', '10.214.0.0/16', 'ov1']));
  const overlap = await d.api('POST', '/networks/create', { Name: 'ov2', IPAM: { Config: [{ Subnet: '10.214.5.0/24' }] } });
  assert.equal(overlap.status, 403);
  assert.match(overlap.text, /Pool overlaps with other one on this address space/);
  const gw = await d.api('POST', '/networks/create', { Name: 'gw', IPAM: { Config: [{ Subnet: '10.215.0.0/24', Gateway: '10.216.0.1' }] } });
  assert.equal(gw.status, 400);
  assert.match(gw.text, /invalid gateway 10\.216\.0\.1: parent subnet 10\.215\.0\.0\/24 doesn't contain this address/);
  const dup = await d.api('POST', '/networks/create', { Name: 'ov1' });
  assert.equal(dup.status, 409);
  const missing = await d.api('GET', '/networks/nope');
  assert.equal(missing.status, 404);
  assert.match(missing.text, /network nope not found/);
  const predefined = await d.api('DELETE', '/networks/bridge');
  assert.equal(predefined.status, 403);
  const unknownNet = await d.berth(['run', '-d', '--network', 'nope', 'busybox', 'true']);
  assert.equal(unknownNet.code, 125);
  assert.match(unknownNet.stderr, /network nope not found/);
  const badPort = await d.berth(['run', '-d', '-p', '8080:abc', 'busybox', 'true']);
  assert.equal(badPort.code, 125);
  assert.match(badPort.stderr, /invalid containerPort: abc/);
  const badBinding = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { PortBindings: { '99999/tcp': [{ HostPort: '1' }] } } });
  assert.equal(badBinding.status, 400);
  assert.match(badBinding.text, /invalid port specification: \\"99999\/tcp\\"/);
  expectOk('rm', await d.berth(['network', 'rm', 'ov1']));
});

test('daemon restart keeps networks, addresses and name resolution; nothing is left after removal', async () => {
  expectOk('create', await d.berth(['network', 'create', 'keep']));
  expectOk('run', await d.berth(['run', '-d', '--name', 'stay', '--network', 'keep', '-p', `${BASE_PORT + 2}:80`, 'busybox', ...HTTPD]));
  const ipBefore = await inspect('stay', '{{.NetworkSettings.Networks.keep.IPAddress}}');
  await d.restart();
  assert.equal(await inspect('stay', '{{.NetworkSettings.Networks.keep.IPAddress}}'), ipBefore);
  assert.match(expectOk('ls', await d.berth(['network', 'ls', '--format', '{{.Name}}'])), /^keep$/m);
  assert.match((await waitFor(() => httpGet(BASE_PORT + 2).then((b) => (b.includes("hello") ? b : undefined)).catch(() => undefined)))!, /hello-from-/);
  const other = await runOut(['--network', 'keep', 'busybox', 'sh', '-c', fetch(resolve('stay'), 80)]);
  assert.match(other.out, /hello-from-/);
  // A new container never gets the address the running one holds.
  const fresh = await runOut(['--network', 'keep', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
  assert.ok(!fresh.out.includes(`${ipBefore}/`), fresh.out);
  expectOk('rm', await d.berth(['rm', '-f', 'stay']));
  expectOk('network rm', await d.berth(['network', 'rm', 'keep']));
  assert.deepEqual(readdirSync(join(d.execRoot, 'netns')), [], 'no pinned namespaces left');
  const ours = await berthLinks(d.execRoot);
  const veths = (await runTool('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout.split('\n');
  assert.deepEqual(veths.filter((l) => ours.some((b) => l.includes(` master ${b} `))), [], 'no veth left on our bridges');
});
