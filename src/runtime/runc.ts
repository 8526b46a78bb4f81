import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execTool } from '../sys/exec.js';
import { BerthError, conflict, notFound, systemError } from '../util/errors.js';
import type { RuntimeState, RuntimeStatus } from './types.js';
import { runtimeErrorMessage } from './start-error.js';

const STATUSES: readonly RuntimeStatus[] = ['creating', 'created', 'running', 'paused', 'stopped'];

function missing(text: string): boolean {
  return /does not exist|not exist/i.test(text);
}

/** Thin, typed calls of the runc CLI against one state root. */
export class Runc {
  constructor(
    readonly path: string,
    readonly root: string,
  ) {}

  /** Runs `runc --root R ARGS`, mapping runc's complaints to error kinds the API can use. */
  private async run(id: string, args: string[]): Promise<string> {
    const result = await execTool(this.path, ['--root', this.root, ...args]);
    if (result.code === 0) return result.stdout;
    const message = runtimeErrorMessage(result.stderr || result.stdout);
    if (missing(message)) throw notFound(`No such container: ${id}`);
    if (/not running|container not running|process already finished/i.test(message)) {
      throw conflict(`Container ${id} is not running`);
    }
    if (/not stopped/i.test(message)) throw conflict(`Container ${id} is still running: ${message}`);
    throw systemError(`runc ${args[0]} ${id}: ${message}`);
  }

  async start(id: string): Promise<void> {
    await this.run(id, ['start', id]);
  }

  async kill(id: string, signal: number): Promise<void> {
    await this.run(id, ['kill', id, String(signal)]);
  }

  async pause(id: string): Promise<void> {
    await this.run(id, ['pause', id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(id, ['resume', id]);
  }

  async state(id: string): Promise<(RuntimeState & { bundle: string }) | undefined> {
    let stdout: string;
    try {
      stdout = await this.run(id, ['state', id]);
    } catch (err) {
      if (err instanceof BerthError && err.kind === 'notFound') return undefined;
      throw err;
    }
    const parsed = JSON.parse(stdout) as { status?: string; pid?: number; bundle?: string };
    const status = STATUSES.find((s) => s === parsed.status);
    if (!status) throw systemError(`runc state ${id}: unexpected status ${String(parsed.status)}`);
    return { status, pid: parsed.pid ?? 0, bundle: parsed.bundle ?? '' };
  }

  /** Already-gone containers are fine: delete is how every path cleans up. */
  /** runc keeps one directory of state per container under its root. */
  knows(id: string): boolean {
    return existsSync(join(this.root, id));
  }

  async delete(id: string, force: boolean): Promise<void> {
    // Deletes are frequent (every exit, every removal, before every start) and most find
    // nothing to delete: a directory check saves spawning runc for those.
    if (!this.knows(id)) return;
    try {
      await this.run(id, force ? ['delete', '--force', id] : ['delete', id]);
    } catch (err) {
      if (err instanceof BerthError && err.kind === 'notFound') return;
      throw err;
    }
  }
}
