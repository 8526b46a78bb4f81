/**
 * The real docker CLI against berthd for networking: network create/ls/inspect/connect/
 * disconnect/rm, run -p and port, name resolution on a user network. Traffic stays on loopback
 * and inside this daemon's namespaces (--dns 127.0.0.1 keeps forwarded lookups local).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { expectOk, waitFor } from '../helpers/exec.js';

let d: TestDaemon;
const PORT = 30000 + (process.pid % 2000) * 10;

before(async () => {
  d = await startDaemon({ args: ['--dns', '127.0.0.1'] });
  await importBusybox(d);
});

after(async () => {
  await d?.stop();
});

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('docker CLI: networks, published ports and DNS', async () => {
  const id = expectOk('network create', await d.docker(['network', 'create', '--subnet', '10.217.0.0/24', '--label', 'team=net', 'dnet'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ls = expectOk('network ls', await d.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']));
  for (const line of ['bridge bridge local', 'host host local', 'none null local', 'dnet bridge local']) assert.ok(ls.includes(line), ls);
  assert.equal(expectOk('inspect', await d.docker(['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}} {{.Labels.team}}', 'dnet'])).trim(), '10.217.0.0/24 net');

  expectOk('run', await d.docker(['run', '-d', '--name', 'dweb', '--network', 'dnet', '-p', `127.0.0.1:${PORT}:80`, 'busybox', 'sh', '-c', 'mkdir /w && echo docker-ok > /w/index.html && exec httpd -f -p 80 -h /w']));
  assert.equal(expectOk('port', await d.docker(['port', 'dweb'])).trim(), `80/tcp -> 127.0.0.1:${PORT}`);
  assert.match((await waitFor(() => httpGet(PORT).then((b) => (b.includes('docker-ok') ? b : undefined)).catch(() => undefined)))!, /docker-ok/);
  assert.match(expectOk('ps', await d.docker(['ps', '--format', '{{.Ports}}'])), new RegExp(`127\\.0\\.0\\.1:${PORT}->80/tcp`));
  const ip = expectOk('inspect', await d.docker(['inspect', '-f', '{{.NetworkSettings.Networks.dnet.IPAddress}}', 'dweb'])).trim();
  assert.match(ip, /^10\.217\.0\.\d+$/);

  const cid = expectOk('run', await d.docker(['run', '-d', '--network', 'dnet', 'busybox', 'nslookup', 'dweb', '127.0.0.11'])).trim();
  expectOk('wait', await d.docker(['wait', cid]));
  assert.ok(expectOk('logs', await d.docker(['logs', cid])).includes(`Address: ${ip}`));
  await d.docker(['rm', cid]);

  const inUse = await d.docker(['network', 'rm', 'dnet']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, /error while removing network: network dnet id [0-9a-f]{64} has active endpoints/);

  expectOk('connect', await d.docker(['network', 'connect', 'bridge', 'dweb']));
  assert.equal(expectOk('inspect', await d.docker(['inspect', '-f', '{{len .NetworkSettings.Networks}}', 'dweb'])).trim(), '2');
  expectOk('disconnect', await d.docker(['network', 'disconnect', 'bridge', 'dweb']));
  expectOk('rm', await d.docker(['rm', '-f', 'dweb']));
  expectOk('network rm', await d.docker(['network', 'rm', 'dnet']));
  const missing = await d.docker(['network', 'inspect', 'dnet']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No such network: dnet|network dnet not found/);
});
