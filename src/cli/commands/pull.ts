import { jsonLines } from '../../client/jsonlines.js';
import { StatusError, type CommandSpec } from '../command.js';
import { registryAuthHeader } from '../credentials.js';
import { ProgressRenderer, isTerminal, type ProgressMessage } from '../render/progress.js';
import { familiarName, fullString, withDefaultTag } from '../../image/reference.js';
import { referenceArg } from './common.js';

export const command: CommandSpec = {
  use: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
  short: 'Download an image from a registry',
  aliases: ['berth image pull', 'berth pull'],
  flags: [
    { name: 'all-tags', short: 'a', type: 'bool', help: 'Download all tagged images in the repository' },
    { name: 'platform', type: 'string', help: 'Set platform if server is multi-platform capable (e.g. linux/amd64)' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress verbose output' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const ref = referenceArg(args.args[0]!);
    const all = args.bool('all-tags');
    if (all && (ref.tag !== undefined || ref.digest !== undefined)) throw new StatusError('tag can\'t be used with --all-tags/-a', 1);
    const full = withDefaultTag(ref);
    const query: Record<string, string | undefined> = { fromImage: familiarName(ref), tag: all ? undefined : (full.digest ?? full.tag), platform: args.string('platform') };
    const auth = await registryAuthHeader(ref.domain === 'docker.io' ? '' : ref.domain);
    const res = await ctx.client().raw({ method: 'POST', path: '/images/create', query, headers: auth ? { 'X-Registry-Auth': auth } : {} });
    const quiet = args.bool('quiet');
    const renderer = new ProgressRenderer(ctx.stdout, isTerminal(ctx.stdout));
    for await (const msg of jsonLines<ProgressMessage>(res)) {
      if (quiet) {
        if (msg.error || msg.errorDetail) throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'pull failed', 1);
        continue;
      }
      renderer.show(msg);
    }
    ctx.stdout.write(`${all ? `${ref.domain}/${ref.path}` : fullString(full)}\n`);
    return 0;
  },
};
