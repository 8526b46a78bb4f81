/**
 * Registries for tests, each a process of its own on a loopback port with its storage in a
 * temp dir: berth's (`berth registry serve`) and, when installed, Debian's docker-registry
 * with a temp config. stop() kills the process and removes the dir, even after a failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berthBin } from './paths.js';

export interface TestRegistry {
  /** host:port */
  addr: string;
  root: string;
  dir: string;
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

export const REFERENCE_REGISTRY_BIN = '/usr/bin/docker-registry';
export const hasReferenceRegistry = (): boolean => existsSync(REFERENCE_REGISTRY_BIN);

const live = new Set<TestRegistry>();
process.once('exit', () => {
  for (const r of live) r.proc.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function track(proc: ChildProcess, addr: string, dir: string, root: string, output: { text: string }): TestRegistry {
  const reg: TestRegistry = {
    addr,
    dir,
    root,
    proc,
    log: () => output.text,
    stop: async () => {
      live.delete(reg);
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise<void>((r) => proc.once('exit', () => r()));
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(reg);
  return reg;
}

async function waitReady(addr: string, proc: ChildProcess, output: { text: string }, scheme = 'http'): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`registry exited early (${proc.exitCode}):\n${output.text}`);
    try {
      // A bounded probe: a connection that is accepted but never answered must not outlive the deadline.
      const res = await fetch(`${scheme}://${addr}/v2/`, { signal: AbortSignal.timeout(2_000) });
      // Read the body so the connection goes back to fetch's pool instead of hanging on to it.
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`registry at ${addr} did not answer:\n${output.text}`);
}

/** `berth registry serve` with extra flags; `port` to reuse an address (restart). */
export async function startBerthRegistry(args: string[] = [], options: { dir?: string; port?: number } = {}): Promise<TestRegistry> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'berth-test-registry-'));
  const root = join(dir, 'root');
  const port = options.port ?? (await freePort());
  const addr = `127.0.0.1:${port}`;
  const output = { text: '' };
  const proc = spawn(berthBin, ['registry', 'serve', '--addr', addr, '--root', root, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  proc.stdout!.on('data', (c: Buffer) => (output.text += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (output.text = (output.text + c.toString()).slice(-20_000)));
  const reg = track(proc, addr, dir, root, output);
  try {
    await waitReady(addr, proc, output, args.includes('--tls-cert') ? 'https' : 'http');
  } catch (err) {
    await reg.stop();
    throw err;
  }
  return reg;
}

/** Debian's docker-registry (the reference implementation) with a temp config on a loopback port. */
export async function startReferenceRegistry(options: { htpasswd?: string } = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-refregistry-'));
  const root = join(dir, 'root');
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const auth = options.htpasswd ? `auth:\n  htpasswd:\n    realm: test\n    path: ${options.htpasswd}\n` : '';
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${root}\n  delete:\n    enabled: true\nhttp:\n  addr: ${addr}\n${auth}`,
  );
  const output = { text: '' };
  const proc = spawn(REFERENCE_REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (c: Buffer) => (output.text = (output.text + c.toString()).slice(-20_000)));
  proc.stderr!.on('data', (c: Buffer) => (output.text = (output.text + c.toString()).slice(-20_000)));
  const reg = track(proc, addr, dir, root, output);
  try {
    await waitReady(addr, proc, output);
  } catch (err) {
    await reg.stop();
    throw err;
  }
  return reg;
}
