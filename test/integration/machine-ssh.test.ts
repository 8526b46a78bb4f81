/**
 * berth machine with the ssh driver, against a real sshd: the test makes a network namespace
 * (10.231.88.2/30, host end 10.231.88.1/30 on a veth, no bridge), runs sshd in it with a temp
 * host key and key-only auth, and provisions it. The "remote" shares this host's filesystem:
 * the driver uploads a tarball of this build into a temp berth path, writes daemon.json and the
 * server certs into a temp remote dir and starts berthd over SSH; the engine then answers on
 * tcp://10.231.88.2:2376 with client-cert TLS.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, sleep } from '../helpers/exec.js';
import { berthBin } from '../helpers/paths.js';
import { processesMentioning, terminate } from '../helpers/cleanup.js';
import { tlsClientEnv } from '../helpers/machines.js';
import { dockerBin } from '../helpers/paths.js';

const NETNS = `bmssh-${process.pid}`;
const HOST_VETH = `bmsh${process.pid % 100000}`;
const HOST_IP = '10.231.88.1';
const REMOTE_IP = '10.231.88.2';

async function sh(file: string, args: string[]): Promise<string> {
  const r = await run(file, args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

describe('berth machine (ssh driver, real sshd in a netns)', { timeout: 300_000 }, () => {
  let dir: string;
  let store: string;
  let sshd: ChildProcess | undefined;
  const berth = (args: string[]) => run(berthBin, ['machine', args[0]!, '-s', store, ...args.slice(1)], { timeoutMs: 180_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-ssh-machine-'));
    store = join(dir, 'store');
    await sh('ip', ['netns', 'add', NETNS]);
    await sh('ip', ['link', 'add', HOST_VETH, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NETNS]);
    await sh('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_VETH]);
    await sh('ip', ['link', 'set', HOST_VETH, 'up']);
    await sh('ip', ['-n', NETNS, 'addr', 'add', `${REMOTE_IP}/30`, 'dev', 'eth0']);
    await sh('ip', ['-n', NETNS, 'link', 'set', 'eth0', 'up']);
    await sh('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
    copyFileSync(join(dir, 'id_ed25519.pub'), join(dir, 'authorized_keys'));
    writeFileSync(
      join(dir, 'sshd_config'),
      [
        `ListenAddress ${REMOTE_IP}`,
        'Port 22',
        `HostKey ${join(dir, 'host_key')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'Subsystem sftp internal-sftp',
      ].join('\n') + '\n',
    );
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    sshd = spawn('nsenter', [`--net=/run/netns/${NETNS}`, '/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let sshdLog = '';
    sshd.stderr!.on('data', (b: Buffer) => (sshdLog += b.toString()));
    for (let i = 0; ; i++) {
      const probe = await run('nsenter', [`--net=/run/netns/${NETNS}`, 'bash', '-c', `exec 3<>/dev/tcp/${REMOTE_IP}/22`], { timeoutMs: 5_000 });
      if (probe.code === 0) break;
      if (i > 50 || sshd.exitCode !== null) throw new Error(`sshd did not come up: ${sshdLog}`);
      await sleep(100);
    }
  });

  after(async () => {
    const problems: string[] = [];
    // Whatever the test left: the machine (if rm failed), sshd, the namespace, the dirs.
    if (existsSync(join(store, 'machines', 'remote1'))) await berth(['rm', '-f', 'remote1']);
    for (const p of processesMentioning(dir)) {
      if (p.argv.some((a) => a.includes('sshd'))) continue;
      problems.push(`left running: ${p.argv.join(' ')}`);
      await terminate(p.pid, 5_000);
    }
    if (sshd?.pid) await terminate(sshd.pid, 5_000);
    await run('ip', ['netns', 'del', NETNS]);
    await run('ip', ['link', 'del', HOST_VETH]);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, []);
    assert.equal(existsSync(`/run/netns/${NETNS}`), false);
  });

  it('provisions the host over SSH and serves the engine with TLS', async () => {
    const create = await berth([
      'create', '-d', 'ssh', '--ssh-host', REMOTE_IP, '--ssh-user', 'root', '--ssh-key', join(dir, 'id_ed25519'),
      '--ssh-berth-path', join(dir, 'remote-berth'), '--ssh-remote-dir', join(dir, 'remote-engine'), '--engine-label', 'provider=ssh', 'remote1',
    ]);
    assert.equal(create.code, 0, `${create.stdout}\n${create.stderr}`);
    assert.match(create.stdout, /Berth is up and running on tcp:\/\/10\.231\.88\.2:2376!/);
    // The driver installed berth (upload) and wrote daemon.json with TLS on the "remote".
    assert.ok(existsSync(join(dir, 'remote-berth', 'bin', 'berthd')));
    const daemonJson = JSON.parse(readFileSync(join(dir, 'remote-engine', 'daemon.json'), 'utf8')) as { tlsverify: boolean; labels: string[] };
    assert.equal(daemonJson.tlsverify, true);
    assert.deepEqual(daemonJson.labels, ['provider=ssh']);

    const ls = await berth(['ls', '--format', '{{.Name}} {{.DriverName}} {{.State}} {{.URL}}']);
    assert.equal(ls.stdout, 'remote1 ssh Running tcp://10.231.88.2:2376\n');

    const env = await berth(['env', 'remote1']);
    const vars: NodeJS.ProcessEnv = {};
    for (const m of env.stdout.matchAll(/^export (\w+)="([^"]*)"$/gm)) vars[m[1]!] = m[2]!;
    mkdirSync(join(dir, 'docker-config'), { recursive: true });
    const info = await run(dockerBin, ['info', '--format', '{{json .Labels}}'], { env: tlsClientEnv(vars.DOCKER_HOST!, vars.DOCKER_CERT_PATH!, join(dir, 'docker-config')), timeoutMs: 30_000 });
    assert.equal(info.code, 0, info.stderr);
    assert.equal(info.stdout.trim(), '["provider=ssh"]');

    const ssh = await berth(['ssh', 'remote1', 'echo', 'hello-over-ssh']);
    assert.equal(ssh.code, 0, ssh.stderr);
    assert.equal(ssh.stdout.trim(), 'hello-over-ssh');
  });

  it('stops and starts the remote engine', async () => {
    assert.equal((await berth(['stop', 'remote1'])).code, 0);
    assert.match((await berth(['ls', '--format', '{{.State}}'])).stdout, /^Stopped$/m);
    const start = await berth(['start', 'remote1']);
    assert.equal(start.code, 0, start.stderr);
    assert.match((await berth(['ls', '--format', '{{.State}}'])).stdout, /^Running$/m);
  });

  it('rm stops berthd and deletes the remote engine directory', async () => {
    const rm = await berth(['rm', '-y', 'remote1']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(existsSync(join(dir, 'remote-engine')), false);
    assert.equal(existsSync(join(store, 'machines', 'remote1')), false);
    for (let i = 0; i < 50 && processesMentioning(join(dir, 'remote-engine')).length; i++) await sleep(100);
    assert.deepEqual(processesMentioning(join(dir, 'remote-engine')).map((p) => p.argv.join(' ')), []);
  });

  it('an unreachable host or a wrong key is a clear error and leaves no machine', async () => {
    const other = join(dir, 'other_key');
    await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const badKey = await berth(['create', '-d', 'ssh', '--ssh-host', REMOTE_IP, '--ssh-key', other, 'wrongkey']);
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /ssh root@10\.231\.88\.2:22: All configured authentication methods failed/);
    assert.equal(existsSync(join(store, 'machines', 'wrongkey')), false);
  });
});
