/**
 * Starts processes without forking the daemon: the spawn addon (native/spawn.c) uses
 * posix_spawn, whose vfork-style clone costs a fraction of child_process.spawn's fork of this
 * whole process, 1.5-2 ms in which the event loop stands still. Used for the container monitor
 * (on the path every `docker run` and exec waits on) and the system tools (runc, iptables, ...).
 * Without the addon (not built), child_process.spawn does the same job.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { findAddon } from './addon.js';

/** What the child gets on one of its first fds: /dev/null, or a pipe it reads or writes. */
export type StdioSlot = 'ignore' | 'childReads' | 'childWrites';

export interface SpawnedProcess {
  pid: number;
  /** Per slot: the writable end of a childReads pipe, the readable end of a childWrites pipe. */
  stdio: Array<Readable | Writable | null>;
  /** The exit of this process (not of anything it forked): its code, or null after a signal. */
  exited: Promise<{ code: number | null; signal: number | null }>;
}

export interface SpawnOptions {
  cwd: string;
  env: Record<string, string | undefined>;
  stdio: StdioSlot[];
  /** A session of its own (setsid), as a detached monitor needs. */
  newSession?: boolean;
}

interface SpawnAddon {
  spawn(file: string, argv: string[], env: string[], cwd: string, stdio: number[], flags: number): { pid: number; fds: number[] };
  wait(pid: number): Promise<{ code: number | null; signal: number | null }>;
}

let addon: SpawnAddon | null | undefined;

function spawnAddon(): SpawnAddon | null {
  if (addon === undefined) addon = findAddon<SpawnAddon>('spawn') ?? null;
  return addon;
}

const SLOT_CODES: Record<StdioSlot, number> = { ignore: 0, childReads: 1, childWrites: 2 };
const NEW_SESSION = 1;
const SEARCH_PATH = 2;

/**
 * Runs FILE (looked up in PATH when it has no slash) with exactly this environment and working
 * directory. Throws at once (ENOENT, EACCES, ...) when it cannot be executed.
 */
export function spawnProcess(file: string, args: string[], options: SpawnOptions): SpawnedProcess {
  const native = spawnAddon();
  if (!native) return spawnWithNode(file, args, options);
  const env: string[] = [];
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined) env.push(`${k}=${v}`);
  const flags = (options.newSession ? NEW_SESSION : 0) | (file.includes('/') ? 0 : SEARCH_PATH);
  const { pid, fds } = native.spawn(file, [file, ...args], env, options.cwd, options.stdio.map((s) => SLOT_CODES[s]), flags);
  const stdio = options.stdio.map((slot, i) => (slot === 'ignore' ? null : new Socket({ fd: fds[i]!, readable: slot === 'childWrites', writable: slot === 'childReads' })));
  return { pid, stdio, exited: native.wait(pid) };
}

function spawnWithNode(file: string, args: string[], options: SpawnOptions): SpawnedProcess {
  // node reports a file it cannot run only later, in an 'error' event: checked here first so
  // both paths throw at once (ENOENT, EACCES).
  if (file.includes('/')) accessSync(file, constants.X_OK);
  const child = nodeSpawn(file, args, {
    cwd: options.cwd,
    env: options.env,
    detached: options.newSession === true,
    stdio: options.stdio.map((s) => (s === 'ignore' ? 'ignore' : 'pipe')),
  });
  if (options.newSession) child.unref();
  const exited = new Promise<{ code: number | null; signal: number | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal: signal ? (osConstants.signals[signal] ?? null) : null }));
  });
  exited.catch(() => undefined);
  return { pid: child.pid ?? 0, stdio: options.stdio.map((s, i) => (s === 'ignore' ? null : ((child.stdio[i] as Readable | Writable | null) ?? null))), exited };
}
