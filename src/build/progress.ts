/**
 * The JSON message stream POST /build answers with, in the classic builder's words:
 * {"stream": "Step 1/5 : FROM busybox\n"}, {"aux": {"ID": "sha256:..."}}, and on failure
 * {"errorDetail": {"message", "code"}, "error"}.
 */
export interface BuildMessage {
  stream?: string;
  aux?: { ID: string };
  error?: string;
  errorDetail?: { message: string; code?: number };
}

export type ProgressSink = (message: BuildMessage) => void;

export class Progress {
  constructor(
    private readonly sink: ProgressSink,
    /** `q`: only the final image ID (and errors) are sent. */
    private readonly quiet: boolean,
  ) {}

  line(text: string): void {
    if (!this.quiet) this.sink({ stream: `${text}\n` });
  }

  /** Raw output of a RUN step, as it arrives. */
  output(data: Buffer): void {
    if (!this.quiet) this.sink({ stream: data.toString('utf8') });
  }

  /** Always sent, even with q: the final ID line. */
  always(text: string): void {
    this.sink({ stream: `${text}\n` });
  }

  aux(id: string): void {
    this.sink({ aux: { ID: id } });
  }

  error(message: string, code?: number): void {
    this.sink({ errorDetail: code === undefined ? { message } : { message, code }, error: message });
  }
}
