/**
 * berth machine with the netns driver: two nodes on a bridge of this test's own (bmtest0,
 * 10.231.77.0/24), each a berthd in its own namespace behind client-cert TLS. The real docker
 * CLI, configured from `berth machine env`, runs containers on a node over TLS (attach and exec
 * hijack through TLS too); clients without a cert from the store's CA are refused; stop/start
 * and rm do what they say and leave nothing behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMachines, expectOk, tlsClientEnv, type MachineSet } from '../helpers/machines.js';
import { run } from '../helpers/exec.js';
import { berthBin, dockerBin } from '../helpers/paths.js';
import { createCa, createSignedCert } from '../../src/sys/openssl.js';

const BRIDGE = 'bmtest0';
const SUBNET = '10.231.77.0/24';

describe('berth machine (netns driver)', { timeout: 300_000 }, () => {
  let set: MachineSet;
  const berth = (args: string[], input?: string) => run(berthBin, ['machine', ...args.slice(0, 1), '-s', set.storePath, ...args.slice(1)], { timeoutMs: 90_000, input });

  before(async () => {
    set = await createMachines(2, { bridge: BRIDGE, subnet: SUBNET, labels: [['zone=a', 'disk=ssd'], ['zone=b']] });
  });
  after(async () => {
    await set?.removeAll();
    assert.equal(existsSync(`/sys/class/net/${BRIDGE}`), false, 'the bridge goes with the last machine');
  });

  it('lists, inspects and gives the address and env of each machine', async () => {
    const ls = await berth(['ls']);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trim().split('\n');
    assert.match(lines[0]!, /^NAME\s+ACTIVE\s+DRIVER\s+STATE\s+URL/);
    // The two machines were created at once: which took the first free address is a race.
    const [ip1, ip2] = [set.nodes[0]!.ip, set.nodes[1]!.ip];
    assert.deepEqual([ip1, ip2].sort(), ['10.231.77.2', '10.231.77.3']);
    const re = (text: string): string => text.replace(/\./g, '\\.');
    assert.match(lines[1]!, new RegExp(`^node-1\\s+-\\s+netns\\s+Running\\s+tcp://${re(ip1)}:2376`));
    assert.match(lines[2]!, new RegExp(`^node-2\\s+-\\s+netns\\s+Running\\s+tcp://${re(ip2)}:2376`));

    const ip = await berth(['ip', 'node-1', 'node-2']);
    assert.equal(ip.stdout, `${ip1}\n${ip2}\n`);

    const env = await berth(['env', 'node-1']);
    assert.equal(env.code, 0, env.stderr);
    const node1 = set.nodes[0]!;
    assert.equal(
      env.stdout,
      `export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="tcp://${ip1}:2376"\nexport DOCKER_CERT_PATH="${node1.certDir}"\nexport DOCKER_MACHINE_NAME="node-1"\n` +
        `# Run this command to configure your shell: \n# eval $(berth machine env -s ${set.storePath} node-1)\n`,
    );
    const unset = await berth(['env', '-u']);
    assert.match(unset.stdout, /^unset DOCKER_TLS_VERIFY\nunset DOCKER_HOST\nunset DOCKER_CERT_PATH\nunset DOCKER_MACHINE_NAME\n/);
    const fish = await berth(['env', '--shell', 'fish', 'node-2']);
    assert.ok(fish.stdout.includes(`set -gx DOCKER_HOST "tcp://${ip2}:2376";`), fish.stdout);

    const inspect = await berth(['inspect', 'node-1']);
    const view = JSON.parse(inspect.stdout) as { Name: string; DriverName: string; Driver: { IPAddress: string; Bridge: string }; HostOptions: { EngineOptions: { Labels: string[] }; AuthOptions: { CaCertPath: string } } };
    assert.equal(view.Name, 'node-1');
    assert.equal(view.DriverName, 'netns');
    assert.equal(view.Driver.IPAddress, ip1);
    assert.equal(view.Driver.Bridge, BRIDGE);
    assert.deepEqual(view.HostOptions.EngineOptions.Labels, ['zone=a', 'disk=ssd']);
    assert.equal(view.HostOptions.AuthOptions.CaCertPath, join(set.storePath, 'certs', 'ca.pem'));
    const fmt = await berth(['inspect', '-f', '{{.Driver.IPAddress}}', 'node-2']);
    assert.equal(fmt.stdout, `${ip2}\n`);

    // docker-machine's layout.
    for (const f of ['ca.pem', 'ca-key.pem', 'cert.pem', 'key.pem']) assert.ok(existsSync(join(set.storePath, 'certs', f)), f);
    for (const f of ['config.json', 'ca.pem', 'server.pem', 'server-key.pem', 'cert.pem', 'key.pem']) assert.ok(existsSync(join(node1.certDir, f)), f);
  });

  it('the docker CLI, set up from machine env, runs containers on a node over TLS', async () => {
    const node = set.nodes[0]!;
    await node.loadBusybox();
    const env = await berth(['env', node.name]);
    const vars: NodeJS.ProcessEnv = {};
    for (const m of env.stdout.matchAll(/^export (\w+)="([^"]*)"$/gm)) vars[m[1]!] = m[2]!;
    // Only what `eval $(berth machine env)` sets: no BERTH_HOST, so berth reads DOCKER_HOST too.
    const dockerEnv = tlsClientEnv('unused', 'unused', join(set.storePath, 'docker-config'), vars);
    delete dockerEnv.BERTH_HOST;
    const docker = (args: string[], input?: string) => run(dockerBin, args, { env: dockerEnv, input, timeoutMs: 90_000 });

    const info = expectOk(node, 'docker info', await docker(['info', '--format', '{{.Name}} {{json .Labels}}']));
    assert.equal(info.stdout.trim(), 'node-1 ["zone=a","disk=ssd"]');

    const echo = expectOk(node, 'docker run', await docker(['run', '--rm', 'busybox', 'echo', 'hello from node-1']));
    assert.equal(echo.stdout, 'hello from node-1\n');

    // stdin through the hijacked attach, over TLS.
    const cat = expectOk(node, 'docker run -i', await docker(['run', '-i', '--rm', 'busybox', 'cat'], 'piped over tls\n'));
    assert.equal(cat.stdout, 'piped over tls\n');

    expectOk(node, 'docker run -d', await docker(['run', '-d', '--name', 'sleeper', 'busybox', 'sleep', '300']));
    const exec = expectOk(node, 'docker exec', await docker(['exec', 'sleeper', 'hostname']));
    assert.ok(exec.stdout.trim().length > 0);
    const ps = expectOk(node, 'docker ps', await docker(['ps', '--format', '{{.Names}}']));
    assert.equal(ps.stdout.trim(), 'sleeper');

    // berth's own CLI with the same environment (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH).
    const bps = await run(berthBin, ['ps', '--format', '{{.Names}}'], { env: dockerEnv, timeoutMs: 30_000 });
    assert.equal(bps.code, 0, bps.stderr);
    assert.equal(bps.stdout.trim(), 'sleeper');
    // ... and with the global flags instead of the environment.
    const flags = await run(
      berthBin,
      ['-H', node.host, '--tlsverify', '--tlscacert', join(node.certDir, 'ca.pem'), '--tlscert', join(node.certDir, 'cert.pem'), '--tlskey', join(node.certDir, 'key.pem'), 'info', '--format', '{{.Name}}'],
      { env: { ...process.env, DOCKER_HOST: '', BERTH_HOST: '', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' }, timeoutMs: 30_000 },
    );
    assert.equal(flags.stdout.trim(), 'node-1', flags.stderr);

    // The other node is a separate engine.
    const other = await set.nodes[1]!.docker(['ps', '-a', '-q']);
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout.trim(), '');
  });

  it('refuses clients without a cert signed by the store CA', async () => {
    const node = set.nodes[1]!;
    const dir = mkdtempSync(join(tmpdir(), 'berth-foreign-ca-'));
    try {
      // A well-formed client cert from another CA, trusting the right CA for the server.
      await createCa(join(dir, 'ca-key.pem'), join(dir, 'other-ca.pem'), 'intruder');
      await createSignedCert({ caCert: join(dir, 'other-ca.pem'), caKey: join(dir, 'ca-key.pem'), keyPath: join(dir, 'key.pem'), certPath: join(dir, 'cert.pem'), organization: 'intruder', usage: 'client' });
      const { copyFileSync } = await import('node:fs');
      copyFileSync(join(node.certDir, 'ca.pem'), join(dir, 'ca.pem'));
      const foreign = await run(dockerBin, ['version', '--format', '{{.Server.Version}}'], { env: tlsClientEnv(node.host, dir, join(set.storePath, 'docker-config')), timeoutMs: 30_000 });
      assert.notEqual(foreign.code, 0, 'a cert from another CA must be refused');
      assert.match(foreign.stderr, /certificate|tls|remote error/i);

      // No client cert at all: the handshake itself fails.
      const err = await new Promise<Error | undefined>((resolve) => {
        const socket = connect({ host: node.ip, port: 2376, ca: undefined, rejectUnauthorized: false }, () => {
          socket.write('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n');
        });
        socket.on('data', () => resolve(undefined));
        socket.on('error', (e) => resolve(e));
        socket.on('close', () => resolve(new Error('closed without an answer')));
      });
      assert.ok(err, 'a client without a cert must not get an answer');

      // Plain HTTP on the TLS port gets nothing useful either.
      const plain = await run(dockerBin, ['version', '--format', '{{.Server.Version}}'], {
        env: { ...process.env, DOCKER_HOST: node.host, DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '', DOCKER_CONFIG: join(set.storePath, 'docker-config') },
        timeoutMs: 30_000,
      });
      assert.notEqual(plain.code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop stops the engine and start brings it back', async () => {
    const node = set.nodes[1]!;
    const stop = await berth(['stop', node.name]);
    assert.equal(stop.code, 0, stop.stderr);
    let ls = await berth(['ls', '--format', '{{.Name}} {{.State}}']);
    assert.match(ls.stdout, /^node-2 Stopped$/m);
    const down = await node.docker(['info']);
    assert.notEqual(down.code, 0);
    const start = await berth(['start', node.name]);
    assert.equal(start.code, 0, start.stderr);
    ls = await berth(['ls', '--format', '{{.Name}} {{.State}}']);
    assert.match(ls.stdout, /^node-2 Running$/m);
    const up = await node.docker(['info', '--format', '{{.Name}}']);
    assert.equal(up.stdout.trim(), 'node-2', up.stderr);
  });

  it('bad input gets a clear error and leaves no state', async () => {
    const before = (await berth(['ls', '-q'])).stdout;
    const dup = await berth(['create', '--netns-bridge', BRIDGE, '--netns-subnet', SUBNET, 'node-1']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Host already exists: "node-1"/);
    const badDriver = await berth(['create', '-d', 'virtualbox', 'vb']);
    assert.equal(badDriver.code, 1);
    assert.match(badDriver.stderr, /Driver "virtualbox" not found/);
    const badCidr = await berth(['create', '--netns-bridge', 'bmtest9', '--netns-subnet', '10.231.78.0/33', 'badnet']);
    assert.equal(badCidr.code, 1);
    assert.match(badCidr.stderr, /invalid subnet "10\.231\.78\.0\/33"/);
    const clash = await berth(['create', '--netns-bridge', BRIDGE, '--netns-subnet', '10.231.79.0/24', 'clash']);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /bridge bmtest0 exists with another subnet/);
    const noKey = await berth(['create', '-d', 'ssh', '--ssh-host', '10.231.77.200', '--ssh-key', '/nonexistent/id_ed25519', 'remote']);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /ssh key \/nonexistent\/id_ed25519: no such file/);
    const badName = await berth(['create', 'bad_name!']);
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /invalid machine name/);
    const badLabel = await berth(['create', '--netns-bridge', BRIDGE, '--netns-subnet', SUBNET, '--engine-label', 'nokey', 'lbl']);
    assert.equal(badLabel.code, 1);
    assert.match(badLabel.stderr, /invalid engine label "nokey"/);
    const missing = await berth(['ip', 'ghost']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Host does not exist: "ghost"/);

    assert.equal((await berth(['ls', '-q'])).stdout, before);
    assert.equal(existsSync('/sys/class/net/bmtest9'), false);
    for (const name of ['vb', 'badnet', 'clash', 'remote', 'lbl']) assert.equal(existsSync(join(set.storePath, 'machines', name)), false, name);
    // The failed creates did not disturb the running node.
    const ok = await set.nodes[0]!.docker(['info', '--format', '{{.Name}}']);
    assert.equal(ok.stdout.trim(), 'node-1');
  });

  it('rm removes the engine, its containers, namespace and veth', async () => {
    const node = set.nodes[0]!; // has the running "sleeper"
    const netns = node.config.netns!;
    const execRoot = node.config.execRoot!;
    const rm = await berth(['rm', '-y', node.name]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout, 'Successfully removed node-1\n');
    assert.equal(existsSync(`/run/netns/${netns.netns}`), false);
    assert.equal(existsSync(`/sys/class/net/${netns.hostVeth}`), false);
    assert.equal(existsSync(execRoot), false);
    assert.equal(existsSync(join(set.storePath, 'machines', 'node-1')), false);
    const ps = await run('ps', ['-eo', 'args']);
    assert.ok(!ps.stdout.includes(execRoot), 'no monitor or berthd of node-1 left');
    // Another machine still uses the bridge.
    assert.equal(existsSync(`/sys/class/net/${BRIDGE}`), true);
    const ls = await berth(['ls', '-q']);
    assert.equal(ls.stdout, 'node-2\n');
  });
});
