import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { CreateOptions, ExitStatus, RunOptions, RunSteps, RuntimeDriver, RuntimeState } from './types.js';
import { readJsonIfExists } from '../util/atomic.js';
import { BerthError, invalidParameter, isErrno } from '../util/errors.js';
import { Runc } from './runc.js';
import { launchMonitor, readPid, spawnWaitingMonitor, type MonitorLaunch, type MonitorReport, type WaitingMonitor } from './conmon.js';
import { CONTAINER_ID_PATTERN, ExitWatcher, readExitStatus } from './exits.js';
import { parseSignal } from './signals.js';
import { RuntimeStartError } from './errors.js';

export interface RuncDriverOptions {
  /** Root for runtime state that must not outlive a reboot (runc state, exits, sockets). */
  execRoot: string;
  runcPath?: string;
  conmonPath?: string;
  /** How long `runc create` may take before create() gives up (default 60 s). */
  createTimeoutMs?: number;
}

/** What create() remembers about a monitor, so later calls that only get an id can find it. */
interface MonitorRecord {
  bundleDir: string;
  monitorPid?: number;
}

/** Files conmon leaves in the bundle directory; removed before a new run and on delete. */
const BUNDLE_MONITOR_FILES = ['attach', 'ctl', 'winsz', 'pidfile', 'conmon.pid', 'oom'];

const MONITOR_EXIT_WAIT_MS = 10_000;

/** How long a monitor prepared at create waits for its start (docker run's comes at once). */
const PREPARED_RUN_MS = 5_000;
/** At most this many prepared monitors (each with a runc waiting under it) at a time. */
const MAX_PREPARED_RUNS = 8;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Binary names of the monitors berth can run (berth-monitor, or conmon when configured). */
const MONITOR_NAMES = ['berth-monitor', 'conmon'];

/**
 * True while PID is a live monitor for this container. Checking the command line guards against
 * a recycled pid; a zombie (parent not yet reaped it) counts as gone.
 */
async function monitorAlive(pid: number, id: string): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    return MONITOR_NAMES.includes(basename(argv[0] ?? '')) && argv.includes(id);
  } catch {
    return false;
  }
}

/**
 * Runs containers with runc, each under its own monitor (berth-monitor, or conmon when
 * configured; both speak conmon's protocol). Layout under execRoot:
 *   runc/            runc --root (container state)
 *   exits/ID         exit status written by conmon (watched for onExit)
 *   persist/ID/      conmon's persist dir: 'exit' and, after an OOM kill, 'oom'
 *   socket/ID        conmon's short symlink to the bundle, for the attach socket
 *   monitors/ID.json bundle dir and conmon pid of each container
 */
export class RuncDriver implements RuntimeDriver {
  readonly execRoot: string;
  readonly runcPath: string;
  readonly conmonPath: string;
  private readonly createTimeoutMs: number;
  private readonly runc: Runc;
  private readonly exits: ExitWatcher;
  private readonly deleting = new Map<string, Promise<void>>();
  /** Monitors started ahead of their container's start (see prepareRun), by container id. */
  private readonly prepared = new Map<string, { monitor: WaitingMonitor; options: RunOptions; persistReady: Promise<unknown>; timer: NodeJS.Timeout }>();
  /** Prepared monitors being dropped, by container id: a start or delete of the id waits. */
  private readonly dropping = new Map<string, Promise<void>>();
  /** The exec root's shared directories exist (made at the first start; nothing else removes them). */
  private rootsMade = false;

  constructor(options: RuncDriverOptions) {
    this.execRoot = options.execRoot;
    this.runcPath = options.runcPath ?? '/usr/sbin/runc';
    this.conmonPath = options.conmonPath ?? '/usr/bin/conmon';
    this.createTimeoutMs = options.createTimeoutMs ?? 60_000;
    this.runc = new Runc(this.runcPath, join(this.execRoot, 'runc'));
    this.exits = new ExitWatcher(this.exitDir);
    if (basename(this.conmonPath) === 'berth-monitor') this.run = (options, steps) => this.launch(options, { steps });
  }

  get runcRoot(): string {
    return join(this.execRoot, 'runc');
  }

  get exitDir(): string {
    return join(this.execRoot, 'exits');
  }

  persistDir(id: string): string {
    return join(this.execRoot, 'persist', id);
  }

  /**
   * The container's attach socket (SOCK_SEQPACKET, served by conmon while it runs), reached
   * through conmon's short symlink so the path stays under the 108-byte sun_path limit.
   */
  attachSocketPath(id: string): string {
    return join(this.execRoot, 'socket', id, 'attach');
  }

  /** The fifo conmon reads terminal resizes from ("1 HEIGHT WIDTH\n"). */
  async controlFifoPath(id: string): Promise<string | undefined> {
    const record = await this.record(id);
    return record ? join(record.bundleDir, 'ctl') : undefined;
  }

  private recordPath(id: string): string {
    return join(this.execRoot, 'monitors', `${id}.json`);
  }

  /** Undefined when absent, or torn by a crash mid-write (see launch): then only runc's state is known. */
  private record(id: string): Promise<MonitorRecord | undefined> {
    return readJsonIfExists<MonitorRecord>(this.recordPath(id)).catch((err: unknown) => (err instanceof SyntaxError ? undefined : Promise.reject(err)));
  }

  private checkId(id: string): void {
    if (!CONTAINER_ID_PATTERN.test(id)) throw invalidParameter(`invalid container id: ${JSON.stringify(id)}`);
  }

  async create(options: CreateOptions): Promise<{ pid: number; monitorPid: number }> {
    const { spec, ...rest } = options;
    return this.launch(rest, { spec });
  }

  /**
   * Create and start in one `runc run --detach` under berth-monitor (one runtime process fewer
   * than create + start). The monitor's start-up (its spawn and exec, the attach socket)
   * overlaps the container's preparation: only the runtime waits for the spec. Absent
   * with conmon, which has no such mode: callers prepare, create, then start.
   */
  readonly run?: (options: RunOptions, steps: RunSteps) => Promise<{ pid: number; monitorPid: number }>;

  /** create() passes the spec (conmon's create, then start); run() the steps (berth-monitor's --run). */
  private async launch(options: RunOptions, what: { spec: object } | { steps: RunSteps }): Promise<{ pid: number; monitorPid: number }> {
    const { id, bundleDir } = options;
    this.checkId(id);
    // The monitor first: it starts the runtime, whose own start-up is the longest step and
    // needs nothing of the preparation but the spec at its end (see startMonitor). The
    // preparation starts before anything awaits, so it runs while both come up.
    let specReady: Promise<object> | undefined;
    const launched = this.startMonitor(options, 'steps' in what ? { specReady: () => specReady!, beforeStart: what.steps.beforeStart } : { spec: what.spec });
    specReady = 'steps' in what ? what.steps.spec() : undefined;
    const prepared = specReady?.then(
      (spec) => ({ ok: true as const, spec }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    // However the monitor fared, the preparation must be over before anything is undone or
    // reported: its mounts and namespace are what the caller's failure path cleans up.
    const [, failedPreparation] = await Promise.all([launched.catch(() => undefined), prepared]);
    if (failedPreparation && !failedPreparation.ok) {
      // Its own error (a port in use, a missing network) says more than the monitor's.
      await this.abandon(id, bundleDir, await readPid(join(bundleDir, 'conmon.pid')));
      throw failedPreparation.err;
    }
    const { report, monitorPid } = await launched.catch(async (err: unknown) => {
      // beforeStart failed: the monitor was killed before the runtime ran.
      await this.abandon(id, bundleDir, undefined);
      throw err;
    });
    if (!report.ok) {
      await this.abandon(id, bundleDir, monitorPid);
      throw new RuntimeStartError(`OCI runtime create failed: ${report.message}`);
    }
    if (monitorPid === undefined) {
      await this.abandon(id, bundleDir, monitorPid);
      throw new RuntimeStartError('OCI runtime create failed: the container monitor did not write its pid file');
    }
    // A plain write, on the path every start waits on: nothing reads the record before this
    // start returns, and the exec root doesn't outlive a reboot (a torn record reads as absent).
    await writeFile(this.recordPath(id), JSON.stringify({ bundleDir, monitorPid } satisfies MonitorRecord));
    return { pid: report.pid, monitorPid };
  }

  /**
   * For a container about to be started for the first time (berth-monitor only): its monitor and
   * runtime are started now, the runtime waiting for its spec, and the start that follows within
   * PREPARED_RUN_MS uses them (see startMonitor), so runc's own start-up happens while the client
   * is still between its create and its start. Nothing of the container exists until that start
   * hands over the spec; unused, they are dropped (a kill: runc dies with its monitor).
   */
  prepareRun(options: RunOptions): void {
    const { id } = options;
    this.checkId(id);
    if (!this.run || this.prepared.has(id) || this.dropping.has(id) || this.prepared.size >= MAX_PREPARED_RUNS) return;
    try {
      // A bundle already there belongs to an earlier run, which the start clears first.
      if (!this.makeMonitorDirs(options)) return;
      const persistReady = this.makePersistDir(id);
      const monitor = spawnWaitingMonitor(this.monitorLaunch(options), this.createTimeoutMs);
      const timer = setTimeout(() => void this.dropPrepared(id), PREPARED_RUN_MS);
      timer.unref();
      this.prepared.set(id, { monitor, options, persistReady, timer });
    } catch {
      // The start makes its own.
    }
  }

  /** Drops the monitor prepared for ID (if any) and what it made; starts wait for that. */
  private dropPrepared(id: string): Promise<void> {
    const entry = this.prepared.get(id);
    if (!entry) return this.dropping.get(id) ?? Promise.resolve();
    this.prepared.delete(id);
    clearTimeout(entry.timer);
    const dropping = (async () => {
      await entry.monitor.abandon();
      const monitorPid = await readPid(join(entry.options.bundleDir, 'conmon.pid'));
      if (monitorPid !== undefined) await this.stopMonitor(monitorPid, id);
      await this.removeMonitorFiles(id, entry.options.bundleDir);
      await rm(entry.options.bundleDir, { recursive: true, force: true });
    })()
      .catch(() => undefined)
      .finally(() => this.dropping.delete(id));
    this.dropping.set(id, dropping);
    return dropping;
  }

  /** Drops every prepared monitor: the daemon is shutting down. */
  async dropPreparedRuns(): Promise<void> {
    await Promise.all([...this.prepared.keys()].map((id) => this.dropPrepared(id)));
  }

  /**
   * The directories the monitor needs before it starts; true when the bundle was made just now.
   * Synchronously, the few syscalls these take: queued on the thread pool they would wait behind
   * the preparation's mount and namespace work, and the monitor (then runc) with them. The exec
   * root's shared directories are made once per daemon.
   */
  private makeMonitorDirs(options: RunOptions): boolean {
    this.ensureRootsSync();
    mkdirSync(dirname(options.logPath), { recursive: true });
    return mkdirSync(options.bundleDir, { recursive: true }) !== undefined;
  }

  /**
   * The monitor writes there only at an OOM kill or the exit: the directory is made while the
   * monitor starts, and waited for before the container's process can run.
   */
  private makePersistDir(id: string): Promise<unknown> {
    const made = mkdir(this.persistDir(id), { recursive: true });
    made.catch(() => undefined);
    return made;
  }

  private monitorLaunch(options: RunOptions): MonitorLaunch {
    const { id, bundleDir } = options;
    return {
      conmonPath: this.conmonPath,
      runcPath: this.runcPath,
      runcRoot: this.runcRoot,
      id,
      bundleDir,
      conmonPidFile: join(bundleDir, 'conmon.pid'),
      containerPidFile: join(bundleDir, 'pidfile'),
      logPath: options.logPath,
      noLog: options.noLog === true,
      exitDir: this.exitDir,
      persistDir: this.persistDir(id),
      socketDir: join(this.execRoot, 'socket'),
      tty: options.tty,
      openStdin: options.openStdin,
      leaveStdinOpen: options.stdinOnce === false,
    };
  }

  /** The prepared monitor for this start, if one was made with the same options and is alive. */
  private async takePrepared(options: RunOptions): Promise<{ monitor: WaitingMonitor; persistReady: Promise<unknown> } | undefined> {
    const entry = this.prepared.get(options.id);
    if (!entry) return undefined;
    const same = (Object.keys(options) as Array<keyof RunOptions>).every((k) => options[k] === entry.options[k]);
    // One that failed on its way up (or timed out meanwhile) is cleared like an unused one, and
    // this start makes its own.
    if (!same || !(await entry.monitor.ready) || this.prepared.get(options.id) !== entry) {
      await this.dropPrepared(options.id);
      return undefined;
    }
    this.prepared.delete(options.id);
    clearTimeout(entry.timer);
    return entry;
  }

  /**
   * The monitor's directories and files, then the monitor itself; config.json is written before
   * the runtime runs (with --run: handed to the runtime waiting for it, see spawnWaitingMonitor).
   */
  private async startMonitor(
    options: RunOptions,
    config: { spec: object } | { specReady: () => Promise<object>; beforeStart: () => Promise<void> },
  ): Promise<{ report: MonitorReport; monitorPid: number | undefined }> {
    const { id, bundleDir } = options;
    const configPath = join(bundleDir, 'config.json');
    // config.json is written afresh by every start, and nothing reads it before this write is
    // over, so no fsync (the exec root doesn't outlive a reboot). It is renamed into place: with
    // --run, what it replaces is the monitor's link to the start pipe.
    const writeConfig = async (text: string): Promise<void> => {
      const temp = `${configPath}.next`;
      await writeFile(temp, text);
      await rename(temp, configPath);
    };
    const prepared = 'specReady' in config ? await this.takePrepared(options) : undefined;
    let persistReady: Promise<unknown>;
    if (prepared) {
      persistReady = prepared.persistReady;
    } else {
      await this.dropping.get(id);
      // A restarted container reuses its id and bundle: stale exit records would read as a new
      // exit, so they go (the persist dir with them). A bundle made just now has none: a delete
      // removes the monitor's files before the bundle.
      if (!this.makeMonitorDirs(options)) await this.removeMonitorFiles(id, bundleDir);
      persistReady = this.makePersistDir(id);
    }
    if ('spec' in config) {
      await Promise.all([writeConfig(JSON.stringify(config.spec)), persistReady]);
      return launchMonitor(this.monitorLaunch(options), this.createTimeoutMs);
    }
    // The runtime reads the spec from the start pipe; the file is for later execs, written
    // meanwhile and waited for before the start answers.
    let configWritten: Promise<void> = Promise.resolve();
    const beforeStart = async (): Promise<string> => {
      const spec = JSON.stringify(await config.specReady());
      configWritten = writeConfig(spec);
      configWritten.catch(() => undefined);
      await Promise.all([persistReady, config.beforeStart()]);
      return spec;
    };
    const monitor = prepared?.monitor ?? spawnWaitingMonitor(this.monitorLaunch(options), this.createTimeoutMs);
    const launched = await monitor.go(beforeStart);
    await configWritten;
    return launched;
  }

  /** Undo a half-made container so the id can be used again. */
  private async abandon(id: string, bundleDir: string, monitorPid: number | undefined): Promise<void> {
    await this.runc.delete(id, true).catch(() => undefined);
    if (monitorPid !== undefined) await this.stopMonitor(monitorPid, id);
    await this.removeMonitorFiles(id, bundleDir);
  }

  async start(id: string): Promise<void> {
    this.checkId(id);
    try {
      await this.runc.start(id);
    } catch (err) {
      if (err instanceof BerthError && err.kind === 'system') {
        throw new RuntimeStartError(`OCI runtime start failed: ${err.message}`);
      }
      throw err;
    }
  }

  async kill(id: string, signal: string | number): Promise<void> {
    this.checkId(id);
    await this.runc.kill(id, parseSignal(signal));
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    this.checkId(id);
    const state = await this.runc.state(id);
    return state ? { status: state.status, pid: state.pid } : undefined;
  }

  async pause(id: string): Promise<void> {
    this.checkId(id);
    await this.runc.pause(id);
  }

  async resume(id: string): Promise<void> {
    this.checkId(id);
    await this.runc.resume(id);
  }

  /**
   * One delete per container at a time: a removal that doesn't wait for the delete an exit
   * started (see ContainerManager.handleExit) and a later start of the same id share it.
   */
  delete(id: string, force: boolean): Promise<void> {
    this.checkId(id);
    const pending = this.deleting.get(id);
    if (pending) return pending;
    const deleting = this.dropPrepared(id).then(() => this.deleteNow(id, force)).finally(() => {
      if (this.deleting.get(id) === deleting) this.deleting.delete(id);
    });
    this.deleting.set(id, deleting);
    return deleting;
  }

  hasState(id: string): boolean {
    this.checkId(id);
    return this.runc.knows(id) || existsSync(this.recordPath(id));
  }

  /** Ids runc keeps state for (one directory each under its root). */
  async ids(): Promise<string[]> {
    const entries = await readdir(this.runcRoot).catch(() => [] as string[]);
    return entries.filter((name) => CONTAINER_ID_PATTERN.test(name));
  }

  private async deleteNow(id: string, force: boolean): Promise<void> {
    const record = await this.record(id);
    await this.runc.delete(id, force);
    // After a forced delete conmon still has to notice the kill and write the exit file; wait
    // for it so that file doesn't reappear after the cleanup below.
    const monitorPid = record?.monitorPid ?? (record ? await readPid(join(record.bundleDir, 'conmon.pid')) : undefined);
    if (monitorPid !== undefined) await this.stopMonitor(monitorPid, id);
    await this.removeMonitorFiles(id, record?.bundleDir);
    // The bundle (config.json) is written afresh by every create: once runc has let go of the
    // container nothing reads it, and left behind it piled up one per container ever run.
    if (record?.bundleDir) await rm(record.bundleDir, { recursive: true, force: true });
    await rm(this.recordPath(id), { force: true });
  }

  /** Waits for conmon to finish on its own, and kills it only if it hangs on. */
  private async stopMonitor(pid: number, id: string): Promise<void> {
    const deadline = Date.now() + MONITOR_EXIT_WAIT_MS;
    while (Date.now() < deadline) {
      if (!(await monitorAlive(pid, id))) return;
      await sleep(25);
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      if (!isErrno(err, 'ESRCH')) throw err;
    }
  }

  private async removeMonitorFiles(id: string, bundleDir: string | undefined): Promise<void> {
    this.exits.forget(id);
    const paths = [join(this.exitDir, id), join(this.execRoot, 'socket', id)];
    if (bundleDir) paths.push(...BUNDLE_MONITOR_FILES.map((f) => join(bundleDir, f)));
    await Promise.all([
      ...paths.map((p) =>
        unlink(p).catch((err: unknown) => {
          if (!isErrno(err, 'ENOENT')) throw err;
        }),
      ),
      rm(this.persistDir(id), { recursive: true, force: true }),
    ]);
  }

  /**
   * The exec root's shared directories, made once per daemon rather than on every start (the
   * exec root belongs to this daemon; nothing else removes them while it runs).
   */
  private ensureRootsSync(): void {
    if (this.rootsMade) return;
    for (const dir of [this.runcRoot, this.exitDir, join(this.execRoot, 'socket'), join(this.execRoot, 'persist'), dirname(this.recordPath('x'))]) {
      mkdirSync(dir, { recursive: true });
    }
    this.rootsMade = true;
  }

  async exitStatus(id: string): Promise<ExitStatus | undefined> {
    this.checkId(id);
    return readExitStatus(this.exitDir, this.persistDir(id), id);
  }

  /**
   * Subscribes to exits recorded by any of this exec root's monitors, including ones started by
   * an earlier daemon. Exits that happened before subscribing are not replayed: after
   * subscribing, call exitStatus() for the containers believed to be running.
   */
  onExit(callback: (id: string) => void): () => void {
    return this.exits.subscribe(callback);
  }
}
