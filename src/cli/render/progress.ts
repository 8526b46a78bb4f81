/**
 * Renders a JSON progress stream (pull, push) as docker does: on a terminal one line per
 * layer, rewritten in place as its status and bar change; otherwise plain "id: status" lines
 * without the byte-by-byte updates.
 */
import { StatusError } from '../command.js';
import { formatProgress, type ProgressDetail } from '../../util/json-progress.js';

export interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: ProgressDetail;
  aux?: unknown;
  error?: string;
  errorDetail?: { message?: string };
}

export class ProgressRenderer {
  private readonly lines: string[] = [];

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
    /** Clock for the time left (tests pin it). */
    private readonly now: () => number = Date.now,
  ) {}

  /** As docker's CLI: the bar is redrawn from progressDetail for this terminal's width. */
  private progressText(msg: ProgressMessage): string {
    const detail = msg.progressDetail;
    if (detail && (detail.current !== undefined || detail.total !== undefined)) {
      const width = (this.out as NodeJS.WriteStream).columns || 200;
      return formatProgress(detail, width, this.now());
    }
    return msg.progress ?? '';
  }

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
    const progress = this.progressText(msg);
    const text = `${msg.id ? `${msg.id}: ` : ''}${msg.status}${progress ? ` ${progress}` : ''}`;
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
