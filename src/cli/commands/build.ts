/**
 * `berth build`: packs the context directory (minus .dockerignore'd files) as a tar and sends
 * it to POST /build, then prints the daemon's progress stream as docker's classic builder
 * output. A Dockerfile outside the context goes into the tar under a generated name (and into
 * .dockerignore, so COPY never sees it), as the docker CLI does. `-` reads the context, a tar
 * or a bare Dockerfile, from stdin.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, readdir, readlink, writeFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { jsonLines } from '../../client/jsonlines.js';
import { IgnoreMatcher } from '../../build/ignore.js';
import { StatusError, type CliContext, type CommandSpec } from '../command.js';
import { humanSize } from '../render/human.js';

interface BuildMessage {
  stream?: string;
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string; code?: number };
}

/** tar-stream's own typings and @types disagree on the name; take it from the function. */
type EntryHeader = Parameters<ReturnType<typeof tar.pack>['entry']>[0];

interface ContextFile {
  name: string;
  abs?: string;
  content?: Buffer;
}

async function readStdin(ctx: CliContext): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.stdin as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

function isArchive(data: Buffer): boolean {
  if (data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b) return true;
  return data.length >= 512 && data.subarray(257, 262).toString('latin1') === 'ustar';
}

/** The tar entries of a context directory, .dockerignore applied (the Dockerfile and .dockerignore always go). */
async function contextEntries(dir: string, ignore: IgnoreMatcher, keep: Set<string>): Promise<Array<{ rel: string; abs: string }>> {
  const out: Array<{ rel: string; abs: string }> = [];
  const walk = async (absDir: string, relDir: string): Promise<void> => {
    for (const name of (await readdir(absDir)).sort()) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const abs = join(absDir, name);
      const stat = await lstat(abs);
      const ignored = !keep.has(rel) && ignore.ignores(rel);
      if (ignored && !(stat.isDirectory() && ignore.mayReinclude(rel))) continue;
      if (!ignored) out.push({ rel, abs });
      if (stat.isDirectory()) await walk(abs, rel);
    }
  };
  await walk(dir, '');
  return out;
}

function packContext(dir: string, entries: Array<{ rel: string; abs: string }>, extra: ContextFile[]): Readable {
  const pack = tar.pack();
  void (async () => {
    const add = (header: EntryHeader, body?: Buffer): Promise<void> =>
      new Promise((resolvePromise, reject) => {
        pack.entry(header, body ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolvePromise()));
      });
    for (const { rel, abs } of entries) {
      const stat = await lstat(abs);
      const base = { name: rel, mode: stat.mode & 0o7777, uid: 0, gid: 0, mtime: stat.mtime };
      if (stat.isDirectory()) await add({ ...base, type: 'directory' });
      else if (stat.isSymbolicLink()) await add({ ...base, type: 'symlink', linkname: await readlink(abs) });
      else if (stat.isFile() && stat.size === 0) await add({ ...base, type: 'file', size: 0 });
      else if (stat.isFile()) {
        await new Promise<void>((resolvePromise, reject) => {
          const sink = pack.entry({ ...base, type: 'file', size: stat.size }, (err) => (err ? reject(err) : resolvePromise()));
          // Exactly the size announced: a file growing meanwhile must not corrupt the tar.
          const body = createReadStream(abs, { start: 0, end: stat.size - 1 });
          body.on('error', reject);
          body.pipe(sink);
        });
      }
    }
    for (const file of extra) await add({ name: file.name, mode: 0o644, uid: 0, gid: 0, mtime: new Date(), type: 'file', size: file.content!.length }, file.content);
    pack.finalize();
  })().catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  void dir;
  return pack as unknown as Readable;
}

/** Builds the context body and the `dockerfile` query value. */
async function prepareContext(ctx: CliContext, contextArg: string, fileFlag: string | undefined): Promise<{ body: Readable | Buffer; dockerfile?: string; size?: number }> {
  if (contextArg === '-') {
    if (fileFlag === '-') throw new StatusError('invalid argument: can\'t use stdin for both build context and dockerfile', 1);
    const data = await readStdin(ctx);
    // A tar is the context; anything else is taken as the Dockerfile itself.
    return { body: data, dockerfile: isArchive(data) ? fileFlag : undefined, size: data.length };
  }
  const dir = resolve(contextArg);
  try {
    if (!(await lstat(dir)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new StatusError(`unable to prepare context: path "${contextArg}" not found`, 1);
  }
  let ignoreText: string | undefined;
  try {
    ignoreText = await readFile(join(dir, '.dockerignore'), 'utf8');
  } catch {
    ignoreText = undefined;
  }
  const extra: ContextFile[] = [];
  let dockerfileName: string | undefined;
  let outside: Buffer | undefined;
  if (fileFlag === '-') outside = await readStdin(ctx);
  else if (fileFlag) {
    const abs = resolve(fileFlag);
    const rel = relative(dir, abs);
    if (rel.startsWith('..') || rel.startsWith(sep) || rel === '') {
      try {
        outside = await readFile(abs);
      } catch {
        throw new StatusError(`unable to prepare context: the Dockerfile (${fileFlag}) cannot be read`, 1);
      }
    } else dockerfileName = rel.split(sep).join('/');
  }
  if (outside) {
    dockerfileName = `.dockerfile.${randomBytes(10).toString('hex')}`;
    extra.push({ name: dockerfileName, content: outside });
    const lines = `${ignoreText ?? ''}${ignoreText && !ignoreText.endsWith('\n') ? '\n' : ''}${ignoreText === undefined ? '.dockerignore\n' : ''}${dockerfileName}\n`;
    extra.push({ name: '.dockerignore', content: Buffer.from(lines) });
  }
  const ignore = IgnoreMatcher.fromText(ignoreText);
  const keep = new Set([dockerfileName ?? 'Dockerfile', '.dockerignore']);
  let entries = await contextEntries(dir, ignore, keep);
  if (outside) entries = entries.filter((e) => e.rel !== '.dockerignore');
  let size = 0;
  for (const e of entries) {
    const st = await lstat(e.abs);
    if (st.isFile()) size += st.size;
  }
  return { body: packContext(dir, entries, extra), dockerfile: dockerfileName, size };
}

function keyValues(list: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0 && what === 'label') out[item] = '';
    else if (eq <= 0) throw new StatusError(`invalid ${what}: ${item}`, 125);
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** --build-arg NAME=value, or NAME alone to take the value from this environment (null if unset). */
function buildArgs(list: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq === 0) throw new StatusError(`invalid argument "${item}" for "--build-arg" flag`, 125);
    if (eq < 0) out[item] = process.env[item] ?? null;
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export const command: CommandSpec = {
  use: 'build [OPTIONS] PATH | URL | -',
  short: 'Build an image from a Dockerfile',
  aliases: ['berth image build', 'berth build', 'berth builder build'],
  flags: [
    { name: 'build-arg', type: 'stringArray', help: 'Set build-time variables' },
    { name: 'cache-from', type: 'stringArray', typeName: 'strings', help: 'Images to consider as cache sources' },
    { name: 'file', short: 'f', type: 'string', help: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
    { name: 'force-rm', type: 'bool', help: 'Always remove intermediate containers' },
    { name: 'iidfile', type: 'string', help: 'Write the image ID to the file' },
    { name: 'label', type: 'stringArray', help: 'Set metadata for an image' },
    { name: 'network', type: 'string', help: 'Set the networking mode for the RUN instructions during build', default: 'default' },
    { name: 'no-cache', type: 'bool', help: 'Do not use cache when building the image' },
    { name: 'pull', type: 'bool', help: 'Always attempt to pull a newer version of the image' },
    { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the build output and print image ID on success' },
    { name: 'rm', type: 'bool', help: 'Remove intermediate containers after a successful build', default: true },
    { name: 'tag', short: 't', type: 'stringArray', help: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'target', type: 'string', help: 'Set the target build stage to build.' },
  ],
  args: { min: 1, max: 1 },
  async run(ctx, args) {
    const contextArg = args.args[0] as string;
    if (/^(https?|git):\/\//.test(contextArg) || contextArg.startsWith('git@')) {
      throw new StatusError(`unable to prepare context: remote contexts (${contextArg}) are not supported: berthd has no outbound network`, 1);
    }
    const quiet = args.bool('quiet');
    const prepared = await prepareContext(ctx, contextArg, args.string('file'));
    if (!quiet && prepared.size !== undefined) ctx.stdout.write(`Sending build context to Berth daemon  ${humanSize(prepared.size)}\r\n`);
    const q = new URLSearchParams();
    for (const t of args.list('tag')) q.append('t', t);
    if (prepared.dockerfile) q.set('dockerfile', prepared.dockerfile);
    const argsMap = buildArgs(args.list('build-arg'));
    if (Object.keys(argsMap).length) q.set('buildargs', JSON.stringify(argsMap));
    const labels = keyValues(args.list('label'), 'label');
    if (Object.keys(labels).length) q.set('labels', JSON.stringify(labels));
    if (args.bool('no-cache')) q.set('nocache', '1');
    if (args.string('target')) q.set('target', args.string('target')!);
    if (quiet) q.set('q', '1');
    q.set('rm', args.values.get('rm') === false ? '0' : '1');
    if (args.bool('force-rm')) q.set('forcerm', '1');
    if (args.bool('pull')) q.set('pull', '1');
    const network = args.string('network');
    if (network && network !== 'default') q.set('networkmode', network);
    const cacheFrom = args.list('cache-from').flatMap((v) => v.split(',')).filter(Boolean);
    if (cacheFrom.length) q.set('cachefrom', JSON.stringify(cacheFrom));

    const res = await ctx.client().raw({
      method: 'POST',
      path: `/build?${q.toString()}`,
      body: prepared.body,
      headers: Buffer.isBuffer(prepared.body) ? { 'Content-Type': 'application/x-tar' } : { 'Content-Type': 'application/x-tar', 'Transfer-Encoding': 'chunked' },
    });
    let imageId = '';
    for await (const msg of jsonLines<BuildMessage>(res)) {
      if (msg.errorDetail || msg.error) {
        const code = msg.errorDetail?.code;
        throw new StatusError(msg.errorDetail?.message ?? msg.error ?? 'build failed', code && code > 0 ? code : 1);
      }
      if (msg.stream && !quiet) ctx.stdout.write(msg.stream);
      if (msg.aux?.ID) imageId = msg.aux.ID;
    }
    if (quiet && imageId) ctx.stdout.write(`${imageId}\n`);
    const iidfile = args.string('iidfile');
    if (iidfile && imageId) await writeFile(iidfile, imageId);
    return 0;
  },
};
