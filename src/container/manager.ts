/**
 * The container lifecycle: create, start, stop, kill, wait, remove, rename, restart, and the
 * exit handling that keeps state true. Every transition of one container runs under that
 * container's lock, so an exit racing a stop or a remove is applied once, in order.
 */
import { mkdir, writeFile, readFile, chown, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, invalidParameter, isBerthError, BerthError, errorMessage, systemError } from '../util/errors.js';
import { newId, randomName } from '../util/ids.js';
import type { ImageService } from '../image/types.js';
import type { ContainerLayerService } from '../snapshot/types.js';
import type { ResolvedUser, RunOptions, RuntimeDriver, SpecInput, SpecMount } from '../runtime/types.js';
import { ContainerStore, validateContainerName } from './store.js';
import { initialState, isActive, type ContainerRecord } from './model.js';
import { parseCreateBody } from './create.js';
import { RestartScheduler, shouldRestartAfterExit, shouldRestartOnDaemonStart } from './restart.js';
import { HealthMonitor, type Probe } from './health.js';
import { checkHostConfig, hostLimits, runtimeLimits, type HostLimits } from './resources.js';
import { updateContainer } from './update.js';
import { logDriverOf } from './logconfig.js';

export interface EventSink {
  publish(type: 'container', action: string, id: string, attributes?: Record<string, string>): void;
}

/** What a hook adds to the runtime spec of one run. */
export interface HookContribution {
  mounts?: SpecMount[];
  /** The network namespace to use; the last hook that says wins. */
  network?: SpecInput['network'];
  env?: string[];
}

/**
 * A subsystem that takes part in every container's life (networking, volumes) without the
 * lifecycle code knowing it. Hooks run in order; a throw from create/prepare refuses the step.
 */
export interface ContainerHook {
  /**
   * At create, after the config is merged: validate and record what the hook needs. `body` is
   * the raw create request, for fields only one subsystem reads (NetworkingConfig, MacAddress).
   */
  create?(record: ContainerRecord, body: Record<string, unknown>): Promise<void>;
  /**
   * This hook writes the container's /etc/hosts and /etc/resolv.conf in prepare (networking,
   * for every network mode): the lifecycle then writes only /etc/hostname, and the hook need
   * not wait for it.
   */
  readonly ownsEtcFiles?: boolean;
  /**
   * Before the runtime creates the container. The rootfs is mounted meanwhile: a hook that
   * reads it (volumes copying image content) awaits `rootfs`, the others don't wait for it.
   */
  prepare?(record: ContainerRecord, rootfs: Promise<string>): Promise<HookContribution>;
  /**
   * After the runtime created the container (its monitor and attach socket exist) and before
   * the process runs: attach sessions waiting for the start connect here and miss no output.
   */
  beforeStart?(record: ContainerRecord): Promise<void>;
  /** After the run ended (or a start failed): release per-run resources. Must not throw. */
  stopped?(record: ContainerRecord, options?: { removing: boolean }): Promise<void>;
  /** When the container is removed. Must not throw. */
  removed?(record: ContainerRecord, options: { removeVolumes: boolean }): Promise<void>;
}

export interface ContainerDeps {
  /** Subsystems that join in create/start/stop/remove (network, volumes). */
  hooks?: ContainerHook[];
  store: ContainerStore;
  images: ImageService;
  layers: ContainerLayerService;
  runtime: RuntimeDriver;
  buildSpec: (input: SpecInput) => object;
  resolveUser: (rootfs: string, user: string) => Promise<ResolvedUser>;
  /** 126, 127 or 125 for a runtime error message (docker's exit codes for run). */
  classifyStartError: (message: string) => number;
  events: EventSink;
  /** Root for per-container runtime bundles (config.json, monitor files). */
  bundleRoot: string;
  debug: (message: string) => void;
  /** Runs a HEALTHCHECK command inside a running container; without it healthchecks don't run. */
  probe?: Probe;
  /** Applies new cgroup limits to a running container (`runc update`). */
  updateResources?: (id: string, resources: Record<string, unknown>) => Promise<void>;
  /** The host's CPUs and rlimits that limits are checked against (tests may fake them). */
  hostLimits?: () => HostLimits;
  /** docker-init: whether containers without HostConfig.Init get it, and the binary. */
  init?: { byDefault: boolean; path: string };
}

export type WaitCondition = 'not-running' | 'next-exit' | 'removed';

const DEFAULT_STOP_TIMEOUT_SECONDS = 10;
/** Where dockerd mounts its init in a container, and berth's default source (Debian's tini). */
const DOCKER_INIT = '/sbin/docker-init';
const DEFAULT_INIT_BINARY = '/usr/bin/tini-static';

export class ContainerManager {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly exitWaiters = new Map<string, Array<(code: number) => void>>();
  private readonly removeWaiters = new Map<string, Array<(code: number) => void>>();
  private unsubscribeExit?: () => void;
  private readonly restarts = new RestartScheduler();
  /** Runtime deletes that an auto-removal didn't wait for (see handleExit), by container id. */
  private readonly runtimeCleanups = new Map<string, Promise<void>>();
  /** Containers being stopped by `restart`: an --rm one among them is not removed at its exit. */
  private readonly manualRestarts = new Set<string>();
  private readonly health: HealthMonitor;

  constructor(private readonly deps: ContainerDeps) {
    this.health = new HealthMonitor({
      probe: deps.probe ?? (async () => ({ exitCode: -1, output: 'healthchecks are not available', timedOut: false })),
      save: (record) => (this.deps.store.tryGet(record.id) ? this.deps.store.save(record) : Promise.resolve()),
      changed: (record, status) => this.publish(`health_status: ${status}`, record),
      debug: deps.debug,
    });
  }

  private get hooks(): ContainerHook[] {
    return this.deps.hooks ?? [];
  }

  /** Runs a release hook on every subsystem; one failing doesn't stop the others. */
  private async runReleaseHooks(step: 'stopped' | 'removed', record: ContainerRecord, options: { removeVolumes?: boolean; removing?: boolean } = {}): Promise<void> {
    for (const hook of this.hooks) {
      try {
        if (step === 'stopped') await hook.stopped?.(record, { removing: options.removing === true });
        else await hook.removed?.(record, { removeVolumes: options.removeVolumes === true });
      } catch (err) {
        this.deps.debug(`${step} hook for ${record.id}: ${errorMessage(err)}`);
      }
    }
  }

  get store(): ContainerStore {
    return this.deps.store;
  }

  /** Serialises transitions per container. */
  private withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  /**
   * Start-up recovery: containers that were running when the previous daemon died are either
   * still running under their monitor (kept) or have exited meanwhile (their exit is read back).
   */
  async recover(): Promise<void> {
    this.unsubscribeExit = this.deps.runtime.onExit((id) => void this.handleExit(id));
    // Runtime state without a container record: a removal's deferred `runc delete` (see
    // handleExit) that a crash cut short. Finish it, so no runc state or cgroup is left behind.
    const known = new Set(this.deps.store.all().map((r) => r.id));
    for (const id of (await this.deps.runtime.ids?.()) ?? []) {
      if (!known.has(id)) await this.deps.runtime.delete(id, true).catch((err) => this.deps.debug(`runc delete ${id}: ${errorMessage(err)}`));
    }
    for (const record of this.deps.store.all()) {
      if (record.state.status === 'restarting') {
        // The previous daemon died during a back-off: the run had already ended and been cleaned up.
        record.state.status = 'exited';
        await this.deps.store.save(record);
        continue;
      }
      if (record.hostConfig.AutoRemove && record.state.status === 'created' && (await this.deps.runtime.exitStatus(record.id).catch(() => undefined))) {
        // Ran and ended during a start whose "running" was never written (see startLocked).
        await this.remove(record.id, { force: true, removeVolumes: true }).catch((err) => this.deps.debug(`auto-remove ${record.id}: ${errorMessage(err)}`));
        continue;
      }
      if (!isActive(record.state.status)) continue;
      const state = await this.deps.runtime.state(record.id).catch(() => undefined);
      if (state && (state.status === 'running' || state.status === 'paused')) {
        record.state.status = state.status;
        record.state.pid = state.pid;
        await this.deps.store.save(record);
        this.health.start(record, { fresh: false });
        continue;
      }
      await this.handleExit(record.id);
    }
    // Restart policies at daemon start (dockerd's restore): started together, failures logged.
    const comeBack = this.deps.store.all().filter((r) => !isActive(r.state.status) && shouldRestartOnDaemonStart(r));
    await Promise.allSettled(
      comeBack.map((r) => this.start(r.id).catch((err) => this.deps.debug(`restart policy: start ${r.id}: ${errorMessage(err)}`))),
    );
  }

  close(): void {
    this.unsubscribeExit?.();
    this.restarts.close();
    this.health.close();
  }

  async create(body: Record<string, unknown>, requestedName: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
    const imageRef = body.Image;
    if (typeof imageRef !== 'string' || imageRef === '') throw invalidParameter('Config.Image: an image name is required');
    const image = this.deps.images.resolve(imageRef);
    const { config, hostConfig, argv } = parseCreateBody(body, image);
    const warnings = checkHostConfig(hostConfig, (this.deps.hostLimits ?? hostLimits)());

    const id = newId();
    const name = requestedName ? validateContainerName(requestedName) : randomName((n) => this.deps.store.nameTaken(n));
    this.deps.store.reserveName(name, id);
    try {
      if (!config.Hostname) config.Hostname = id.slice(0, 12);
      const dir = this.deps.store.dir(id);
      await Promise.all([mkdir(dir, { recursive: true, mode: 0o710 }), this.deps.layers.create(id)]);
      const record: ContainerRecord = {
        id,
        name,
        created: new Date().toISOString(),
        image: image.id,
        imageRef,
        path: argv[0]!,
        args: argv.slice(1),
        config,
        hostConfig,
        state: initialState(),
        restartCount: 0,
        logPath: join(dir, `${id}-json.log`),
        hostnamePath: join(dir, 'hostname'),
        hostsPath: join(dir, 'hosts'),
        resolvConfPath: join(dir, 'resolv.conf'),
      };
      for (const hook of this.hooks) await hook.create?.(record, body);
      await this.deps.store.save(record);
      this.publish('create', record);
      // `docker run` starts it next: its monitor and runtime come up meanwhile (see
      // RuntimeDriver.prepareRun), once this answer is on its way.
      if (this.deps.runtime.prepareRun) setImmediate(() => this.deps.runtime.prepareRun?.(this.runOptions(record)));
      return { Id: id, Warnings: warnings };
    } catch (err) {
      this.deps.store.releaseName(name);
      await this.deps.layers.remove(id).catch(() => undefined);
      await this.deps.store.delete(id).catch(() => undefined);
      throw err;
    }
  }

  async start(idOrName: string): Promise<'started' | 'alreadyRunning'> {
    const record = this.deps.store.get(idOrName);
    let started = false;
    let exitedDuringStart = false;
    try {
      const outcome = await this.withLock(record.id, async () => {
        if (record.state.status === 'paused') throw conflict('cannot start a paused container, try unpause instead');
        if (isActive(record.state.status)) return 'alreadyRunning' as const;
        if (record.state.status === 'removing' || record.state.status === 'dead') {
          throw conflict(`container ${record.id} is marked for removal and cannot be started`);
        }
        started = true;
        this.restarts.reset(record.id);
        exitedDuringStart = await this.startLocked(record);
        return 'started' as const;
      });
      // A process over before the start answered (`runc run --detach` runs it during the start)
      // has its exit applied first, so a client inspecting right after sees it exited, as it
      // would have after a slower start.
      if (exitedDuringStart) await this.handleExit(record.id).catch((err) => this.deps.debug(`exit of ${record.id}: ${errorMessage(err)}`));
      return outcome;
    } catch (err) {
      // dockerd removes an --rm container whose start failed, and wakes `wait --condition removed`.
      if (started && record.hostConfig.AutoRemove) {
        for (const resolve of this.exitWaiters.get(record.id) ?? []) resolve(record.state.exitCode);
        this.exitWaiters.delete(record.id);
        await this.remove(record.id, { force: true, removeVolumes: true }).catch(() => undefined);
      }
      throw err;
    }
  }

  /** What the runtime's monitor is started with; none of it can change between create and start. */
  private runOptions(record: ContainerRecord): RunOptions {
    return {
      id: record.id,
      bundleDir: join(this.deps.bundleRoot, record.id),
      logPath: record.logPath,
      noLog: logDriverOf(record.hostConfig) === 'none',
      tty: record.config.Tty === true,
      openStdin: record.config.OpenStdin === true,
      // docker closes a container's stdin when its attached client's input ends only for
      // StdinOnce without a TTY; a TTY's stdin stays open for the next attach.
      stdinOnce: record.config.StdinOnce === true && record.config.Tty !== true,
    };
  }

  /** Starts the container; true when its process has already exited (apply it outside the lock). */
  private async startLocked(record: ContainerRecord): Promise<boolean> {
    const { runtime, layers, images } = this.deps;
    // Errors of the hooks (networking: "port is already allocated", "network X not found") are
    // dockerd's own, not the runtime's: they keep their message without the OCI prefix.
    let inHooks = false;
    let overAlready = false;
    try {
      // A previous run may have left runc state behind (a crash between exit and cleanup).
      if (runtime.hasState?.(record.id) ?? true) await runtime.delete(record.id, true).catch(() => undefined);
      const launch = this.runOptions(record);
      const prepare = async (): Promise<object> => {
        // The mount, the /etc files and the hooks run together; only the user, the working dir
        // and hooks that copy image content (volumes) wait for the rootfs. The hooks follow the
        // generic /etc files, which networking rewrites for its mode.
        const mounted = layers.mount(record.id, images.layerPaths(record.image), { ephemeral: record.hostConfig.AutoRemove === true });
        const rootfs = mounted.then((layer) => layer.mergedDir);
        const etcOwned = this.hooks.some((hook) => hook.ownsEtcFiles);
        const etcWritten = this.writeEtcFiles(record, etcOwned);
        // Without an owner, the hooks follow the generic files (none of them rewrites them then).
        const hooked = (etcOwned ? Promise.resolve() : etcWritten).then(() => this.prepareHooks(record, rootfs));
        const userReady = rootfs.then(async (dir) => {
          const user = await this.deps.resolveUser(dir, record.config.User ?? '');
          await this.ensureWorkingDir(dir, record.config.WorkingDir || '/', user);
          return user;
        });
        // Everything settles before a failure is reported: the clean-up must not race a hook
        // still making a namespace.
        const [layerResult, hookResult, userResult, etcResult] = await Promise.allSettled([mounted, hooked, userReady, etcWritten]);
        // The mount's failure first: hooks that wait for the rootfs fail with it.
        if (layerResult.status === 'rejected') throw layerResult.reason;
        if (etcResult.status === 'rejected') throw etcResult.reason;
        if (hookResult.status === 'rejected') {
          inHooks = true;
          throw hookResult.reason;
        }
        if (userResult.status === 'rejected') throw userResult.reason;
        const layer = layerResult.value;
        const contributed = hookResult.value;
        const user = userResult.value;
        const cwd = record.config.WorkingDir || '/';
        const init = await this.initFor(record);
        return this.deps.buildSpec({
          rootfs: layer.mergedDir,
          readonlyRootfs: record.hostConfig.ReadonlyRootfs === true,
          args: init ? [DOCKER_INIT, '--', record.path, ...record.args] : [record.path, ...record.args],
          env: withHome([...(record.config.Env ?? []), ...contributed.env!], user),
          cwd,
          user,
          hostname: record.config.Hostname ?? record.id.slice(0, 12),
          domainname: record.config.Domainname || undefined,
          tty: record.config.Tty === true,
          mounts: [
            { destination: '/etc/resolv.conf', type: 'bind', source: record.resolvConfPath, options: ['rbind', 'rprivate'] },
            { destination: '/etc/hostname', type: 'bind', source: record.hostnamePath, options: ['rbind', 'rprivate'] },
            { destination: '/etc/hosts', type: 'bind', source: record.hostsPath, options: ['rbind', 'rprivate'] },
            ...contributed.mounts!,
            ...(init ? [{ destination: DOCKER_INIT, type: 'bind', source: init, options: ['rbind', 'ro', 'rprivate'] }] : []),
          ],
          network: contributed.network ?? (record.hostConfig.NetworkMode === 'host' ? 'host' : 'new'),
          capAdd: record.hostConfig.CapAdd ?? undefined,
          capDrop: record.hostConfig.CapDrop ?? undefined,
          privileged: record.hostConfig.Privileged === true,
          cgroupsPath: `/berth/${record.id}`,
          shmSize: record.hostConfig.ShmSize,
          ...runtimeLimits(record.hostConfig),
        });
      };
      // Attached clients connect between the monitor being up and the process running.
      const beforeStart = async (): Promise<void> => {
        for (const hook of this.hooks) await hook.beforeStart?.(record);
      };
      let pid: number;
      if (runtime.run) {
        // The monitor comes up while the container is prepared (see RuntimeDriver.run).
        ({ pid } = await runtime.run(launch, { spec: prepare, beforeStart }));
      } else {
        ({ pid } = await runtime.create({ ...launch, spec: await prepare() }));
        await beforeStart();
        await runtime.start(record.id);
      }
      record.state = {
        ...record.state,
        status: 'running',
        pid,
        exitCode: 0,
        error: '',
        oomKilled: false,
        startedAt: new Date().toISOString(),
        stoppedByUser: false,
      };
      // An --rm container whose process is already over is removed next: writing "running"
      // first would only delay that. A crash in between leaves it "created" with its exit
      // recorded, which recovery removes.
      overAlready = record.hostConfig.AutoRemove === true && (await runtime.exitStatus(record.id)) !== undefined;
      if (!overAlready) await this.deps.store.saveState(record);
      this.publish('start', record);
      this.health.start(record);
    } catch (err) {
      const message = errorMessage(err);
      const code = this.deps.classifyStartError(message);
      await runtime.delete(record.id, true).catch(() => undefined);
      await this.runReleaseHooks('stopped', record);
      await layers.unmount(record.id).catch(() => undefined);
      record.state = { ...record.state, status: record.state.startedAt === '0001-01-01T00:00:00Z' ? 'created' : 'exited', exitCode: code === 125 ? 128 : code, error: message, pid: 0 };
      if (code !== 125) record.state.status = 'exited';
      await this.deps.store.save(record);
      if (isBerthError(err) && (err.kind !== 'system' || inHooks)) throw err;
      // dockerd reports a missing or non-executable entrypoint as a bad request (400); the CLI
      // turns the message into exit 127/126.
      throw new BerthError(code === 125 ? 'system' : 'invalidParameter', `failed to create task for container: OCI runtime create failed: ${message}`);
    }
    // The process may already have exited before we recorded it as running.
    return overAlready || (await runtime.exitStatus(record.id)) !== undefined;
  }

  /** Each hook's part of the container (mounts, env, network); their errors are dockerd's own. */
  private async prepareHooks(record: ContainerRecord, rootfs: Promise<string>): Promise<HookContribution> {
    const contributed: HookContribution = { mounts: [], env: [] };
    for (const hook of this.hooks) {
      const part = await hook.prepare?.(record, rootfs);
      if (!part) continue;
      contributed.mounts!.push(...(part.mounts ?? []));
      contributed.env!.push(...(part.env ?? []));
      if (part.network) contributed.network = part.network;
    }
    return contributed;
  }

  /**
   * The init binary when this container runs one (HostConfig.Init, else the daemon's "init"),
   * as dockerd: bind-mounted read-only at /sbin/docker-init and run as PID 1 with the command
   * after "--", so signals reach the command and orphans are reaped.
   */
  private async initFor(record: ContainerRecord): Promise<string | undefined> {
    const wanted = typeof record.hostConfig.Init === 'boolean' ? record.hostConfig.Init : (this.deps.init?.byDefault ?? false);
    if (!wanted) return undefined;
    const path = this.deps.init?.path ?? DEFAULT_INIT_BINARY;
    if (!(await stat(path).catch(() => undefined))?.isFile()) throw systemError(`docker-init binary not found at ${path} (install Debian's tini package or set daemon.json "init-path")`);
    return path;
  }

  private async ensureWorkingDir(rootfs: string, cwd: string, user: ResolvedUser): Promise<void> {
    if (cwd === '/') return;
    const target = join(rootfs, cwd);
    // Resolve against the rootfs only: a symlinked component must not lead outside it.
    if (!target.startsWith(rootfs + '/')) throw invalidParameter(`invalid working directory: ${cwd}`);
    try {
      await stat(target);
    } catch {
      await mkdir(target, { recursive: true, mode: 0o755 });
      await chown(target, user.uid, user.gid).catch(() => undefined);
    }
  }

  /** /etc/hostname, and unless a hook owns them (ownsEtcFiles) a plain /etc/hosts and /etc/resolv.conf. */
  private async writeEtcFiles(record: ContainerRecord, hostnameOnly: boolean): Promise<void> {
    const hostname = record.config.Hostname ?? record.id.slice(0, 12);
    const written = writeFile(record.hostnamePath, `${hostname}\n`);
    if (hostnameOnly) return written;
    await written;
    await writeFile(
      record.hostsPath,
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
    );
    let resolv = '';
    try {
      // As docker does: the host's resolvers minus loopback ones, which mean nothing in a new netns.
      resolv = (await readFile('/etc/resolv.conf', 'utf8'))
        .split('\n')
        .filter((line) => !/^\s*nameserver\s+(127\.|::1)/.test(line))
        .join('\n');
    } catch {
      resolv = '';
    }
    await writeFile(record.resolvConfPath, resolv.endsWith('\n') || resolv === '' ? resolv : `${resolv}\n`);
  }

  /** Reads the monitor's record of an exit and applies it once. */
  async handleExit(id: string): Promise<void> {
    const record = this.deps.store.tryGet(id);
    if (!record || record.id !== id) return;
    /** Lets an --rm container's deferred `runc delete` go (see below). */
    let releaseRuntime: (() => void) | undefined;
    // An --rm container is removed when it exits, unless a `restart` stopped it (dockerd's
    // HasBeenManuallyRestarted): then it starts again.
    const removing = record.hostConfig.AutoRemove === true && !this.manualRestarts.has(id);
    try {
      await this.withLock(id, async () => {
        // 'restarting': this run's exit was already applied and a restart is pending.
        if (!isActive(record.state.status) || record.state.status === 'restarting') return;
        const exit = await this.deps.runtime.exitStatus(id);
        const state = exit ? undefined : await this.deps.runtime.state(id).catch(() => undefined);
        if (!exit && state && state.status !== 'stopped') return; // still running
        record.state = {
          ...record.state,
          status: 'exited',
          pid: 0,
          // No exit recorded and no process: the monitor itself died; docker reports 255 then.
          exitCode: exit ? exit.exitCode : 255,
          oomKilled: exit?.oomKilled ?? false,
          finishedAt: (exit?.finishedAt ?? new Date()).toISOString(),
        };
        this.health.stop(id);
        const restart = shouldRestartAfterExit(record.hostConfig.RestartPolicy, {
          exitCode: record.state.exitCode,
          stoppedByUser: record.state.stoppedByUser,
          restartCount: record.restartCount,
        });
        // An --rm container is removed next, and nothing in that removal needs runc's state gone
        // (a new container gets a new id; the overlay and files are berthd's own), so `runc delete`
        // (a Go process start and the cgroup teardown: the slowest step after an exit) waits until
        // the removal has answered `wait?condition=removed`: even its spawn, a fork of this daemon,
        // would stall the event loop on that path. Shutdown waits for it (drain) and start-up
        // recovery finishes one a crash interrupted (runtime state without a record).
        const deferRuntime = removing && !restart;
        const deleteRuntime = (): Promise<void> => this.deps.runtime.delete(id, true).catch((err) => this.deps.debug(`runc delete ${id}: ${errorMessage(err)}`));
        if (deferRuntime) {
          const removalOver = new Promise<void>((resolve) => (releaseRuntime = resolve));
          this.trackRuntimeCleanup(id, removalOver.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(deleteRuntime));
        }
        // The clean-ups don't depend on each other once the process is gone; run together they
        // shorten the exit -> removed path that every `run --rm` waits on.
        await Promise.all([
          deferRuntime ? undefined : deleteRuntime(),
          this.runReleaseHooks('stopped', record, { removing: deferRuntime }),
          this.deps.layers.unmount(id).catch((err) => this.deps.debug(`unmount ${id}: ${errorMessage(err)}`)),
        ]);
        if (restart) record.state.status = 'restarting';
        // An --rm container's record is deleted next: writing its exit first would only delay the
        // removal `wait?condition=removed` answers on. Should the daemon die in between, the
        // record still says running and recovery applies this exit again (and removes it).
        if (!deferRuntime) await this.deps.store.saveState(record);
        this.publish('die', record, { exitCode: String(record.state.exitCode) });
        for (const resolve of this.exitWaiters.get(id) ?? []) resolve(record.state.exitCode);
        this.exitWaiters.delete(id);
        if (restart) {
          const ranFor = Date.parse(record.state.finishedAt) - Date.parse(record.state.startedAt);
          this.restarts.schedule(id, ranFor, () => void this.restartAfterBackoff(id));
        }
      });
      if (removing && this.deps.store.tryGet(id)) {
        await this.remove(id, { force: true, removeVolumes: true }).catch(async (err) => {
          this.deps.debug(`auto-remove ${id}: ${errorMessage(err)}`);
          // The exit wasn't written (see above): the record that stays must say how it ended.
          if (this.deps.store.tryGet(id)) await this.deps.store.saveState(record).catch(() => undefined);
        });
      }
    } finally {
      releaseRuntime?.();
    }
  }

  private trackRuntimeCleanup(id: string, cleanup: Promise<void>): void {
    this.runtimeCleanups.set(id, cleanup);
    void cleanup.finally(() => {
      if (this.runtimeCleanups.get(id) === cleanup) this.runtimeCleanups.delete(id);
    });
  }

  /** Resolves when the runtime deletes that removals didn't wait for have finished. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.runtimeCleanups.values(), this.deps.runtime.dropPreparedRuns?.()]);
  }

  /** A restart policy's restart, once the back-off has passed. A failed start is one more exit. */
  private async restartAfterBackoff(id: string): Promise<void> {
    const record = this.deps.store.tryGet(id);
    if (!record) return;
    try {
      const exited = await this.withLock(id, async () => {
        if (record.state.status !== 'restarting') return false;
        record.restartCount++;
        return this.startLocked(record);
      });
      if (exited) void this.handleExit(id);
    } catch (err) {
      this.deps.debug(`restart policy: start ${id}: ${errorMessage(err)}`);
      await this.withLock(id, async () => {
        if (record.state.status !== 'exited') return;
        const again = shouldRestartAfterExit(record.hostConfig.RestartPolicy, {
          exitCode: record.state.exitCode,
          stoppedByUser: record.state.stoppedByUser,
          restartCount: record.restartCount,
        });
        if (!again) return;
        record.state.status = 'restarting';
        await this.deps.store.save(record);
        this.restarts.schedule(id, 0, () => void this.restartAfterBackoff(id));
      });
    }
  }

  /** Stops a pending restart: the container stays exited. False if it wasn't waiting to restart. */
  private cancelRestart(record: ContainerRecord): Promise<boolean> {
    return this.withLock(record.id, async () => {
      if (record.state.status !== 'restarting') return false;
      this.restarts.cancel(record.id);
      record.state.status = 'exited';
      record.state.stoppedByUser = true;
      await this.deps.store.save(record);
      return true;
    });
  }

  async stop(idOrName: string, timeoutSeconds?: number, signal?: string): Promise<'stopped' | 'notRunning'> {
    const record = this.deps.store.get(idOrName);
    if (record.state.status === 'restarting' && (await this.cancelRestart(record))) return 'stopped';
    if (!isActive(record.state.status)) return 'notRunning';
    record.state.stoppedByUser = true;
    const exited = this.waitNextExit(record.id);
    const stopSignal = signal || record.config.StopSignal || 'SIGTERM';
    const timeout = timeoutSeconds ?? (typeof record.config.StopTimeout === 'number' ? record.config.StopTimeout : DEFAULT_STOP_TIMEOUT_SECONDS);
    if (record.state.status === 'paused') await this.deps.runtime.resume(record.id).catch(() => undefined);
    await this.deps.runtime.kill(record.id, stopSignal).catch((err) => {
      if (isBerthError(err, 'invalidParameter')) throw err;
    });
    if (timeout < 0) {
      await exited;
      return 'stopped';
    }
    const inTime = await Promise.race([exited.then(() => true), delay(timeout * 1000).then(() => false)]);
    if (!inTime) {
      await this.deps.runtime.kill(record.id, 'SIGKILL').catch(() => undefined);
      await Promise.race([exited, this.pollExit(record.id)]);
    }
    return 'stopped';
  }

  async kill(idOrName: string, signal: string | undefined): Promise<void> {
    const record = this.deps.store.get(idOrName);
    if (record.state.status === 'restarting') throw conflict(`Container ${record.id} is restarting, wait until the container is running`);
    if (!isActive(record.state.status)) throw conflict(`Container ${record.id} is not running`);
    const sig = signal || 'SIGKILL';
    await this.deps.runtime.kill(record.id, sig);
    record.state.stoppedByUser = true;
    this.publish('kill', record, { signal: String(sig) });
  }

  async restart(idOrName: string, timeoutSeconds?: number): Promise<void> {
    const record = this.deps.store.get(idOrName);
    this.manualRestarts.add(record.id);
    try {
      await this.stop(record.id, timeoutSeconds);
    } finally {
      this.manualRestarts.delete(record.id);
    }
    await this.start(record.id);
    this.publish('restart', record);
  }

  /** Resolves with the exit code once the condition holds (docker's wait conditions). */
  wait(idOrName: string, condition: WaitCondition): { ready: Promise<number> } {
    const record = this.deps.store.get(idOrName);
    if (condition === 'removed') {
      return { ready: new Promise((resolve) => this.pushWaiter(this.removeWaiters, record.id, resolve)) };
    }
    if (condition === 'not-running' && !isActive(record.state.status)) {
      return { ready: Promise.resolve(record.state.exitCode) };
    }
    return { ready: this.waitNextExit(record.id) };
  }

  private waitNextExit(id: string): Promise<number> {
    return new Promise((resolve) => this.pushWaiter(this.exitWaiters, id, resolve));
  }

  private pushWaiter(map: Map<string, Array<(code: number) => void>>, id: string, resolve: (code: number) => void): void {
    const list = map.get(id) ?? [];
    list.push(resolve);
    map.set(id, list);
  }

  /** Safety net for a missed inotify event: poll the monitor's exit record. */
  private async pollExit(id: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await delay(100);
      const record = this.deps.store.tryGet(id);
      if (!record || !isActive(record.state.status)) return;
      if (await this.deps.runtime.exitStatus(id)) {
        await this.handleExit(id);
        return;
      }
    }
  }

  async remove(idOrName: string, options: { force: boolean; removeVolumes: boolean }): Promise<void> {
    const record = this.deps.store.get(idOrName);
    if (options.force && record.state.status === 'restarting') await this.cancelRestart(record);
    if (isActive(record.state.status)) {
      if (!options.force) {
        throw conflict(
          `You cannot remove a ${record.state.status} container ${record.id}. Stop the container before attempting removal or force remove`,
        );
      }
      const exited = this.waitNextExit(record.id);
      // A forced removal is a user's stop: no restart policy may bring it back meanwhile.
      record.state.stoppedByUser = true;
      if (record.state.status === 'paused') await this.deps.runtime.resume(record.id).catch(() => undefined);
      await this.deps.runtime.kill(record.id, 'SIGKILL').catch(() => undefined);
      await Promise.race([exited, this.pollExit(record.id)]);
    }
    await this.withLock(record.id, async () => {
      if (!this.deps.store.tryGet(record.id)) return;
      // An exit being handled while we looked showed 'exited' until its restart was scheduled
      // at the end of handleExit: a forced removal cancels that pending restart too.
      if (options.force && record.state.status === 'restarting') {
        this.restarts.cancel(record.id);
        record.state.status = 'exited';
        record.state.stoppedByUser = true;
      }
      if (isActive(record.state.status)) throw conflict(`could not kill container ${record.id}`);
      record.state.status = 'removing';
      this.restarts.reset(record.id);
      this.health.stop(record.id);
      // An exit's deferred runtime delete is already under way (see handleExit).
      if (!this.runtimeCleanups.has(record.id)) await this.deps.runtime.delete(record.id, true).catch(() => undefined);
      // Addresses and volumes are released while the layer goes; the record goes last, so a
      // layer that can't be removed leaves the container listed (and removable again).
      await Promise.all([this.runReleaseHooks('removed', record, { removeVolumes: options.removeVolumes }), this.deps.layers.remove(record.id)]);
      await this.deps.store.delete(record.id);
      this.publish('destroy', record);
      for (const resolve of this.removeWaiters.get(record.id) ?? []) resolve(record.state.exitCode);
      this.removeWaiters.delete(record.id);
    });
  }

  /** Freezes every process of the container (cgroup freezer). */
  async pause(idOrName: string): Promise<void> {
    const record = this.deps.store.get(idOrName);
    await this.withLock(record.id, async () => {
      if (record.state.status === 'paused') throw conflict(`Container ${record.id} is already paused`);
      if (record.state.status === 'restarting') throw conflict(`Container ${record.id} is restarting, wait until the container is running`);
      if (record.state.status !== 'running') throw conflict(`Container ${record.id} is not running`);
      await this.deps.runtime.pause(record.id);
      record.state.status = 'paused';
      await this.deps.store.save(record);
      this.publish('pause', record);
    });
  }

  async unpause(idOrName: string): Promise<void> {
    const record = this.deps.store.get(idOrName);
    await this.withLock(record.id, async () => {
      if (record.state.status !== 'paused') throw conflict(`Container ${record.id} is not paused`);
      await this.deps.runtime.resume(record.id);
      record.state.status = 'running';
      await this.deps.store.save(record);
      this.publish('unpause', record);
    });
  }

  /** POST /containers/{id}/update: new limits (applied at once if it runs) and restart policy. */
  async update(idOrName: string, body: Record<string, unknown>): Promise<{ Warnings: string[] }> {
    const record = this.deps.store.get(idOrName);
    return this.withLock(record.id, async () => {
      const running = record.state.status === 'running' || record.state.status === 'paused';
      const warnings = await updateContainer(record, body, {
        host: (this.deps.hostLimits ?? hostLimits)(),
        apply: running && this.deps.updateResources ? (resources) => this.deps.updateResources!(record.id, resources) : undefined,
      });
      await this.deps.store.save(record);
      this.publish('update', record);
      return { Warnings: warnings };
    });
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const record = this.deps.store.get(idOrName);
    const name = validateContainerName(newName);
    if (name === record.name) throw invalidParameter(`Renaming a container with the same name as its current name`);
    await this.withLock(record.id, async () => {
      this.deps.store.reserveName(name, record.id);
      const oldName = record.name;
      record.name = name;
      try {
        await this.deps.store.save(record);
      } catch (err) {
        record.name = oldName;
        this.deps.store.releaseName(name);
        throw err;
      }
      this.deps.store.releaseName(oldName);
      this.publish('rename', record, { oldName: `/${oldName}` });
    });
  }

  async prune(keep: (record: ContainerRecord) => boolean): Promise<{ ContainersDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const record of this.deps.store.all()) {
      if (isActive(record.state.status) || keep(record)) continue;
      reclaimed += await this.deps.layers.sizeRw(record.id).catch(() => 0);
      await this.remove(record.id, { force: false, removeVolumes: false });
      deleted.push(record.id);
    }
    return { ContainersDeleted: deleted, SpaceReclaimed: reclaimed };
  }

  /** Image removal asks this: is an image used by a container, and is that one running? */
  imageUsage(imageId: string): { inUse: boolean; running: boolean; containerId?: string } {
    const users = this.deps.store.all().filter((r) => r.image === imageId);
    const running = users.find((r) => isActive(r.state.status));
    const first = running ?? users[0];
    return { inUse: users.length > 0, running: running !== undefined, containerId: first?.id };
  }

  private publish(action: string, record: ContainerRecord, extra: Record<string, string> = {}): void {
    this.deps.events.publish('container', action, record.id, {
      ...(record.config.Labels ?? {}),
      image: record.imageRef,
      name: record.name,
      ...extra,
    });
  }
}

function withHome(env: string[], user: ResolvedUser): string[] {
  if (env.some((e) => e.startsWith('HOME='))) return env;
  return [...env, `HOME=${user.home || '/'}`];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

