import type { CommandSpec } from '../command.js';
import { readJson } from '../../client/transport.js';
import { splitRepoTag } from '../render/images.js';

export const command: CommandSpec = {
  use: 'commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  short: "Create a new image from a container's changes",
  aliases: ['berth container commit', 'berth commit'],
  flags: [
    { name: 'author', short: 'a', type: 'string', help: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', type: 'stringArray', typeName: 'list', help: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', type: 'string', help: 'Commit message' },
    { name: 'pause', short: 'p', type: 'bool', default: true, help: 'Pause container during commit' },
  ],
  args: { min: 1, max: 2 },
  async run(ctx, args) {
    const [container, ref] = args.args as [string, string | undefined];
    const [repo, tag] = ref ? splitRepoTag(ref) : [undefined, undefined];
    if (ref && ref.includes('@')) throw new Error('refusing to create a tag with a digest reference');
    const changes = args.list('change').map((c) => `&changes=${encodeURIComponent(c)}`).join('');
    const q = new URLSearchParams({ container });
    if (repo) q.set('repo', repo);
    if (tag) q.set('tag', tag);
    if (args.string('message')) q.set('comment', args.string('message')!);
    if (args.string('author')) q.set('author', args.string('author')!);
    q.set('pause', args.values.get('pause') === false ? '0' : '1');
    const res = await ctx.client().raw({ method: 'POST', path: `/commit?${q.toString().replace(/\+/g, '%20')}${changes}`, body: '', headers: { 'Content-Type': 'application/json' } });
    const answer = await readJson<{ Id: string }>(res);
    ctx.stdout.write(`${answer.Id}\n`);
    return 0;
  },
};
