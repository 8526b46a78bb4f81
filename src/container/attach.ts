/**
 * Attach: joins a hijacked API connection to a container's stdio through its monitor's attach
 * socket (conmon, SOCK_SEQPACKET). conmon stays the owner of the stdio and keeps writing the log,
 * so the log remains the record and a client going away never touches the container.
 *
 * Clients may attach before the container starts (docker run does: attach, wait, start). Such
 * sessions wait here and connect from the beforeStart hook, after `runc create` made the
 * monitor and its socket but before the process runs, so no output is missed.
 */
import type { Duplex } from 'node:stream';
import { DetachScanner } from '../util/detach-keys.js';
import { SeqpacketSocket } from '../sys/seqpacket.js';
import { LogReader, frame } from './logs.js';
import { logDriverOf } from './logconfig.js';
import { isActive, type ContainerRecord } from './model.js';
import type { ContainerHook } from './manager.js';

export { parseDetachKeys, DetachScanner, DEFAULT_DETACH_KEYS } from '../util/detach-keys.js';

/** conmon's stream marks, the first byte of each packet on the attach socket. */
const CONMON_STDOUT = 2;
const CONMON_STDERR = 3;

export interface AttachOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Keep streaming live output (and input) rather than only the log replay. */
  stream: boolean;
  /** Replay the container's log first. */
  logs: boolean;
  detachKeys: Buffer;
}

export type AttachEnd = 'exited' | 'detached' | 'client-gone';

/** Connects a client's raw connection to an attach socket; shared by container attach and exec. */
export class StdioBridge {
  private conmon: SeqpacketSocket | undefined;
  private readonly pendingInput: Buffer[] = [];
  private inputEnded = false;
  private finished = false;
  private readonly scanner: DetachScanner | undefined;
  private resolveEnd: (how: AttachEnd) => void = () => undefined;
  readonly ended: Promise<AttachEnd>;

  constructor(
    private readonly client: Duplex,
    private readonly options: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean; detachKeys?: Buffer; closeStdinOnEof: boolean; endAfter?: () => Promise<void> },
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnd = resolve));
    // docker watches for the detach keys on TTY sessions only.
    this.scanner = options.tty && options.detachKeys ? new DetachScanner(options.detachKeys) : undefined;
    client.on('data', (chunk: Buffer) => this.onInput(chunk));
    client.on('end', () => this.onInputEnd());
    client.on('error', () => this.finish('client-gone'));
    client.on('close', () => this.finish('client-gone'));
  }

  /** Connects to the monitor's socket and flushes input that arrived before. */
  connect(path: string): void {
    if (this.finished || this.conmon) return;
    try {
      this.conmon = SeqpacketSocket.connect(path, {
        onPacket: (packet) => this.onOutput(packet),
        onEnd: () => this.finish('exited'),
      });
    } catch {
      // The process is already gone (or never started): nothing to stream.
      this.finish('exited');
      return;
    }
    for (const chunk of this.pendingInput.splice(0)) this.conmon.write(chunk);
    if (this.inputEnded) this.afterInputEnd();
  }

  get connected(): boolean {
    return this.conmon !== undefined;
  }

  /** Ends the session from outside (the container will not start after all). */
  close(): void {
    this.finish('exited');
  }

  private onOutput(packet: Buffer): void {
    const kind = packet[0];
    const data = packet.subarray(1);
    if (data.length === 0 || this.finished) return;
    if (kind === CONMON_STDOUT && this.options.stdout) this.client.write(this.options.tty ? data : frame('stdout', data));
    else if (kind === CONMON_STDERR && this.options.stderr) this.client.write(this.options.tty ? data : frame('stderr', data));
  }

  private onInput(chunk: Buffer): void {
    if (!this.options.stdin || this.finished) return;
    let data = chunk;
    if (this.scanner) {
      const { forward, detached } = this.scanner.push(chunk);
      data = forward;
      if (detached) {
        if (data.length) this.send(data);
        this.finish('detached');
        return;
      }
    }
    if (data.length) this.send(data);
  }

  private send(data: Buffer): void {
    if (this.conmon) this.conmon.write(data);
    else this.pendingInput.push(data);
  }

  private onInputEnd(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    if (this.conmon) this.afterInputEnd();
  }

  /**
   * The client closed its input. For a StdinOnce non-TTY container the container's stdin is
   * closed too (docker's rule). Otherwise stdin stays open for a later attach; unlike dockerd,
   * which ends such a session here, output keeps flowing until the process exits or the client
   * goes, so `echo x | attach` still shows the answer.
   */
  private afterInputEnd(): void {
    if (this.options.stdin && this.options.closeStdinOnEof) this.conmon?.shutdownWrite();
  }

  private finish(how: AttachEnd): void {
    if (this.finished) return;
    this.finished = true;
    const conmon = this.conmon;
    if (conmon) void conmon.drained().then(() => conmon.close());
    if (how === 'client-gone') {
      this.client.destroy();
      this.resolveEnd(how);
      return;
    }
    // An exec's client must not see the end before its exit code can be inspected.
    const ready = how === 'exited' && this.options.endAfter ? this.options.endAfter() : Promise.resolve();
    void ready.then(() => {
      this.client.end();
      this.resolveEnd(how);
    });
  }
}

/** Attach sessions of containers, and the hook that connects the ones waiting for a start. */
export class AttachService implements ContainerHook {
  private readonly waiting = new Map<string, Set<StdioBridge>>();

  constructor(private readonly socketPath: (id: string) => string) {}

  /** Runs one attach to its end. The caller has written the 101/200 answer already. */
  async attach(record: ContainerRecord, client: Duplex, options: AttachOptions): Promise<AttachEnd> {
    const tty = record.config.Tty === true;
    if (options.logs && logDriverOf(record.hostConfig) !== 'none') {
      const reader = new LogReader(record.logPath, 0);
      for await (const entry of reader.entries(false)) {
        if ((entry.stream === 'stdout' && options.stdout) || (entry.stream === 'stderr' && options.stderr)) {
          client.write(tty ? entry.data : frame(entry.stream, entry.data));
        }
      }
    }
    if (!options.stream) {
      client.end();
      return 'exited';
    }
    const bridge = new StdioBridge(client, {
      stdin: options.stdin && record.config.OpenStdin === true,
      stdout: options.stdout,
      stderr: options.stderr,
      tty,
      detachKeys: options.detachKeys,
      closeStdinOnEof: record.config.StdinOnce === true && !tty,
    });
    if (isActive(record.state.status)) {
      bridge.connect(this.socketPath(record.id));
    } else {
      const set = this.waiting.get(record.id) ?? new Set<StdioBridge>();
      set.add(bridge);
      this.waiting.set(record.id, set);
    }
    const how = await bridge.ended;
    const set = this.waiting.get(record.id);
    set?.delete(bridge);
    if (set?.size === 0) this.waiting.delete(record.id);
    return how;
  }

  /** Container hook: the monitor and its socket exist, the process has not run yet. */
  async beforeStart(record: ContainerRecord): Promise<void> {
    const set = this.waiting.get(record.id);
    if (!set) return;
    this.waiting.delete(record.id);
    for (const bridge of set) bridge.connect(this.socketPath(record.id));
  }

  /** Container hook: a start failed (or the run ended) while sessions still waited for it. */
  async stopped(record: ContainerRecord): Promise<void> {
    const set = this.waiting.get(record.id);
    if (!set) return;
    this.waiting.delete(record.id);
    for (const bridge of set) bridge.close();
  }

  async removed(record: ContainerRecord): Promise<void> {
    await this.stopped(record);
  }
}
