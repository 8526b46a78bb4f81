/**
 * Docker's multiplexed stream format (non-TTY logs and attach): each frame is an 8-byte header
 * [stream, 0, 0, 0, size uint32 BE] then `size` bytes. Chunks from the socket cut frames anywhere,
 * so the demuxer buffers until a whole header, and then the payload, has arrived.
 */
export const enum StreamType {
  Stdin = 0,
  Stdout = 1,
  Stderr = 2,
  SystemErr = 3,
}

export type FrameSink = (stream: StreamType, payload: Buffer) => void;

export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);
  private readonly sink: FrameSink;

  constructor(sink: FrameSink) {
    this.sink = sink;
  }

  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    while (this.pending.length - off >= 8) {
      const size = this.pending.readUInt32BE(off + 4);
      if (this.pending.length - off - 8 < size) break;
      const type = this.pending[off] as StreamType;
      // Payloads are sliced (not copied); sinks consume them synchronously.
      this.sink(type, this.pending.subarray(off + 8, off + 8 + size));
      off += 8 + size;
    }
    this.pending = off === 0 ? this.pending : this.pending.subarray(off);
  }

  /** Bytes of an incomplete trailing frame; non-zero at end-of-stream means truncation. */
  get buffered(): number {
    return this.pending.length;
  }
}

/** Encodes one frame; used by tests and by anything that needs to fake a daemon stream. */
export function encodeFrame(stream: StreamType, payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}
