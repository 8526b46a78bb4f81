/**
 * docker's JSON progress stream: one JSON object per line, `{"status","id","progressDetail",
 * "progress"}`, and `{"error","errorDetail"}` for a failure after the 200 was sent. Byte
 * progress is throttled so a fast transfer does not flood the client.
 */
import type { Writable } from 'node:stream';
import { formatProgress, type ProgressDetail } from '../util/json-progress.js';

export interface ProgressLine {
  status?: string;
  id?: string;
  progressDetail?: ProgressDetail;
  progress?: string;
  aux?: unknown;
  error?: string;
  errorDetail?: { message: string };
}

export class ProgressStream {
  private readonly lastSent = new Map<string, number>();
  /** When each layer's transfer began (unix seconds), for docker's time-left estimate. */
  private readonly transferStart = new Map<string, number>();
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
    if (!this.transferStart.has(key)) this.transferStart.set(key, Math.floor(now / 1000));
    if (current < total && now - (this.lastSent.get(key) ?? 0) < 100) return;
    this.lastSent.set(key, now);
    const detail: ProgressDetail = { current, total, start: this.transferStart.get(key)! };
    this.send({ status, progressDetail: detail, progress: formatProgress(detail, 200, now), id });
  }

  error(message: string): void {
    this.send({ errorDetail: { message }, error: message });
  }
}

/** The 12-hex short form docker shows for a layer digest. */
export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}
