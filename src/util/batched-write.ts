/**
 * Writing a stream of small chunks (64 KiB socket or tar reads) to a file with few syscalls:
 * chunks are gathered into batches written with one writev, and one batch is written while
 * the next is gathered, so the producer (hashing, parsing) and the disk overlap.
 */
import type { FileHandle } from 'node:fs/promises';

/** writev until every byte is down (a short write resumes where it stopped). */
export async function writeAll(fh: FileHandle, buffers: Buffer[], position: number | null): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length) {
    let { bytesWritten } = await fh.writev(rest, at ?? undefined);
    if (at !== null) at += bytesWritten;
    const left: Buffer[] = [];
    for (const b of rest) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        left.push(bytesWritten ? b.subarray(bytesWritten) : b);
        bytesWritten = 0;
      }
    }
    rest = left;
  }
}

const BATCH_BYTES = 4 << 20;
/** Below IOV_MAX (1024), so one writev takes a whole batch. */
const BATCH_BUFFERS = 512;

/** Appends chunks at the file's current position; `done()` must be awaited before closing. */
export class BatchedFileWriter {
  private batch: Buffer[] = [];
  private batched = 0;
  private inflight: Promise<void> = Promise.resolve();
  /** Bytes handed to write so far (written once done() resolved). */
  written = 0;

  constructor(
    private readonly fh: FileHandle,
    private position: number | null = null,
  ) {}

  /** Queues a chunk; resolves at once unless a full batch had to wait for the previous write. */
  async write(chunk: Buffer): Promise<void> {
    this.batch.push(chunk);
    this.batched += chunk.length;
    if (this.batched >= BATCH_BYTES || this.batch.length >= BATCH_BUFFERS) await this.flush();
  }

  /** Starts writing the gathered batch once the previous write finished; returns that write. */
  async flush(): Promise<void> {
    await this.inflight;
    if (this.batched === 0) return;
    const buffers = this.batch;
    const at = this.position;
    if (this.position !== null) this.position += this.batched;
    this.written += this.batched;
    this.batch = [];
    this.batched = 0;
    this.inflight = writeAll(this.fh, buffers, at);
    // Awaited by the next flush or done(); until then a failure must not count as unhandled.
    this.inflight.catch(() => undefined);
  }

  /** The last write, i.e. everything queued is on its way to the file; rejects if any write failed. */
  get pending(): Promise<void> {
    return this.inflight;
  }

  async done(): Promise<void> {
    await this.flush();
    await this.inflight;
  }
}
