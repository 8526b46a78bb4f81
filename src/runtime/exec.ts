/**
 * Exec sessions run by the monitor in exec mode (`berth-monitor|conmon --exec --exec-process-spec
 * FILE`), podman's way: the monitor holds the process's stdio (a pty with -t), serves an attach socket for it, and
 * runs `runc exec`. Three pipes talk to it:
 *   sync   (fd 3): {"data": PID} once runc exec started the process (or -1 and runc's error),
 *                  then {"data": EXIT_CODE} when it exits
 *   start  (fd 4): conmon waits for a first write before doing anything; with --exec-attach
 *                  it waits for a second one after the attach socket is up
 *   attach (fd 5): {"data": 0} once the attach socket listens (with --exec-attach)
 * so a client can connect before the process runs and no output is lost.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { atomicWriteJson } from '../util/atomic.js';
import { errorMessage, systemError } from '../util/errors.js';
import { spawnProcess, type SpawnedProcess } from '../sys/spawn.js';
import { runtimeErrorMessage } from './start-error.js';

export interface ExecLaunch {
  conmonPath: string;
  runcPath: string;
  runcRoot: string;
  containerId: string;
  execId: string;
  /** Directory for this session's files: process.json, conmon's attach socket, ctl fifo, exit dir. */
  sessionDir: string;
  /** Where conmon links the short path to sessionDir (keeps the socket path under 108 bytes). */
  socketDir: string;
  /** The OCI process to run (args, env, cwd, user, terminal, capabilities...). */
  process: object;
  tty: boolean;
  stdin: boolean;
  /** Wait for a client on the attach socket before the process runs. */
  attach: boolean;
}

/** What start() reports: the process runs, or runc refused to start it (message as runc said it). */
export type ExecStart = { ok: true; pid: number } | { ok: false; message: string };

export interface ExecProcess {
  /** The session's attach socket; connect before start() when launched with attach. */
  readonly attachSocketPath: string;
  /** conmon's resize fifo ("1 HEIGHT WIDTH\n"), present with a tty. */
  readonly controlFifoPath: string;
  /** Lets runc exec run; resolves once the process is started or failed to start. */
  start(): Promise<ExecStart>;
  /** The exit code (255 when conmon went away without reporting one). */
  readonly exited: Promise<number>;
  /** Removes the session's files; call after exited. */
  cleanup(): Promise<void>;
}

const SYNC_FD = 3;
const START_FD = 4;
const ATTACH_FD = 5;

/** Splits a pipe into JSON lines of conmon's {"data": N, "message": "..."} form. */
function syncMessages(stream: Readable): () => Promise<{ data: number; message?: string } | undefined> {
  let buffered = '';
  const lines: string[] = [];
  const waiters: Array<(line: string | undefined) => void> = [];
  let ended = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      const waiter = waiters.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const finish = (): void => {
    ended = true;
    for (const w of waiters.splice(0)) w(undefined);
  };
  stream.on('end', finish);
  stream.on('close', finish);
  stream.on('error', finish);
  return async () => {
    const line = lines.shift() ?? (ended ? undefined : await new Promise<string | undefined>((resolve) => waiters.push(resolve)));
    if (line === undefined) return undefined;
    try {
      const parsed = JSON.parse(line) as { data?: unknown; message?: unknown };
      return { data: typeof parsed.data === 'number' ? parsed.data : -1, message: typeof parsed.message === 'string' ? parsed.message : undefined };
    } catch {
      return { data: -1, message: `the exec monitor sent an unreadable status: ${line}` };
    }
  };
}

export function execConmonArgs(l: ExecLaunch, processFile: string): string[] {
  const args = [
    '--api-version', '1',
    '-c', l.containerId,
    '-u', l.execId,
    '-n', l.execId,
    '-r', l.runcPath,
    '-b', l.sessionDir,
    '-p', join(l.sessionDir, 'pid'),
    '--exit-dir', join(l.sessionDir, 'exits'),
    '--socket-dir-path', l.socketDir,
    // Docker keeps no log of exec output: it goes to the attached client only.
    '-l', 'none:',
    '--log-level', 'error',
    '--exec', '--exec-process-spec', processFile,
    `--runtime-arg=--root=${l.runcRoot}`,
  ];
  if (l.attach) args.push('--exec-attach');
  if (l.tty) args.push('--terminal');
  if (l.stdin) args.push('--stdin');
  return args;
}

/** Starts conmon for one exec; resolves once it is ready for an attach (or ready to start). */
export async function launchExec(l: ExecLaunch): Promise<ExecProcess> {
  await mkdir(join(l.sessionDir, 'exits'), { recursive: true });
  await mkdir(l.socketDir, { recursive: true });
  const processFile = join(l.sessionDir, 'process.json');
  // The session dir is under the exec root (volatile, see Durability): no fsync.
  await atomicWriteJson(processFile, l.process, 'none');

  let child: SpawnedProcess;
  try {
    child = spawnProcess(l.conmonPath, execConmonArgs(l, processFile), {
      cwd: l.sessionDir,
      newSession: true,
      // fds 3-5 in this order: SYNC_FD, START_FD, ATTACH_FD.
      stdio: ['ignore', 'ignore', 'childWrites', 'childWrites', 'childReads', 'childWrites'],
      env: {
        PATH: process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        _OCI_SYNCPIPE: String(SYNC_FD),
        _OCI_STARTPIPE: String(START_FD),
        _OCI_ATTACHPIPE: String(ATTACH_FD),
      },
    });
  } catch (err) {
    await rm(l.sessionDir, { recursive: true, force: true });
    throw systemError(`cannot run ${l.conmonPath}: ${errorMessage(err)}`, err);
  }
  let stderr = '';
  const stderrPipe = child.stdio[2] as Readable;
  stderrPipe.setEncoding('utf8');
  stderrPipe.on('data', (s: string) => (stderr += s));
  stderrPipe.on('error', () => undefined);
  const spawnError = new Promise<never>((_resolve, reject) => {
    child.exited.catch((err: unknown) => reject(systemError(`cannot run ${l.conmonPath}: ${errorMessage(err)}`, err)));
  });
  spawnError.catch(() => undefined);
  const nextSync = syncMessages(child.stdio[SYNC_FD] as Readable);
  const startPipe = child.stdio[START_FD] as Writable;
  startPipe.on('error', () => undefined);
  const attachPipe = child.stdio[ATTACH_FD] as Readable;

  // First write: conmon may proceed (podman uses the pause to place conmon in a cgroup).
  startPipe.write('0');
  if (l.attach) {
    const ready = await Promise.race([syncMessages(attachPipe)(), spawnError]);
    if (ready === undefined || ready.data < 0) {
      await rm(l.sessionDir, { recursive: true, force: true });
      throw systemError(`exec ${l.execId}: the monitor did not open the attach socket${stderr ? `: ${stderr.trim()}` : ''}`);
    }
  } else {
    attachPipe.destroy();
  }

  let pidReport: Promise<ExecStart> | undefined;
  let startCalled: (report: Promise<ExecStart>) => void = () => undefined;
  const whenStarted = new Promise<Promise<ExecStart>>((resolve) => (startCalled = resolve));
  const start = (): Promise<ExecStart> => {
    if (pidReport) return pidReport;
    if (l.attach) startPipe.end('1');
    else startPipe.end();
    pidReport = nextSync().then((msg) => {
      if (msg && msg.data > 0) return { ok: true, pid: msg.data };
      const raw = msg?.message ?? (stderr.trim() || 'the exec monitor exited without starting the process');
      return { ok: false, message: runtimeErrorMessage(raw) };
    });
    startCalled(pidReport);
    return pidReport;
  };
  const exited = (async () => {
    const started = await (await whenStarted);
    if (!started.ok) return -1;
    const msg = await nextSync();
    return msg && msg.data >= 0 ? msg.data : 255;
  })();

  return {
    attachSocketPath: join(l.socketDir, l.execId, 'attach'),
    controlFifoPath: join(l.sessionDir, 'ctl'),
    start,
    exited,
    async cleanup() {
      await rm(join(l.socketDir, l.execId), { force: true });
      await rm(l.sessionDir, { recursive: true, force: true });
    },
  };
}

/**
 * Tells a monitor its terminal changed size through its control fifo ("1 HEIGHT WIDTH\n", the
 * message conmon reads). Non-blocking: with no monitor reading, this fails instead of hanging.
 */
export async function resizeTerminal(controlFifo: string, height: number, width: number): Promise<void> {
  const { open } = await import('node:fs/promises');
  const { constants } = await import('node:fs');
  const handle = await open(controlFifo, constants.O_WRONLY | constants.O_NONBLOCK);
  try {
    await handle.write(`1 ${height} ${width}\n`);
  } finally {
    await handle.close();
  }
}
