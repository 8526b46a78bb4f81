/**
 * Exec instances (docker exec): created against a running container, started once, attached
 * or detached, inspected afterwards. Each start runs the process under its own conmon (see
 * runtime/exec.ts), so it keeps running if the client goes away. Instances live in memory, as
 * dockerd keeps them, and are dropped with their container.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { conflict, invalidParameter, notFound } from '../util/errors.js';
import { newId } from '../util/ids.js';
import type { ResolvedUser } from '../runtime/types.js';
import { launchExec, resizeTerminal, type ExecProcess } from '../runtime/exec.js';
import { ALL_CAPABILITIES } from '../runtime/capabilities.js';
import { hostFacts } from '../runtime/spec.js';
import { replaceOrAppendEnv } from '../runtime/env.js';
import { classifyStartError } from '../runtime/start-error.js';
import { StdioBridge, parseDetachKeys } from './attach.js';
import { frame } from './logs.js';
import type { ContainerRecord } from './model.js';
import type { ContainerStore } from './store.js';
import type { ContainerHook } from './manager.js';

export interface ExecConfig {
  Cmd: string[];
  Env: string[];
  User: string;
  WorkingDir: string;
  Tty: boolean;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  Privileged: boolean;
  DetachKeys: string;
  ConsoleSize?: [number, number];
}

interface ExecInstance {
  id: string;
  containerId: string;
  config: ExecConfig;
  running: boolean;
  started: boolean;
  exitCode: number | null;
  pid: number;
  process?: ExecProcess;
}

export interface ExecDeps {
  store: ContainerStore;
  conmonPath: string;
  runcPath: string;
  runcRoot: string;
  execRoot: string;
  /** Where the container's runtime bundle (config.json) lives. */
  bundleDir(containerId: string): string;
  resolveUser(rootfs: string, user: string): Promise<ResolvedUser>;
  debug(message: string): void;
}

/** The OCI process of the container's config.json, the template for every exec. */
interface OciProcess {
  terminal?: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Record<string, string[]>;
  consoleSize?: unknown;
  [key: string]: unknown;
}

function strings(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalidParameter(`${field}: expected an array of strings`);
  return value as string[];
}

function checkActive(record: ContainerRecord): void {
  if (record.state.status === 'paused') throw conflict(`Container ${record.id} is paused, unpause the container before exec`);
  if (record.state.status === 'restarting') throw conflict(`Container ${record.id} is restarting, wait until the container is running`);
  if (record.state.status !== 'running') throw conflict(`Container ${record.id} is not running`);
}

export class ExecService {
  private readonly instances = new Map<string, ExecInstance>();

  constructor(private readonly deps: ExecDeps) {}

  create(containerRef: string, body: Record<string, unknown>): { Id: string } {
    const record = this.deps.store.get(containerRef);
    checkActive(record);
    const cmd = strings(body.Cmd, 'Cmd');
    if (cmd.length === 0) throw invalidParameter('No exec command specified');
    const detachKeys = typeof body.DetachKeys === 'string' ? body.DetachKeys : '';
    if (detachKeys) parseDetachKeys(detachKeys);
    const consoleSize = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? (body.ConsoleSize as [number, number]) : undefined;
    const config: ExecConfig = {
      Cmd: cmd,
      Env: strings(body.Env, 'Env'),
      User: typeof body.User === 'string' ? body.User : '',
      WorkingDir: typeof body.WorkingDir === 'string' ? body.WorkingDir : '',
      Tty: body.Tty === true,
      AttachStdin: body.AttachStdin === true,
      AttachStdout: body.AttachStdout === true,
      AttachStderr: body.AttachStderr === true,
      Privileged: body.Privileged === true,
      DetachKeys: detachKeys,
      ConsoleSize: consoleSize,
    };
    if (config.WorkingDir && !config.WorkingDir.startsWith('/')) {
      throw invalidParameter(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);
    }
    const id = newId();
    this.instances.set(id, { id, containerId: record.id, config, running: false, started: false, exitCode: null, pid: 0 });
    return { Id: id };
  }

  get(id: string): ExecInstance {
    const instance = this.instances.get(id);
    if (!instance) throw notFound(`No such exec instance: ${id}`);
    return instance;
  }

  /** Checks done before the connection is hijacked, so they can still be HTTP errors. */
  checkStartable(id: string): ExecInstance {
    const instance = this.get(id);
    if (instance.running) throw conflict(`Error: Exec command ${id} is already running`);
    if (instance.started) throw conflict(`Error: Exec command ${id} has already run`);
    checkActive(this.deps.store.get(instance.containerId));
    return instance;
  }

  /**
   * Starts the instance. With a client, output streams to it (framed unless TTY) and input goes
   * to the process; the client's connection ends after the exit code is recorded, so an
   * inspect right after the stream ends sees it. Without one (Detach), resolves once started.
   */
  async start(id: string, client: Duplex | undefined, options: { tty?: boolean; consoleSize?: [number, number] } = {}): Promise<void> {
    const instance = this.checkStartable(id);
    instance.started = true;
    instance.running = true;
    const record = this.deps.store.get(instance.containerId);
    const tty = options.tty ?? instance.config.Tty;
    let proc: ExecProcess;
    try {
      proc = await launchExec({
        conmonPath: this.deps.conmonPath,
        runcPath: this.deps.runcPath,
        runcRoot: this.deps.runcRoot,
        containerId: record.id,
        execId: id,
        sessionDir: join(this.deps.execRoot, 'execs', id),
        socketDir: join(this.deps.execRoot, 'socket'),
        process: await this.processSpec(record, instance.config, tty),
        tty,
        stdin: instance.config.AttachStdin && client !== undefined,
        attach: client !== undefined,
      });
    } catch (err) {
      instance.running = false;
      instance.exitCode = 126;
      throw err;
    }
    instance.process = proc;
    let bridge: StdioBridge | undefined;
    let recorded: () => void = () => undefined;
    const exitRecorded = new Promise<void>((resolve) => (recorded = resolve));
    if (client) {
      bridge = new StdioBridge(client, {
        stdin: instance.config.AttachStdin,
        stdout: instance.config.AttachStdout,
        stderr: instance.config.AttachStderr,
        tty,
        detachKeys: parseDetachKeys(instance.config.DetachKeys || undefined),
        closeStdinOnEof: !tty,
        endAfter: () => exitRecorded,
      });
      bridge.connect(proc.attachSocketPath);
    }
    const size = options.consoleSize ?? instance.config.ConsoleSize;
    if (tty && size && size[0] > 0 && size[1] > 0) await resizeTerminal(proc.controlFifoPath, size[0], size[1]).catch(() => undefined);
    const started = await proc.start();
    if (started.ok) instance.pid = started.pid;
    const finished = (async () => {
      let code = await proc.exited;
      if (!started.ok) {
        code = classifyStartError(started.message);
        if (code === 125) code = 126;
        // dockerd writes the start error into the stream as the process's stdout would be.
        const text = Buffer.from(`OCI runtime exec failed: ${started.message}: unknown\r\n`);
        if (client && !client.destroyed) client.write(tty ? text : frame('stdout', text));
      }
      instance.exitCode = code;
      instance.running = false;
      instance.pid = 0;
      recorded();
      await proc.cleanup().catch((err: unknown) => this.deps.debug(`exec ${id} cleanup: ${String(err)}`));
      if (bridge && !started.ok) bridge.close();
    })();
    if (client) await finished;
    else void finished;
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const instance = this.get(id);
    // dockerd (containerd) accepts a resize of a session without a TTY and does nothing.
    if (!instance.config.Tty) return;
    if (!instance.running || !instance.process) throw conflict(`Exec ${id} is not running`);
    await resizeTerminal(instance.process.controlFifoPath, height, width);
  }

  inspect(id: string): Record<string, unknown> {
    const e = this.get(id);
    return {
      ID: e.id,
      Running: e.running,
      ExitCode: e.exitCode,
      ProcessConfig: {
        tty: e.config.Tty,
        entrypoint: e.config.Cmd[0],
        arguments: e.config.Cmd.slice(1),
        privileged: e.config.Privileged,
        ...(e.config.User ? { user: e.config.User } : {}),
      },
      OpenStdin: e.config.AttachStdin,
      OpenStderr: e.config.AttachStderr,
      OpenStdout: e.config.AttachStdout,
      CanRemove: false,
      ContainerID: e.containerId,
      DetachKeys: e.config.DetachKeys,
      Pid: e.pid,
    };
  }

  /** IDs of a container's instances, for inspect's ExecIDs. */
  idsOf(containerId: string): string[] {
    return [...this.instances.values()].filter((e) => e.containerId === containerId).map((e) => e.id);
  }

  /** Container hook: a removed container's instances go with it. */
  readonly hook: ContainerHook = {
    removed: async (record) => this.forgetContainer(record.id),
  };

  /** Drops the instances of a container that went away. */
  forgetContainer(containerId: string): void {
    for (const [id, e] of this.instances) if (e.containerId === containerId) this.instances.delete(id);
  }

  private async processSpec(record: ContainerRecord, config: ExecConfig, tty: boolean): Promise<OciProcess> {
    const bundle = JSON.parse(await readFile(join(this.deps.bundleDir(record.id), 'config.json'), 'utf8')) as { process: OciProcess; root: { path: string } };
    const base = bundle.process;
    let user = base.user;
    if (config.User) {
      const resolved = await this.deps.resolveUser(bundle.root.path, config.User);
      user = { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids };
    }
    let env = base.env ?? [];
    if (tty && !env.some((e) => e.startsWith('TERM='))) env = [...env, 'TERM=xterm'];
    env = replaceOrAppendEnv(env, config.Env);
    // runc builds the exec'd process from its own capability set, so "all" can only mean what
    // the daemon holds: asking for one outside its bounding set makes capset fail with EPERM.
    const bounding = hostFacts().boundingCapabilities;
    const caps = config.Privileged ? ALL_CAPABILITIES.filter((c) => !bounding || bounding.includes(c)) : undefined;
    const spec: OciProcess = {
      ...base,
      terminal: tty,
      user,
      args: config.Cmd,
      env,
      cwd: config.WorkingDir || base.cwd,
      ...(caps ? { capabilities: { bounding: caps, effective: caps, permitted: caps } } : {}),
    };
    delete spec.consoleSize;
    return spec;
  }
}
