/**
 * COPY and ADD: find the sources (in the context, another stage or an image), checksum their
 * content for the cache (names, modes, link targets and bytes; never mtimes), and lay them
 * out as the entries of a new layer under the destination.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { invalidParameter } from '../util/errors.js';
import { unpackContext } from './context.js';
import { globRegExp, type IgnoreMatcher } from './ignore.js';
import { escapesRoot, resolveScoped } from './scoped.js';
import type { Heredoc } from './dockerfile/parser.js';

export interface SourceRoot {
  dir: string;
  /** Context only: .dockerignore rules. */
  ignore?: IgnoreMatcher;
  /** How messages name it: "build context", "stage builder", "image alpine". */
  label: string;
}

export interface SourceEntry {
  /** Path below the source's own top ("" for a file source: it lands under its basename). */
  rel: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  mtime: Date;
  /** File bytes come from here. */
  abs?: string;
  linkname?: string;
}

export interface CollectedSource {
  kind: 'file' | 'dir';
  /** A local archive ADD unpacked: its contents land like a directory's, but it was a file. */
  archive?: boolean;
  /** Basename a file source keeps when copied into a directory. */
  name: string;
  entries: SourceEntry[];
}

export interface CollectedSources {
  sources: CollectedSource[];
  /** sha256 over the sources' names, modes, link targets and content. */
  checksum: string;
  /** docker's created_by form: "file:<hex>", "dir:<hex>" or "multi:<hex>". */
  summary: string;
}

export interface CollectOptions {
  keyword: 'COPY' | 'ADD';
  root: SourceRoot;
  /** Source words after variable expansion (heredoc markers as written, e.g. "<<EOF"). */
  sources: string[];
  heredocs: Heredoc[];
  /** Expands a heredoc body (unquoted delimiters only). */
  expandHeredoc: (text: string) => string;
  /** Where temp files (heredoc bodies, unpacked ADD archives) may go; removed by the caller. */
  scratchDir: string;
  /** ADD unpacks local tar archives; COPY from another stage never does. */
  extractArchives: boolean;
}

const GLOB_CHARS = /[*?[]/;

function isUrl(source: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(source);
}

async function hashFile(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

function entryOf(rel: string, abs: string, stat: Stats, linkname?: string): SourceEntry {
  const type = stat.isDirectory() ? 'directory' : stat.isSymbolicLink() ? 'symlink' : 'file';
  const entry: SourceEntry = { rel, type, mode: stat.mode & 0o7777, size: type === 'file' ? stat.size : 0, mtime: stat.mtime };
  if (type === 'file') entry.abs = abs;
  if (linkname !== undefined) entry.linkname = linkname;
  return entry;
}

/** Walks a directory without following symlinks, honouring .dockerignore for the context. */
async function walkDir(root: SourceRoot, dirAbs: string, dirRelInRoot: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  const walk = async (abs: string, relBelow: string, relInRoot: string): Promise<void> => {
    const names = (await readdir(abs)).sort();
    for (const name of names) {
      const childAbs = join(abs, name);
      const childRel = relBelow === '' ? name : `${relBelow}/${name}`;
      const childInRoot = relInRoot === '' ? name : `${relInRoot}/${name}`;
      const stat = await lstat(childAbs);
      const ignored = root.ignore?.ignores(childInRoot) ?? false;
      if (ignored && !(stat.isDirectory() && root.ignore!.mayReinclude(childInRoot))) continue;
      if (stat.isSymbolicLink()) out.push(entryOf(childRel, childAbs, stat, await readlink(childAbs)));
      else if (stat.isDirectory()) {
        if (!ignored) out.push(entryOf(childRel, childAbs, stat));
        await walk(childAbs, childRel, childInRoot);
      } else if (stat.isFile()) out.push(entryOf(childRel, childAbs, stat));
    }
  };
  await walk(dirAbs, '', dirRelInRoot);
  return out;
}

/** Every path in the root matching a Go filepath.Match pattern (context-relative). */
async function globMatches(root: SourceRoot, pattern: string): Promise<string[]> {
  const re = globRegExp(posix.normalize(pattern).replace(/^\/+/, ''));
  const depth = pattern.split('/').filter(Boolean).length;
  const out: string[] = [];
  const walk = async (relDir: string, level: number): Promise<void> => {
    const abs = relDir === '' ? root.dir : join(root.dir, relDir);
    let names: string[];
    try {
      names = (await readdir(abs, { withFileTypes: true })).map((d) => d.name).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      if (re.test(rel) && !(root.ignore?.ignores(rel) ?? false)) out.push(rel);
      if (level + 1 < depth) await walk(rel, level + 1);
    }
  };
  await walk('', 0);
  return out;
}

async function looksLikeArchive(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await handle.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return true;
    return bytesRead === 512 && head.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await handle.close();
  }
}

/** Resolves the sources of one COPY/ADD and checksums them. */
export async function collectSources(options: CollectOptions): Promise<CollectedSources> {
  const { keyword, root } = options;
  const sources: CollectedSource[] = [];
  const hash = createHash('sha256');
  const heredocs = [...options.heredocs];

  const addFile = async (name: string, abs: string, stat: Stats): Promise<void> => {
    if (options.extractArchives && stat.isFile() && (await looksLikeArchive(abs))) {
      // ADD of a local archive: its contents land in the destination directory.
      const dir = join(options.scratchDir, `archive-${randomBytes(6).toString('hex')}`);
      await mkdir(dir, { recursive: true });
      await unpackContext(createReadStream(abs), dir).catch((err: Error) => {
        throw invalidParameter(`${keyword} failed: cannot unpack archive ${name}: ${err.message}`);
      });
      sources.push({ kind: 'dir', archive: true, name, entries: await walkDir({ dir, label: name }, dir, '') });
      hash.update(`archive ${name}\n`);
      await hashFile(abs, hash);
      return;
    }
    sources.push({ kind: 'file', name, entries: [entryOf('', abs, stat)] });
  };

  for (const source of options.sources) {
    const marker = /^<<-?["']?([A-Za-z0-9_][A-Za-z0-9_.-]*)["']?$/.exec(source);
    if (marker && heredocs.length > 0 && heredocs[0]!.name === marker[1]) {
      const doc = heredocs.shift()!;
      const text = doc.expand ? options.expandHeredoc(doc.content) : doc.content;
      const path = join(options.scratchDir, `heredoc-${randomBytes(6).toString('hex')}`);
      await mkdir(options.scratchDir, { recursive: true });
      await writeFile(path, text, { mode: 0o644 });
      sources.push({ kind: 'file', name: doc.name, entries: [{ rel: '', type: 'file', mode: 0o644, size: Buffer.byteLength(text), mtime: new Date(0), abs: path }] });
      continue;
    }
    if (isUrl(source)) {
      if (keyword === 'COPY') throw invalidParameter(`source can't be a URL for COPY: ${source}`);
      throw invalidParameter(`ADD of a URL is not supported: berthd has no outbound network access to fetch ${source}; download it into the build context and ADD the local file`);
    }
    if (root.ignore && escapesRoot(source.replace(/^\/+/, ''))) {
      throw invalidParameter(`${keyword} failed: forbidden path outside the build context: ${source}`);
    }
    const paths = GLOB_CHARS.test(source) ? await globMatches(root, source) : [source];
    if (paths.length === 0) throw invalidParameter(`${keyword} failed: no source files were specified: ${JSON.stringify(source)} matches nothing in the ${root.label}`);
    for (const path of paths) {
      const found = await resolveScoped(root.dir, path);
      const relInRoot = posix.normalize(path).replace(/^\/+/, '').replace(/\/+$/, '');
      if (!found || (relInRoot !== '' && relInRoot !== '.' && root.ignore?.ignores(relInRoot))) {
        throw invalidParameter(`${keyword} failed: file not found in ${root.label}${root.ignore ? ' or excluded by .dockerignore' : ''}: stat ${path}: file does not exist`);
      }
      const name = posix.basename(found.rel === '' ? '/' : found.rel);
      if (found.stat.isDirectory()) sources.push({ kind: 'dir', name, entries: await walkDir(root, found.abs, found.rel) });
      else await addFile(name, found.abs, found.stat);
    }
  }

  for (const source of sources) {
    hash.update(`${source.kind} ${source.kind === 'file' ? source.name : ''}\n`);
    for (const entry of source.entries) {
      hash.update(`${entry.type} ${entry.rel} ${entry.mode.toString(8)} ${entry.linkname ?? ''}\n`);
      if (entry.type === 'file' && entry.abs) {
        await hashFile(entry.abs, hash);
      }
    }
  }
  const checksum = hash.digest('hex');
  const only = sources.length === 1 ? sources[0]! : undefined;
  const summary = `${only ? (only.archive ? 'file' : only.kind) : 'multi'}:${checksum}`;
  return { sources, checksum, summary };
}

export interface Ownership {
  uid: number;
  gid: number;
}

export interface PlacedEntry {
  /** Name in the layer (no leading slash). */
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size: number;
  abs?: string;
  linkname?: string;
}

export interface PlaceOptions {
  keyword: 'COPY' | 'ADD';
  /** Absolute destination, trailing slash kept when written. */
  dest: string;
  /** True when the destination already exists as a directory in the image. */
  destIsExistingDir: boolean;
  chown?: Ownership;
  chmod?: number;
}

/** Lays the collected sources out under the destination, as docker's copier does. */
export function placeSources(collected: CollectedSources, options: PlaceOptions): PlacedEntry[] {
  const { sources } = collected;
  const count = sources.reduce((n, s) => n + (s.kind === 'file' ? 1 : 0), 0) + sources.filter((s) => s.kind === 'dir').length;
  const destDirSyntax = options.dest.endsWith('/') || options.dest.endsWith('/.');
  if (count > 1 && !destDirSyntax && !options.destIsExistingDir) {
    throw invalidParameter(`When using ${options.keyword} with more than one source file, the destination must be a directory and end with a /`);
  }
  const dest = posix.normalize(options.dest).replace(/^\/+/, '').replace(/\/+$/, '');
  const owner = options.chown ?? { uid: 0, gid: 0 };
  const out: PlacedEntry[] = [];
  const join2 = (a: string, b: string): string => (a === '' ? b : b === '' ? a : `${a}/${b}`);
  for (const source of sources) {
    const intoDir = source.kind === 'dir' || destDirSyntax || options.destIsExistingDir || count > 1;
    for (const entry of source.entries) {
      const name = source.kind === 'dir' ? join2(dest, entry.rel) : intoDir ? join2(dest, source.name) : dest;
      if (name === '') continue;
      const mode = options.chmod !== undefined && entry.type !== 'symlink' ? options.chmod : entry.mode;
      const placed: PlacedEntry = { name, type: entry.type, mode, uid: owner.uid, gid: owner.gid, mtime: entry.mtime, size: entry.size };
      if (entry.abs) placed.abs = entry.abs;
      if (entry.linkname !== undefined) placed.linkname = entry.linkname;
      out.push(placed);
    }
  }
  return out;
}

/** The directories a set of placed entries lives in (not themselves entries), parents first. */
export function parentDirectories(entries: readonly PlacedEntry[], alsoDir?: string): string[] {
  const names = new Set(entries.map((e) => e.name));
  const dirs = new Set<string>();
  const add = (path: string): void => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (dir !== '' && !names.has(dir)) dirs.add(dir);
    }
  };
  for (const entry of entries) add(posix.dirname(entry.name) === '.' ? '' : posix.dirname(entry.name));
  if (alsoDir) add(alsoDir);
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1));
}
