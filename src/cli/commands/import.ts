import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { jsonLines } from '../../client/jsonlines.js';
import type { ProgressMessage } from '../../client/types.js';
import { StatusError, type CommandSpec } from '../command.js';
import { splitRepoTag } from '../render/images.js';

export const command: CommandSpec = {
  use: 'import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  short: 'Import the contents from a tarball to create a filesystem image',
  aliases: ['berth image import', 'berth import'],
  flags: [
    { name: 'change', short: 'c', type: 'stringArray', help: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', help: 'Set commit message for imported image' },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, args) {
    const [source, ref] = args.args as [string, string | undefined];
    if (/^https?:\/\//.test(source)) throw new StatusError('importing from a URL is not supported yet; download the file and import it', 1);
    let body: Readable;
    if (source === '-') body = process.stdin;
    else {
      body = createReadStream(source);
      // Open errors surface here, before a request is sent, with docker's wording.
      await new Promise<void>((resolve, reject) => {
        body.once('open', () => resolve());
        body.once('error', (err: NodeJS.ErrnoException) =>
          reject(new StatusError(`open ${source}: ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`, 1)),
        );
      });
    }
    const [repo, tag] = ref ? splitRepoTag(ref) : [undefined, undefined];
    const res = await ctx.client().imageImport(body, { repo, tag: tag || undefined, message: args.string('message'), changes: args.list('change') });
    for await (const msg of jsonLines<ProgressMessage>(res)) {
      if (msg.error || msg.errorDetail) throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'import failed', 1);
      if (msg.status) ctx.stdout.write(`${msg.id ? `${msg.id}: ` : ''}${msg.status}\n`);
    }
    return 0;
  },
};
