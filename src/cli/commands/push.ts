import { jsonLines } from '../../client/jsonlines.js';
import { StatusError, type CommandSpec } from '../command.js';
import { registryAuthHeader } from '../credentials.js';
import { ProgressRenderer, isTerminal, type ProgressMessage } from '../render/progress.js';
import { familiarName, fullString, withDefaultTag } from '../../image/reference.js';
import { referenceArg } from './common.js';

export const command: CommandSpec = {
  use: 'push [OPTIONS] NAME[:TAG]',
  short: 'Upload an image to a registry',
  aliases: ['berth image push', 'berth push'],
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', help: 'Push all tags of an image to the repository' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress verbose output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const ref = referenceArg(args.args[0]!);
    if (ref.digest !== undefined) throw new StatusError('cannot push a digest reference', 1);
    const all = args.bool('all-tags');
    if (all && ref.tag !== undefined) throw new StatusError('tag can\'t be used with --all-tags/-a', 1);
    const tag = all ? undefined : (ref.tag ?? 'latest');
    if (!all && ref.tag === undefined) ctx.stdout.write('Using default tag: latest\n');
    const auth = await registryAuthHeader(ref.domain === 'docker.io' ? '' : ref.domain);
    const res = await ctx.client().raw({
      method: 'POST',
      path: `/images/${familiarName(ref)}/push`,
      query: { tag },
      headers: { 'X-Registry-Auth': auth ?? Buffer.from('{}').toString('base64url') },
    });
    const quiet = args.bool('quiet');
    const renderer = new ProgressRenderer(ctx.stdout, isTerminal(ctx.stdout));
    for await (const msg of jsonLines<ProgressMessage>(res)) {
      if (quiet) {
        if (msg.error || msg.errorDetail) throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'push failed', 1);
        continue;
      }
      renderer.show(msg);
    }
    if (quiet) ctx.stdout.write(`${all ? familiarName(ref) : fullString(withDefaultTag(ref))}\n`);
    return 0;
  },
};
