/**
 * The build context: the body of POST /build, a tar (plain or gzip) unpacked into a private
 * temp directory, or, when the body is not a tar at all, a bare Dockerfile (`docker build -`
 * with a Dockerfile on stdin).
 *
 * The tar is untrusted. Every entry must stay inside the target: absolute names and `..` are
 * refused, a path component is never followed through a symlink, hardlinks may only point at
 * entries already unpacked, and existing entries are replaced, never written through.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, rm, symlink, unlink, utimes, chmod, open } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { decompressed } from '../snapshot/decompress.js';
import { invalidParameter, isBerthError, isErrno } from '../util/errors.js';
import { IgnoreMatcher } from './ignore.js';

/** Bodies that are not tars and are at most this big are taken as a bare Dockerfile. */
const MAX_BARE_DOCKERFILE = 4 * 1024 * 1024;
const TAR_BLOCK = 512;

export interface BuildContext {
  /** The unpacked context directory (empty for a bare Dockerfile). */
  dir: string;
  /** Set when the body was a Dockerfile rather than a tar. */
  bareDockerfile?: string;
  /** Removes the unpacked context. */
  dispose(): Promise<void>;
}

function contextError(name: string, problem: string): Error {
  return invalidParameter(`invalid build context: tar entry ${JSON.stringify(name)} ${problem}`);
}

/** Cleans an entry name to a relative path inside the context, refusing escapes. */
export function contextEntryPath(name: string): string {
  if (name.startsWith('/')) throw contextError(name, 'is an absolute path; context entries must be relative');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw contextError(name, 'would be written outside the context ("..")');
  if (parts.some((p) => p.includes('\0'))) throw contextError(name, 'contains a NUL byte');
  return parts.join('/');
}

function isTarHeader(block: Buffer): boolean {
  if (block.length < TAR_BLOCK) return false;
  // ustar (POSIX and GNU) magic; docker and every common tar write it.
  return block.subarray(257, 262).toString('latin1') === 'ustar';
}

/** Reads `source` (decompressed) into a context directory under `tempRoot`. */
export async function receiveContext(source: AsyncIterable<Uint8Array | string>, tempRoot: string): Promise<BuildContext> {
  const dir = join(tempRoot, `ctx-${randomBytes(8).toString('hex')}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dispose = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const iterator = decompressed(source)[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let headLength = 0;
    let done = false;
    while (headLength < TAR_BLOCK) {
      const next = await iterator.next();
      if (next.done) {
        done = true;
        break;
      }
      head.push(next.value);
      headLength += next.value.length;
    }
    const first = Buffer.concat(head);
    if (!isTarHeader(first)) {
      // Not a tar: a Dockerfile on its own. Read the rest (bounded) as its text.
      const chunks: Buffer[] = [first];
      let size = first.length;
      while (!done) {
        const next = await iterator.next();
        if (next.done) break;
        size += next.value.length;
        if (size > MAX_BARE_DOCKERFILE) throw invalidParameter('the build context is neither a tar archive nor a Dockerfile (too large for a Dockerfile)');
        chunks.push(next.value);
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.includes('\0')) throw invalidParameter('the build context is neither a tar archive nor a Dockerfile');
      return { dir, bareDockerfile: text, dispose };
    }
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield first;
      if (done) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    };
    await unpackContext(rest(), dir);
    return { dir, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/**
 * The docker CLI's context for `-f` outside the context ends right after the last file's
 * bytes, without the block padding and the two zero blocks a tar should end with (dockerd
 * accepts it). Padding the stream ourselves makes such a tar readable; a proper tar just gets
 * zero blocks after its end, which readers skip.
 */
async function* withTrailer(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of bytes) {
    total += chunk.length;
    yield chunk;
  }
  yield Buffer.alloc((TAR_BLOCK - (total % TAR_BLOCK)) % TAR_BLOCK + 2 * TAR_BLOCK);
}

export async function unpackContext(bytes: AsyncIterable<Buffer>, dir: string): Promise<void> {
  const extract = tar.extract();
  const feeding = pipeline(Readable.from(withTrailer(bytes)), extract);
  let feedError: unknown;
  feeding.catch((err: unknown) => {
    feedError = err;
  });
  const realDirs = new Set<string>(['']);
  const dirTimes: Array<{ path: string; mtime: Date }> = [];

  const ensureParents = async (name: string, rel: string): Promise<void> => {
    const parts = rel.split('/');
    parts.pop();
    let current = '';
    for (const part of parts) {
      current = current === '' ? part : `${current}/${part}`;
      if (realDirs.has(current)) continue;
      const abs = join(dir, current);
      try {
        const st = await lstat(abs);
        if (!st.isDirectory()) throw contextError(name, `lies below ${JSON.stringify(current)}, which is not a directory (symlinks are never followed)`);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
        await mkdir(abs, { mode: 0o755 });
      }
      realDirs.add(current);
    }
  };

  const clear = async (abs: string, keepDir: boolean): Promise<void> => {
    try {
      const st = await lstat(abs);
      if (st.isDirectory() && keepDir) return;
      if (st.isDirectory()) await rm(abs, { recursive: true, force: true });
      else await unlink(abs);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  };

  try {
    for await (const entry of extract) {
      const header = entry.header;
      const rel = contextEntryPath(header.name);
      const mode = (header.mode ?? 0o644) & 0o7777;
      const mtime = header.mtime ?? new Date(0);
      if (rel === '') {
        entry.resume();
        continue;
      }
      await ensureParents(header.name, rel);
      const abs = join(dir, rel);
      switch (header.type) {
        case 'directory':
          await clear(abs, true);
          await mkdir(abs, { recursive: true, mode: 0o755 });
          await chmod(abs, mode);
          realDirs.add(rel);
          dirTimes.push({ path: abs, mtime });
          break;
        case 'file':
        case 'contiguous-file': {
          await clear(abs, false);
          const handle = await open(abs, 'wx', 0o600);
          try {
            for await (const chunk of entry) await handle.write(chunk as Buffer);
          } finally {
            await handle.close();
          }
          await chmod(abs, mode);
          await utimes(abs, mtime, mtime);
          break;
        }
        case 'symlink':
          await clear(abs, false);
          await symlink(header.linkname ?? '', abs);
          break;
        case 'link': {
          const target = contextEntryPath(header.linkname ?? '');
          const targetStat = await lstat(join(dir, target)).catch(() => undefined);
          if (!targetStat || targetStat.isDirectory()) throw contextError(header.name, `is a hard link to ${JSON.stringify(header.linkname)}, which is not a file unpacked earlier`);
          await clear(abs, false);
          await link(join(dir, target), abs);
          break;
        }
        default:
          // Devices, fifos and the like have no place in a build context.
          break;
      }
      entry.resume();
    }
  } catch (err) {
    extract.destroy();
    if (isBerthError(err)) throw err;
    throw invalidParameter(`invalid build context: ${(feedError ?? err) instanceof Error ? ((feedError ?? err) as Error).message : String(err)}`);
  }
  await feeding.catch((err: unknown) => {
    throw isBerthError(err) ? err : invalidParameter(`invalid build context: ${(err as Error).message}`);
  });
  for (const { path, mtime } of dirTimes.reverse()) await utimes(path, mtime, mtime).catch(() => undefined);
}

/** Reads `.dockerignore` from an unpacked context (absent: nothing ignored). */
export async function readIgnore(dir: string): Promise<IgnoreMatcher> {
  try {
    return IgnoreMatcher.fromText(await readFile(join(dir, '.dockerignore'), 'utf8'));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return IgnoreMatcher.fromText(undefined);
    throw err;
  }
}
