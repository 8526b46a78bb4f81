/**
 * Renders a JSON progress stream (pull, push) as docker does: on a terminal one line per
 * layer, rewritten in place as its status and bar change; otherwise plain "id: status" lines
 * without the byte-by-byte updates.
 */
import { StatusError } from '../command.js';

export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  aux?: unknown;
  error?: string;
  errorDetail?: { message?: string };
}

export class ProgressRenderer {
  private readonly lines: string[] = [];

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
  ) {}

  /** Shows one message; throws StatusError for an error message. */
  show(msg: ProgressMessage): void {
    if (msg.error || msg.errorDetail) throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'failed', 1);
    if (msg.status === undefined) return;
    const hasBytes = msg.progressDetail?.current !== undefined;
    if (!this.tty) {
      if (hasBytes) return;
      this.out.write(`${msg.id ? `${msg.id}: ` : ''}${msg.status}\n`);
      return;
    }
    const text = `${msg.id ? `${msg.id}: ` : ''}${msg.status}${msg.progress ? ` ${msg.progress}` : ''}`;
    if (!msg.id) {
      this.out.write(`${text}\n`);
      // Lines above a status line are frozen: later updates never climb over it.
      this.lines.length = 0;
      return;
    }
    const index = this.lines.indexOf(msg.id);
    if (index < 0) {
      this.lines.push(msg.id);
      this.out.write(`${text}\n`);
      return;
    }
    const up = this.lines.length - index;
    this.out.write(`\x1b[${up}A\x1b[2K\r${text}\x1b[${up}B\r`);
  }
}

export function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as NodeJS.WriteStream).isTTY === true;
}
