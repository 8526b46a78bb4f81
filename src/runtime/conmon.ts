import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage, systemError } from '../util/errors.js';
import { spawnProcess, type SpawnedProcess } from '../sys/spawn.js';
import { runtimeErrorMessage } from './start-error.js';

/**
 * The per-container monitor: berth-monitor (native/berth-monitor.c) or conmon. Both take the same
 * command line and speak the same fd protocol, so nothing here depends on which one runs.
 */
export interface MonitorLaunch {
  /** The monitor binary (berth-monitor or conmon). */
  conmonPath: string;
  runcPath: string;
  runcRoot: string;
  id: string;
  bundleDir: string;
  /** Where the monitor process writes its own pid. */
  conmonPidFile: string;
  /** Where runc writes the container's init pid. */
  containerPidFile: string;
  logPath: string;
  noLog?: boolean;
  exitDir: string;
  persistDir: string;
  socketDir: string;
  tty: boolean;
  openStdin: boolean;
  /** Keep the container's stdin open when an attached client goes away (docker's StdinOnce=false). */
  leaveStdinOpen: boolean;
  /**
   * berth-monitor only: create and start in one `runc run --detach`, calling this once the
   * attach socket listens; it resolves with the spec (config.json's text), which the waiting
   * runtime reads from the start pipe (see launchMonitor).
   */
  beforeStart?: () => Promise<string>;
}

/** The outcome the monitor reports on its sync pipe once `runc create` has finished. */
export type MonitorReport = { ok: true; pid: number } | { ok: false; message: string };

/** fd number of the sync pipe in the monitor: stdio 0-2 come first, the pipe is the 4th slot. */
const SYNC_PIPE_FD = 3;
/** berth-monitor's --run handshake (as an exec's): the start pipe and the attach-ready pipe. */
const START_PIPE_FD = 4;
const ATTACH_PIPE_FD = 5;

export function conmonArgs(l: MonitorLaunch, run = l.beforeStart !== undefined): string[] {
  const args = [
    '--api-version', '1',
    '-c', l.id,
    '-u', l.id,
    '-n', l.id,
    '-r', l.runcPath,
    '-b', l.bundleDir,
    '-p', l.containerPidFile,
    '--conmon-pidfile', l.conmonPidFile,
    '-l', l.noLog ? 'none:' : `k8s-file:${l.logPath}`,
    '--exit-dir', l.exitDir,
    '--persist-dir', l.persistDir,
    '--socket-dir-path', l.socketDir,
    '--log-level', 'warning',
    // Runtime args go before the subcommand, so runc keeps its state under our root.
    `--runtime-arg=--root=${l.runcRoot}`,
  ];
  if (l.tty) args.push('--terminal');
  if (l.openStdin) args.push('--stdin');
  if (l.openStdin && l.leaveStdinOpen) args.push('--leave-stdin-open');
  if (run) args.push('--run', '--exec-attach');
  return args;
}

/** The monitor writes one JSON line: {"data": PID} or {"data": -1, "message": "runc's stderr"}. */
export function parseSyncMessage(line: string): MonitorReport {
  let parsed: { data?: unknown; message?: unknown };
  try {
    parsed = JSON.parse(line) as { data?: unknown; message?: unknown };
  } catch {
    return { ok: false, message: `the container monitor sent an unreadable status: ${line}` };
  }
  if (typeof parsed.data === 'number' && parsed.data > 0) return { ok: true, pid: parsed.data };
  const raw = typeof parsed.message === 'string' ? parsed.message : `the container monitor reported ${String(parsed.data)}`;
  return { ok: false, message: runtimeErrorMessage(raw) };
}

/** Resolves with the first line on the stream, or undefined if it ends first. */
function firstLine(stream: Readable, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buffered = '';
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline !== -1) finish(buffered.slice(0, newline));
    });
    stream.on('end', () => finish(buffered.trim() === '' ? undefined : buffered));
    stream.on('error', () => finish(undefined));
  });
}

function collect(stream: Readable | null): Promise<string> {
  return new Promise((resolve) => {
    if (!stream) return resolve('');
    const chunks: Buffer[] = [];
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

type Launched = { report: MonitorReport; monitorPid: number | undefined };

/** The monitor process just spawned, with what every way of driving it needs. */
function spawnMonitor(l: MonitorLaunch, run: boolean, timeoutMs: number) {
  let child: SpawnedProcess;
  try {
    child = spawnProcess(l.conmonPath, conmonArgs(l, run), {
      cwd: l.bundleDir,
      newSession: true,
      // fd 3 the sync pipe; with --run also fd 4 the start pipe and fd 5 the attach pipe.
      stdio: run ? ['ignore', 'ignore', 'childWrites', 'childWrites', 'childReads', 'childWrites'] : ['ignore', 'ignore', 'childWrites', 'childWrites'],
      env: {
        PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        _OCI_SYNCPIPE: String(SYNC_PIPE_FD),
        ...(run ? { _OCI_STARTPIPE: String(START_PIPE_FD), _OCI_ATTACHPIPE: String(ATTACH_PIPE_FD) } : {}),
      },
    });
  } catch (err) {
    throw systemError(`cannot run ${l.conmonPath}: ${errorMessage(err)}`, err);
  }
  const spawned = child.exited.then((exit) => exit.code).catch((err: unknown) => Promise.reject(systemError(`cannot run ${l.conmonPath}: ${errorMessage(err)}`, err)));
  spawned.catch(() => undefined);
  const stderr = collect(child.stdio[2] as Readable);
  const failed = async (exitCode: number | null, what: string): Promise<Launched> => {
    const detail = (await stderr).trim();
    const reason = exitCode !== null && exitCode !== 0 ? `${l.conmonPath} exited with status ${String(exitCode)}${detail ? `: ${detail}` : ''}` : `${l.conmonPath} ${what}`;
    return { report: { ok: false, message: reason }, monitorPid: await readPid(l.conmonPidFile) };
  };
  /** The sync pipe's report, once the runtime is done. */
  const report = async (): Promise<Launched> => {
    // The monitor's first process writes the pid file before it exits: read while the runtime runs.
    const monitorPid = spawned.then(() => readPid(l.conmonPidFile)).catch(() => undefined);
    const [line, exitCode] = await Promise.all([firstLine(child.stdio[SYNC_PIPE_FD] as Readable, timeoutMs), spawned]);
    if (line !== undefined) return { report: parseSyncMessage(line), monitorPid: await monitorPid };
    return failed(exitCode, `did not report the container within ${timeoutMs} ms`);
  };
  return { child, spawned, failed, report };
}

/**
 * A berth-monitor started with --run whose runtime waits for its spec: `runc run --detach` (one
 * runtime process where `runc create` + `runc start` were two) starts at once and blocks on
 * BUNDLE/config.json, the monitor's link to the start pipe. A first start-pipe write lets the
 * monitor set up; {"data": 0} on the attach pipe says its attach socket listens.
 */
export interface WaitingMonitor {
  /** True once the attach socket listens, false if the monitor failed to get there. */
  readonly ready: Promise<boolean>;
  /**
   * Runs beforeStart (which connects the attached clients and gives the spec), hands the spec
   * to the runtime, and resolves with the monitor's report: the pid of a process already running.
   */
  go(beforeStart: () => Promise<string>): Promise<Launched>;
  /** The runtime never gets its spec: the pipe ends and the monitor (runc dies with it) is killed. */
  abandon(): Promise<void>;
}

export function spawnWaitingMonitor(l: MonitorLaunch, timeoutMs: number): WaitingMonitor {
  const monitor = spawnMonitor(l, true, timeoutMs);
  const startPipe = monitor.child.stdio[START_PIPE_FD] as Writable;
  startPipe.on('error', () => undefined);
  startPipe.write('0');
  const readyLine = firstLine(monitor.child.stdio[ATTACH_PIPE_FD] as Readable, timeoutMs);
  const abandon = async (): Promise<void> => {
    // An ended pipe fails a runtime still waiting (an empty spec) should the kill come too late.
    startPipe.destroy();
    const monitorPid = await readPid(l.conmonPidFile);
    if (monitorPid !== undefined) {
      try {
        process.kill(monitorPid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  };
  return {
    ready: readyLine.then((line) => line !== undefined),
    abandon,
    async go(beforeStart) {
      if ((await readyLine) === undefined) {
        const exitCode = await Promise.race([monitor.spawned, delay(100).then(() => null)]).catch(() => null);
        return monitor.failed(exitCode, `did not open the attach socket within ${timeoutMs} ms`);
      }
      let spec: string;
      try {
        spec = await beforeStart();
      } catch (err) {
        // The runtime has not read a spec: nothing of the container exists.
        await abandon();
        throw err;
      }
      startPipe.end(spec);
      return monitor.report();
    },
  };
}

/**
 * Starts the monitor, which double-forks into its own session (so the monitor and the container
 * outlive the daemon, even a kill -9 of it) and runs `runc create`. Readiness comes over the
 * _OCI_SYNCPIPE fd protocol, podman's way: the first line says the container pid or carries
 * runc's error. The direct child exits as soon as it has forked the monitor and written the
 * monitor's pid to --conmon-pidfile. With `beforeStart` (berth-monitor's --run): see
 * WaitingMonitor.
 */
export async function launchMonitor(l: MonitorLaunch, timeoutMs: number): Promise<Launched> {
  if (l.beforeStart) return spawnWaitingMonitor(l, timeoutMs).go(l.beforeStart);
  return spawnMonitor(l, false, timeoutMs).report();
}

export async function readPid(path: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
