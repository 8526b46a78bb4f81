/**
 * The ssh driver: provisions a Linux host reachable over SSH (key auth) as docker-machine's
 * generic driver did. It needs node >= 20, runc and iproute2/iptables there (the per-container
 * monitor is the static berth-monitor inside the uploaded build, so conmon is optional). berth is
 * used from `--ssh-berth-path` (default /opt/berth) when bin/berthd exists there; otherwise the
 * driver uploads a tarball of this install (bin/, the build directory, node_modules,
 * package.json) and unpacks it there. It writes daemon.json with the machine's server cert and
 * tlsverify, starts berthd detached, and waits for the TLS endpoint to answer.
 *
 * The host key is not checked (docker-machine's StrictHostKeyChecking=no): the TLS certs this
 * driver installs are what authenticate the engine afterwards.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineClient } from '../../client/client.js';
import { tlsAddress } from '../../client/tls.js';
import { invalidParameter } from '../../util/errors.js';
import { packTarball, runAttached } from '../../sys/machine-host.js';
import { createMachineCerts, machineCertPaths, type StoreCerts } from './certs.js';
import { localInstall } from './install.js';
import type { MachineConfig, MachineStore, SshDriverConfig } from './store.js';

export interface SshCreateOptions {
  host: string;
  user: string;
  port: number;
  keyPath: string;
  berthPath: string;
  /** Remote directory for daemon.json, certs, data (default /var/lib/berth-machine/NAME). */
  remoteDir?: string;
}

export function validateSshOptions(o: Partial<SshCreateOptions>): SshCreateOptions {
  if (!o.host) throw invalidParameter('--ssh-host is required for -d ssh');
  if (!o.keyPath) throw invalidParameter('--ssh-key is required for -d ssh (key authentication only)');
  if (!existsSync(o.keyPath)) throw invalidParameter(`ssh key ${o.keyPath}: no such file`);
  const port = o.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidParameter(`invalid --ssh-port ${o.port}`);
  return { host: o.host, user: o.user || 'root', port, keyPath: o.keyPath, berthPath: o.berthPath || '/opt/berth', remoteDir: o.remoteDir };
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

interface Session {
  run(command: string): Promise<{ code: number; stdout: string; stderr: string }>;
  check(command: string): Promise<string>;
  put(local: string, remote: string): Promise<void>;
  close(): void;
}

async function connect(s: SshDriverConfig): Promise<Session> {
  const { Client } = await import('ssh2');
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', (err: Error) => reject(new Error(`ssh ${s.user}@${s.host}:${s.port}: ${err.message}`)));
    client.connect({ host: s.host, port: s.port, username: s.user, privateKey: readFileSync(s.keyPath), readyTimeout: 15_000 });
  });
  const run = (command: string): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve, reject) => {
      client.exec(command, (err, channel) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errs: Buffer[] = [];
        channel.on('data', (b: Buffer) => out.push(b));
        channel.stderr.on('data', (b: Buffer) => errs.push(b));
        channel.on('close', (code: number | null) =>
          resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errs).toString('utf8') }),
        );
      });
    });
  return {
    run,
    async check(command) {
      const r = await run(command);
      if (r.code !== 0) throw new Error(`on ${s.host}: ${command.split(' ')[0]} ... failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
      return r.stdout;
    },
    put: (local, remote) =>
      new Promise((resolve, reject) => {
        client.sftp((err, sftp) => {
          if (err) return reject(err);
          sftp.fastPut(local, remote, (e) => {
            sftp.end();
            if (e) reject(new Error(`sftp ${remote}: ${e.message}`));
            else resolve();
          });
        });
      }),
    close: () => client.end(),
  };
}

function remoteLayout(s: SshDriverConfig): { daemonJson: string; pidfile: string; log: string; execRoot: string } {
  return {
    daemonJson: `${s.remoteDir}/daemon.json`,
    pidfile: `${s.remoteDir}/berthd.pid`,
    log: `${s.remoteDir}/berthd.log`,
    execRoot: `/run/berth-m/${createHash('sha256').update(s.remoteDir).digest('hex').slice(0, 10)}`,
  };
}

async function installBerth(session: Session, s: SshDriverConfig): Promise<void> {
  const node = await session.run('node --version');
  const major = Number(/^v(\d+)/.exec(node.stdout.trim())?.[1] ?? 0);
  if (node.code !== 0 || major < 20) throw new Error(`${s.host} needs node >= 20 on its PATH (found: ${node.stdout.trim() || 'none'})`);
  if ((await session.run(`test -x ${quote(`${s.berthPath}/bin/berthd`)}`)).code === 0) return;
  const install = localInstall();
  const work = await mkdtemp(join(tmpdir(), 'berth-machine-pack-'));
  try {
    const tarball = join(work, 'berth.tgz');
    await packTarball(install.root, ['bin', install.distDir, 'node_modules', 'package.json'], tarball);
    const remoteTar = `/tmp/berth-install-${randomBytes(6).toString('hex')}.tgz`;
    await session.put(tarball, remoteTar);
    await session.check(`mkdir -p ${quote(s.berthPath)} && tar -xzf ${remoteTar} -C ${quote(s.berthPath)} && rm -f ${remoteTar} && echo ${quote(install.distDir)} > ${quote(`${s.berthPath}/.berth-dist`)}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function startRemote(session: Session, s: SshDriverConfig): Promise<void> {
  const l = remoteLayout(s);
  const dist = `$(cat ${quote(`${s.berthPath}/.berth-dist`)} 2>/dev/null || echo dist)`;
  // setsid + nohup: berthd must outlive this SSH session.
  await session.check(
    `if [ -f ${quote(l.pidfile)} ] && kill -0 $(cat ${quote(l.pidfile)}) 2>/dev/null; then exit 0; fi; ` +
      `BERTH_DIST=${dist} setsid nohup ${quote(`${s.berthPath}/bin/berthd`)} --config-file ${quote(l.daemonJson)} >> ${quote(l.log)} 2>&1 < /dev/null &`,
  );
}

async function waitReachable(store: MachineStore, config: MachineConfig, timeoutMs: number): Promise<void> {
  const client = new EngineClient(tlsAddress(`tcp://${config.ip}:${config.port}`, store.machineDir(config.name)));
  let last = '';
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
    try {
      await client.ping();
      return;
    } catch (err) {
      last = (err as Error).message;
    }
  }
  throw new Error(`berthd on ${config.ip}:${config.port} did not answer over TLS within ${timeoutMs} ms: ${last}`);
}

export async function createSshMachine(store: MachineStore, config: MachineConfig, storeCerts: StoreCerts): Promise<void> {
  const s = config.ssh!;
  s.remoteDir = s.remoteDir || `/var/lib/berth-machine/${config.name}`;
  await store.save(config);
  const machineDir = store.machineDir(config.name);
  const certs = await createMachineCerts(storeCerts, machineDir, config.name, config.ip);
  const session = await connect(s);
  try {
    await installBerth(session, s);
    const l = remoteLayout(s);
    await session.check(`mkdir -p ${quote(s.remoteDir)} && chmod 700 ${quote(s.remoteDir)}`);
    await session.put(certs.ca, `${s.remoteDir}/ca.pem`);
    await session.put(certs.serverCert, `${s.remoteDir}/server.pem`);
    await session.put(certs.serverKey, `${s.remoteDir}/server-key.pem`);
    const daemon = {
      'data-root': `${s.remoteDir}/data`,
      'exec-root': l.execRoot,
      pidfile: l.pidfile,
      hosts: [`unix://${l.execRoot}/berth.sock`, `tcp://0.0.0.0:${config.port}`],
      tlsverify: true,
      tlscacert: `${s.remoteDir}/ca.pem`,
      tlscert: `${s.remoteDir}/server.pem`,
      tlskey: `${s.remoteDir}/server-key.pem`,
      labels: config.labels,
    };
    await session.check(`umask 077 && printf '%s' ${quote(JSON.stringify(daemon, null, 2))} > ${quote(l.daemonJson)}`);
    await startRemote(session, s);
  } finally {
    session.close();
  }
  await waitReachable(store, config, 30_000);
}

export async function sshState(store: MachineStore, config: MachineConfig): Promise<'Running' | 'Stopped' | 'Error'> {
  if (!existsSync(machineCertPaths(store.machineDir(config.name)).clientCert)) return 'Error';
  try {
    await waitReachable(store, config, 2_000);
    return 'Running';
  } catch {
    return 'Stopped';
  }
}

export async function startSshEngine(store: MachineStore, config: MachineConfig): Promise<void> {
  const session = await connect(config.ssh!);
  try {
    await startRemote(session, config.ssh!);
  } finally {
    session.close();
  }
  await waitReachable(store, config, 30_000);
}

async function stopRemote(session: Session, s: SshDriverConfig): Promise<void> {
  const pidfile = quote(remoteLayout(s).pidfile);
  await session.check(
    `if [ -f ${pidfile} ]; then pid=$(cat ${pidfile}); kill $pid 2>/dev/null; ` +
      `for i in $(seq 1 150); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; kill -9 $pid 2>/dev/null; fi; exit 0`,
  );
}

export async function stopSshEngine(_store: MachineStore, config: MachineConfig): Promise<void> {
  const session = await connect(config.ssh!);
  try {
    await stopRemote(session, config.ssh!);
  } finally {
    session.close();
  }
}

/** Removes the machine's containers, stops its berthd and deletes its remote directory; the berth install stays. */
export async function removeSshMachine(store: MachineStore, config: MachineConfig): Promise<string[]> {
  const problems: string[] = [];
  const s = config.ssh!;
  if (s.remoteDir) {
    try {
      if ((await sshState(store, config)) === 'Running') {
        const client = new EngineClient(tlsAddress(`tcp://${config.ip}:${config.port}`, store.machineDir(config.name)));
        for (const c of await client.containerList({ all: true })) await client.containerRemove(c.Id, { force: true, volumes: true }).catch(() => undefined);
      }
    } catch (err) {
      problems.push(`remove containers: ${(err as Error).message}`);
    }
    try {
      const session = await connect(s);
      try {
        await stopRemote(session, s);
        const l = remoteLayout(s);
        await session.check(`rm -rf ${quote(s.remoteDir)} ${quote(l.execRoot)}`);
      } finally {
        session.close();
      }
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  await rm(store.machineDir(config.name), { recursive: true, force: true });
  return problems;
}

/** `machine ssh` for an ssh machine: the real ssh client, with the machine's key. */
export function sshCommand(config: MachineConfig, argv: string[]): Promise<number> {
  const s = config.ssh!;
  return runAttached('ssh', [
    '-i', s.keyPath, '-p', String(s.port),
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    ...(argv.length ? [] : ['-t']), `${s.user}@${s.host}`, ...argv,
  ]);
}
