/**
 * `berth save`, `berth load`, `berth export`: image archives and container filesystems as tar
 * streams, to/from a file (-o/-i) or stdout/stdin.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { jsonLines } from '../../client/jsonlines.js';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';

/** Writes a response to -o FILE (via a temp name, so a failed save leaves no partial file) or stdout. */
async function writeOut(ctx: CliContext, body: Readable, output: string | undefined): Promise<void> {
  if (!output) {
    if ((ctx.stdout as NodeJS.WriteStream).isTTY) throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
    await pipeline(body, ctx.stdout);
    return;
  }
  const temp = `${output}.berth-tmp-${process.pid}`;
  try {
    await pipeline(body, createWriteStream(temp));
    await rename(temp, output);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

export const save: CommandSpec = {
  use: 'save [OPTIONS] IMAGE [IMAGE...]',
  short: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  aliases: ['berth image save', 'berth save'],
  flags: [{ name: 'output', short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' }],
  args: { min: 1 },
  async run(ctx, args) {
    const output = args.string('output');
    if (!output && (ctx.stdout as NodeJS.WriteStream).isTTY) throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
    const query = args.args.map((n) => `names=${encodeURIComponent(n)}`).join('&');
    const res = await ctx.client().raw({ method: 'GET', path: `/images/get?${query}` });
    await writeOut(ctx, res, output);
    return 0;
  },
};

export const load: CommandSpec = {
  use: 'load [OPTIONS]',
  short: 'Load an image from a tar archive or STDIN',
  aliases: ['berth image load', 'berth load'],
  flags: [
    { name: 'input', short: 'i', type: 'string', help: 'Read from tar archive file, instead of STDIN' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the load output' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const input = args.string('input');
    let body: Readable;
    if (input) {
      body = createReadStream(input);
      await new Promise<void>((resolve, reject) => {
        body.once('open', () => resolve());
        body.once('error', (err: NodeJS.ErrnoException) => reject(new StatusError(`open ${input}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, 1)));
      });
    } else {
      if ((ctx.stdin as NodeJS.ReadStream).isTTY) throw new StatusError('requested load from stdin, but stdin is empty', 1);
      body = ctx.stdin as Readable;
    }
    const res = await ctx.client().raw({
      method: 'POST',
      path: '/images/load',
      query: { quiet: args.bool('quiet') },
      body,
      headers: { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' },
    });
    for await (const msg of jsonLines<{ stream?: string; error?: string; errorDetail?: { message?: string } }>(res)) {
      if (msg.error || msg.errorDetail) throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'load failed', 1);
      if (msg.stream) ctx.stdout.write(msg.stream);
    }
    return 0;
  },
};

export const exportCommand: CommandSpec = {
  use: 'export [OPTIONS] CONTAINER',
  short: "Export a container's filesystem as a tar archive",
  aliases: ['berth container export', 'berth export'],
  flags: [{ name: 'output', short: 'o', type: 'string', help: 'Write to a file, instead of STDOUT' }],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const output = args.string('output');
    if (!output && (ctx.stdout as NodeJS.WriteStream).isTTY) throw new StatusError('cowardly refusing to save to a terminal. Use the -o flag or redirect', 1);
    const res = await ctx.client().raw({ method: 'GET', path: `/containers/${encodeURIComponent(args.args[0]!)}/export` });
    await writeOut(ctx, res, output);
    return 0;
  },
};
