/**
 * The monitor (conmon) writes container output in the CRI "k8s-file" format, one record a line:
 *   2024-05-01T12:00:00.123456789+00:00 stdout F the text
 * where F closes a line and P is a partial chunk (no newline yet). That converts losslessly to
 * what docker's json-file driver keeps: the stream, the timestamp and the exact bytes.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { watch, type FSWatcher } from 'node:fs';

export type LogStream = 'stdout' | 'stderr';

export interface LogEntry {
  stream: LogStream;
  /** RFC3339 with nanoseconds, as written by the monitor. */
  time: string;
  /** Nanoseconds since the epoch, for since/until comparisons. */
  timeNano: bigint;
  /** The bytes, including the trailing newline for full lines. */
  data: Buffer;
}

export function parseTimeNano(rfc3339: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!m) return 0n;
  const seconds = BigInt(Math.floor(Date.parse(`${m[1]}${m[3]}`) / 1000));
  const fraction = BigInt((m[2] ?? '').padEnd(9, '0'));
  return seconds * 1_000_000_000n + fraction;
}

export function parseLogLine(line: Buffer): LogEntry | undefined {
  const first = line.indexOf(0x20);
  const second = first < 0 ? -1 : line.indexOf(0x20, first + 1);
  const third = second < 0 ? -1 : line.indexOf(0x20, second + 1);
  if (third < 0) return undefined;
  const time = line.subarray(0, first).toString('latin1');
  const stream = line.subarray(first + 1, second).toString('latin1');
  const tag = line.subarray(second + 1, third).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const body = line.subarray(third + 1);
  const data = tag.startsWith('P') ? Buffer.from(body) : Buffer.concat([body, Buffer.from('\n')]);
  return { stream, time, timeNano: parseTimeNano(time), data };
}

/**
 * Reads a log file from an offset, entry by entry, and (when following) waits for more until
 * stopped. Partial trailing lines stay buffered until the monitor finishes writing them.
 */
export class LogReader {
  private offset: number;
  private pending: Buffer = Buffer.alloc(0);
  private watcher?: FSWatcher;
  private wake?: () => void;
  private stopped = false;
  private handle?: FileHandle;

  constructor(private readonly path: string, startOffset = 0) {
    this.offset = startOffset;
  }

  static async currentSize(path: string): Promise<number> {
    try {
      return (await stat(path)).size;
    } catch {
      return 0;
    }
  }

  /** Stops following: the iterator drains what is on disk and ends. */
  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Entries from the offset; with follow, keeps waiting for growth until stop(). */
  async *entries(follow: boolean): AsyncGenerator<LogEntry> {
    try {
      for (;;) {
        const chunk = await this.readMore();
        if (chunk.length > 0) {
          for (const entry of this.split(chunk)) yield entry;
          continue;
        }
        if (!follow || this.stopped) {
          // One last read closes the race between the monitor's final write and stop().
          const last = await this.readMore();
          for (const entry of this.split(last)) yield entry;
          return;
        }
        await this.waitForChange();
      }
    } finally {
      this.watcher?.close();
      await this.handle?.close();
    }
  }

  private *split(chunk: Buffer): Generator<LogEntry> {
    let buffer = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let newline: number;
    while ((newline = buffer.indexOf(0x0a)) >= 0) {
      const entry = parseLogLine(buffer.subarray(0, newline));
      buffer = buffer.subarray(newline + 1);
      if (entry) yield entry;
    }
    this.pending = Buffer.from(buffer);
  }

  private async readMore(): Promise<Buffer> {
    if (!this.handle) {
      try {
        this.handle = await open(this.path, 'r');
      } catch {
        return Buffer.alloc(0);
      }
    }
    const out: Buffer[] = [];
    for (;;) {
      const buf = Buffer.allocUnsafe(256 * 1024);
      const { bytesRead } = await this.handle.read(buf, 0, buf.length, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      out.push(buf.subarray(0, bytesRead));
      if (bytesRead < buf.length) break;
    }
    return Buffer.concat(out);
  }

  private waitForChange(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      if (!this.watcher) {
        try {
          this.watcher = watch(this.path, () => this.wake?.());
        } catch {
          // The file may not exist yet; the poll below covers it.
        }
      }
      // inotify can miss events on some filesystems; a slow poll is the safety net.
      const timer = setTimeout(done, 250);
    });
  }
}

/** Docker's stream multiplexing: [type, 0, 0, 0, size (uint32 BE)] then the payload. */
export function frame(stream: LogStream | 'stdin', data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream === 'stdin' ? 0 : stream === 'stdout' ? 1 : 2;
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}
