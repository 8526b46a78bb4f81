/**
 * A berthd of the test's own: data root, exec root, socket, pidfile and log in one temp dir,
 * so tests never touch /var/lib/berth or a daemon a developer is running, and everything can
 * be removed by looking under one path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berthBin, berthdBin, dockerBin } from './paths.js';
import { cleanupDir, isAlive, terminate } from './cleanup.js';
import { cleanupNetwork } from './network-cleanup.js';
import { run, sleep, type RunOptions, type RunResult } from './exec.js';

export interface DaemonOptions {
  /** Extra berthd flags, e.g. ['--debug']. */
  args?: string[];
  /** How long to wait for GET /_ping to answer. */
  startTimeoutMs?: number;
  /** The exec-root's directory name inside the temp dir (a long one tests path-length limits). */
  execRootName?: string;
  /** Run berthd inside this named network namespace (/run/netns/NAME) via nsenter --net. */
  netns?: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON when it is JSON; undefined otherwise. */
  json: unknown;
}

export interface ApiOptions {
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface TestDaemon {
  dir: string;
  socket: string;
  /** unix://SOCKET, for -H, BERTH_HOST and DOCKER_HOST. */
  host: string;
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  logPath: string;
  /** The current berthd's pid (changes on restart). */
  readonly pid: number;
  berth(args: string[], options?: RunOptions): Promise<RunResult>;
  docker(args: string[], options?: RunOptions): Promise<RunResult>;
  api(method: string, path: string, body?: unknown, options?: ApiOptions): Promise<ApiResponse>;
  /** GET /containers/{id}/json, asserting 200. */
  inspectContainer(id: string): Promise<Record<string, any>>;
  /** SIGTERM the daemon, wait for it, start a new one on the same roots. */
  restart(): Promise<void>;
  /** SIGKILL the daemon only: containers and their monitors stay, as after a crash. */
  kill9(): Promise<void>;
  /** Start a daemon on the same roots again (after kill9). */
  start(): Promise<void>;
  /** The daemon's log so far, for failure messages. */
  log(): string;
  /** Stop everything and remove the temp dir; throws if something could not be removed. */
  stop(): Promise<void>;
}

/** Live test daemons, so a runner's SIGTERM (test timeout) still cleans up. */
const live = new Set<TestDaemon>();
let signalHandlersInstalled = false;

function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void Promise.allSettled([...live].map((d) => d.stop())).finally(() => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
    });
  }
}

/** Environment for a client: only our host, never a developer's DOCKER_HOST/context. */
function clientEnv(host: string, extra?: NodeJS.ProcessEnv, dockerConfig?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_HOST: host, DOCKER_HOST: host, ...extra };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  if (dockerConfig) env.DOCKER_CONFIG = dockerConfig;
  // The docker CLI prints "What's next" hints and checks for updates otherwise.
  env.DOCKER_CLI_HINTS = 'false';
  return env;
}

/** Reads a whole response: its status, headers, text and (when the text is JSON) the parsed body. */
export function readResponse(res: IncomingMessage): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
    });
  });
}

export function apiRequest(socket: string, method: string, path: string, body?: unknown, options: ApiOptions = {}): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    let payload: Buffer | undefined;
    const headers: Record<string, string> = { ...options.headers };
    if (Buffer.isBuffer(body)) {
      payload = body;
      headers['Content-Type'] ??= 'application/octet-stream';
    } else if (typeof body === 'string') {
      payload = Buffer.from(body);
      headers['Content-Type'] ??= 'text/plain';
    } else if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body));
      headers['Content-Type'] ??= 'application/json';
    }
    if (payload) headers['Content-Length'] = String(payload.length);
    const req = request({ socketPath: socket, method, path, headers }, (res) => readResponse(res).then(resolve, reject));
    req.setTimeout(options.timeoutMs ?? 60_000, () => req.destroy(new Error(`${method} ${path}: no answer in ${options.timeoutMs ?? 60_000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function startDaemon(options: DaemonOptions = {}): Promise<TestDaemon> {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root: berthd mounts overlayfs and runs runc');
  if (!existsSync(berthdBin)) throw new Error(`${berthdBin} is missing: run npm run build`);
  installSignalHandlers();

  const dir = mkdtempSync(join(tmpdir(), 'berth-test-'));
  const dataRoot = join(dir, 'data');
  const execRoot = join(dir, options.execRootName ?? 'exec');
  const socket = join(dir, 'berth.sock');
  const pidfile = join(dir, 'berthd.pid');
  const logPath = join(dir, 'berthd.log');
  const dockerConfig = join(dir, 'docker-config');
  mkdirSync(dockerConfig);
  const host = `unix://${socket}`;
  let child: ChildProcess | undefined;
  const pastPids: number[] = [];
  let stopped = false;

  const log = (): string => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };

  const ping = async (): Promise<boolean> => {
    try {
      const r = await apiRequest(socket, 'GET', '/_ping', undefined, { timeoutMs: 2_000 });
      return r.status === 200;
    } catch {
      return false;
    }
  };

  const launch = async (): Promise<void> => {
    // Append: after a restart the log holds both daemons' output, which is what a failing
    // recovery test needs to show.
    const fd = openSync(logPath, 'a');
    try {
      const argv = ['--data-root', dataRoot, '--exec-root', execRoot, '-H', host, '--pidfile', pidfile, ...(options.args ?? [])];
      // nsenter setns()es and execs berthd in place, so the pid is berthd's own.
      const [file, args] = options.netns ? ['nsenter', [`--net=/run/netns/${options.netns}`, '--', berthdBin, ...argv]] : [berthdBin, argv];
      child = spawn(file, args, { stdio: ['ignore', fd, fd], env: { ...process.env, BERTH_TEST: '1' } });
    } finally {
      closeSync(fd);
    }
    const started = child;
    let exited: string | undefined;
    started.once('exit', (code, signal) => {
      exited = `berthd exited (${signal ?? code}) before answering /_ping`;
    });
    started.once('error', (e) => {
      exited = `cannot start berthd: ${e.message}`;
    });
    if (started.pid) pastPids.push(started.pid);
    const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
    for (;;) {
      if (exited) throw new Error(`${exited}\n--- berthd log ---\n${log()}`);
      if (await ping()) return;
      if (Date.now() > deadline) throw new Error(`berthd did not answer GET /_ping on ${socket} within ${options.startTimeoutMs ?? 20_000} ms\n--- berthd log ---\n${log()}`);
      await sleep(50);
    }
  };

  const waitExit = async (proc: ChildProcess, graceMs: number): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const done = new Promise<void>((r) => proc.once('exit', () => r()));
    if (proc.pid) await terminate(proc.pid, graceMs);
    await Promise.race([done, sleep(2_000)]);
  };

  const daemon: TestDaemon = {
    dir,
    socket,
    host,
    dataRoot,
    execRoot,
    pidfile,
    logPath,
    get pid() {
      return child?.pid ?? -1;
    },
    berth: (args, o = {}) => run(berthBin, args, { ...o, env: clientEnv(host, o.env) }),
    docker: (args, o = {}) => run(dockerBin, args, { ...o, env: clientEnv(host, o.env, dockerConfig) }),
    api: (method, path, body, o) => apiRequest(socket, method, path, body, o),
    inspectContainer: async (id) => {
      const r = await apiRequest(socket, 'GET', `/containers/${id}/json`);
      if (r.status !== 200) throw new Error(`inspect ${id} -> ${r.status}: ${r.text}`);
      return r.json as Record<string, any>;
    },
    log,
    async restart() {
      if (child) await waitExit(child, 15_000);
      await launch();
    },
    async kill9() {
      if (!child?.pid) return;
      const proc = child;
      const done = new Promise<void>((r) => proc.once('exit', () => r()));
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await done;
      }
    },
    async start() {
      if (child && child.exitCode === null && child.signalCode === null && child.pid && isAlive(child.pid)) {
        throw new Error('berthd is still running; kill9() or restart() first');
      }
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      live.delete(daemon);
      const problems = await cleanupDir({ dir, daemonPids: pastPids.filter(isAlive) });
      // Bridges and iptables chains live outside the temp dir: found by the daemon's tag.
      problems.push(...(await cleanupNetwork(execRoot)));
      if (problems.length) throw new Error(`test daemon cleanup left things behind:\n  ${problems.join('\n  ')}`);
    },
  };
  live.add(daemon);
  try {
    await launch();
  } catch (e) {
    await daemon.stop().catch(() => {});
    throw e;
  }
  return daemon;
}
