/**
 * Several containers' logs on one terminal, as compose shows them: each line prefixed with the
 * container name padded to the widest name and " | ", each container in its own colour.
 */
import type { LogsOptions } from '../client/client.js';
import { Demuxer, StreamType } from '../client/stdcopy.js';
import type { ComposeEngine } from './engine.js';

const COLORS = [36, 33, 32, 35, 34, 91, 96, 93, 92, 95, 94];

export class LogPrinter {
  private width = 0;
  private readonly colors = new Map<string, number>();

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly color: boolean,
  ) {}

  add(name: string): void {
    this.width = Math.max(this.width, name.length);
    if (!this.colors.has(name)) this.colors.set(name, COLORS[this.colors.size % COLORS.length] as number);
  }

  prefix(name: string): string {
    const text = `${name.padEnd(this.width)}  | `;
    return this.color ? `\x1b[${this.colors.get(name) ?? 0}m${text}\x1b[0m` : text;
  }

  line(name: string, text: string): void {
    this.out.write(`${this.prefix(name)}${text}\n`);
  }
}

/** Follows (or dumps) one container's log through the printer, line by line; resolves at end. */
export async function printContainerLogs(engine: ComposeEngine, printer: LogPrinter, c: { id: string; name: string; tty: boolean }, opts: LogsOptions): Promise<void> {
  const res = await engine.client.containerLogs(c.id, opts);
  const pending: Record<number, string> = {};
  const emit = (stream: number, text: string): void => {
    const all = (pending[stream] ?? '') + text;
    const lines = all.split('\n');
    pending[stream] = lines.pop() ?? '';
    for (const l of lines) printer.line(c.name, l.replace(/\r$/, ''));
  };
  if (c.tty) {
    for await (const chunk of res) emit(StreamType.Stdout, (chunk as Buffer).toString('utf8'));
  } else {
    const demux = new Demuxer((stream, payload) => emit(stream, payload.toString('utf8')));
    for await (const chunk of res) demux.push(chunk as Buffer);
  }
  for (const rest of Object.values(pending)) if (rest) printer.line(c.name, rest);
}
