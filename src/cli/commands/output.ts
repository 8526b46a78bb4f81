import type { EngineClient, LogsOptions } from '../../client/client.js';
import { Demuxer, StreamType } from '../../client/stdcopy.js';
import type { CliContext } from '../command.js';

/**
 * Copies a container's log stream to our stdout/stderr: raw for TTY containers (one stream,
 * no framing), demultiplexed otherwise. Resolves at end of stream.
 */
export async function copyLogs(ctx: CliContext, client: EngineClient, id: string, opts: LogsOptions, tty: boolean): Promise<void> {
  const res = await client.containerLogs(id, opts);
  if (tty) {
    for await (const chunk of res) ctx.stdout.write(chunk as Buffer);
    return;
  }
  const demux = new Demuxer((stream, payload) => {
    if (stream === StreamType.Stderr || stream === StreamType.SystemErr) ctx.stderr.write(Buffer.from(payload));
    else ctx.stdout.write(Buffer.from(payload));
  });
  for await (const chunk of res) demux.push(chunk as Buffer);
}

/** Forwards Ctrl-C and friends to the container, as docker's --sig-proxy does. */
export function proxySignals(client: EngineClient, id: string): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const handler = (sig: NodeJS.Signals): void => {
    client.containerKill(id, sig).catch(() => undefined);
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
