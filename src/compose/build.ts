/**
 * `build:` through POST /build: the context directory goes as a tar (minus .dockerignore'd
 * paths: plain names and simple globs), the image is tagged with the service's image name.
 */
import { createReadStream, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { jsonLines } from '../client/jsonlines.js';
import type { ProgressMessage } from '../client/types.js';
import type { ComposeEngine } from './engine.js';
import { ComposeError } from './errors.js';
import type { BuildConfig } from './model.js';

function ignoreMatcher(context: string): (rel: string) => boolean {
  const file = join(context, '.dockerignore');
  if (!existsSync(file)) return () => false;
  const rules = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const toRe = (glob: string): RegExp => new RegExp(`^${glob.replace(/^\/+|\/+$/g, '').replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]').replace(/\u0000/g, '.*')}(/.*)?$`);
  const compiled = rules.map((r) => ({ negate: r.startsWith('!'), re: toRe(r.replace(/^!/, '')) }));
  return (rel) => {
    let ignored = false;
    for (const r of compiled) if (r.re.test(rel)) ignored = !r.negate;
    return ignored;
  };
}

/** Streams the context directory as a tar. */
function contextTar(context: string, dockerfile: string): Readable {
  const tar = pack();
  const ignored = ignoreMatcher(context);
  const walk = async (dir: string): Promise<void> => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const rel = relative(context, abs);
      if (ignored(rel) && rel !== dockerfile) continue;
      const st = lstatSync(abs);
      const header = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
      if (st.isDirectory()) {
        tar.entry({ ...header, type: 'directory' });
        await walk(abs);
      } else if (st.isSymbolicLink()) {
        tar.entry({ ...header, type: 'symlink', linkname: readlinkSync(abs) });
      } else if (st.isFile()) {
        await new Promise<void>((resolve, reject) => {
          const entry = tar.entry({ ...header, size: st.size }, (err) => (err ? reject(err) : resolve()));
          createReadStream(abs).on('error', reject).pipe(entry);
        });
      }
    }
  };
  walk(context).then(() => tar.finalize(), (e: unknown) => tar.destroy(e as Error));
  // tar-stream's Pack is a streamx Readable; Readable.from adapts it for the HTTP body pipe.
  return Readable.from(tar);
}

export async function buildImage(engine: ComposeEngine, service: string, build: BuildConfig, tag: string, log: (line: string) => void): Promise<void> {
  if (!existsSync(build.context)) throw new ComposeError(`build context ${build.context} does not exist`, { key: `services.${service}.build.context` });
  const res = await engine.build(contextTar(build.context, build.dockerfile), {
    t: tag,
    dockerfile: build.dockerfile,
    buildargs: Object.keys(build.args).length ? JSON.stringify(build.args) : undefined,
    target: build.target,
    labels: build.labels ? JSON.stringify(build.labels) : undefined,
  });
  for await (const msg of jsonLines<ProgressMessage>(res)) {
    if (msg.error || msg.errorDetail?.message) throw new Error(`failed to build service "${service}": ${msg.errorDetail?.message ?? msg.error}`);
    if (msg.stream) for (const line of msg.stream.split('\n')) if (line.trim()) log(`${service}  ${line}`);
  }
}
