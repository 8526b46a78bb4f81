/**
 * docker's JSON progress stream: one JSON object per line, `{"status","id","progressDetail",
 * "progress"}`, and `{"error","errorDetail"}` for a failure after the 200 was sent. Byte
 * progress is throttled so a fast transfer does not flood the client.
 */
import type { Writable } from 'node:stream';

export interface ProgressLine {
  status?: string;
  id?: string;
  progressDetail?: { current?: number; total?: number };
  progress?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { message: string };
}

/** docker's HumanSize: decimal units, four significant digits ("772.8kB", "2.829MB"). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(4))}${units[unit]}`;
}

/** The "[=====>     ]  1.2MB/3.4MB" string docker puts in "progress". */
export function progressBar(current: number, total: number): string {
  if (total <= 0) return humanSize(current);
  const filled = Math.min(50, Math.floor((current / total) * 50));
  const bar = `[${'='.repeat(filled)}>${' '.repeat(Math.max(0, 50 - filled))}]`;
  return `${bar} ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

export class ProgressStream {
  private readonly lastSent = new Map<string, number>();
  private closed = false;
  /** True once the first line went out (and with it the 200 status line). */
  started = false;

  /**
   * `start` runs before the first line: the HTTP status is sent only then, so a failure before
   * any progress (an unknown manifest, bad credentials) still gets a proper error status.
   */
  constructor(
    private readonly out: Writable,
    private readonly start: () => void = () => undefined,
  ) {
    out.on('close', () => {
      this.closed = true;
    });
  }

  get clientGone(): boolean {
    return this.closed;
  }

  send(line: ProgressLine): void {
    if (this.closed) return;
    if (!this.started) {
      this.started = true;
      this.start();
    }
    this.out.write(`${JSON.stringify(line)}\n`);
  }

  status(status: string, id?: string): void {
    this.send(id === undefined ? { status } : { status, progressDetail: {}, id });
  }

  /** Byte progress for one layer, at most every 100 ms (and always at the end). */
  bytes(status: string, id: string, current: number, total: number): void {
    const now = Date.now();
    const key = `${status}:${id}`;
    if (current < total && now - (this.lastSent.get(key) ?? 0) < 100) return;
    this.lastSent.set(key, now);
    this.send({ status, progressDetail: { current, total }, progress: progressBar(current, total), id });
  }

  error(message: string): void {
    this.send({ errorDetail: { message }, error: message });
  }
}

/** The 12-hex short form docker shows for a layer digest. */
export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}
