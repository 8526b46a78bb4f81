/**
 * `docker load`: reads an image archive (docker's manifest.json form, or an OCI image layout
 * with index.json only), plain or gzip, and adds its images. Nothing becomes visible until
 * everything checked out: the archive is unpacked to a private temp dir (regular files and
 * directories only; links are kept as aliases inside the archive, never created on disk),
 * every layer is verified against its config's diff_ids while it is unpacked, and layers this
 * load added are deleted again if anything fails. Only then are the images and tags recorded.
 * An uncompressed layer file is read once (hashed while it is unpacked) and then becomes the
 * stored layer blob by a hard link, so its bytes are written twice in all (archive, diff/),
 * as dockerd writes them, not three times.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BatchedFileWriter } from '../util/batched-write.js';
import { invalidParameter, isBerthError } from '../util/errors.js';
import { decompressed } from '../snapshot/decompress.js';
import { cleanEntryPath } from '../snapshot/tar-apply.js';
import { chainIdOf } from '../snapshot/chain.js';
import { decodeImageConfig } from './config-json.js';
import { digestHex, sha256Digest } from './content.js';
import { parseNormalizedNamed } from './reference.js';
import type { ImageStore } from './store.js';
import type { ImageRecord } from './types.js';

interface ArchiveImage {
  configPath: string;
  repoTags: string[];
  layerPaths: string[];
  /** docker save's parent link: the ID of another image in the same archive. */
  parent?: string;
}

export interface LoadedImage {
  image: ImageRecord;
  tags: string[];
}

/** The archive's files on disk plus the link aliases it contained. */
class UnpackedArchive {
  readonly aliases = new Map<string, string>();
  readonly files = new Set<string>();
  constructor(readonly dir: string) {}

  /** Follows archive-internal links (at most 40) to a real file name, refusing anything outside. */
  resolve(name: string): string {
    let current = cleanEntryPath(name);
    for (let i = 0; i < 40; i++) {
      if (this.files.has(current)) return join(this.dir, current);
      const target = this.aliases.get(current);
      if (target === undefined) throw invalidParameter(`invalid archive: ${name} is not in the archive`);
      current = target;
    }
    throw invalidParameter(`invalid archive: too many links for ${name}`);
  }

  has(name: string): boolean {
    try {
      this.resolve(name);
      return true;
    } catch {
      return false;
    }
  }

  async read(name: string): Promise<Buffer> {
    return readFile(this.resolve(name));
  }
}

async function unpack(source: AsyncIterable<Uint8Array | string>, dir: string): Promise<UnpackedArchive> {
  const archive = new UnpackedArchive(dir);
  const extract = tar.extract();
  // The parser's own error (truncation, bad header) explains a failure better than the
  // "stream destroyed" an entry reader sees as its consequence.
  let parseError: unknown;
  extract.on('error', (err: unknown) => {
    parseError ??= err;
  });
  const feeding = (async () => {
    try {
      for await (const chunk of decompressed(source)) {
        if (!extract.write(chunk)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
      }
      extract.end(null);
    } catch (err) {
      extract.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const name = cleanEntryPath(header.name);
      if (name === '') {
        entry.resume();
        continue;
      }
      if (header.type === 'directory') {
        await mkdir(join(dir, name), { recursive: true });
      } else if (header.type === 'file' || header.type === 'contiguous-file') {
        await mkdir(join(dir, posix.dirname(name)), { recursive: true });
        const handle = await open(join(dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch(() => {
          throw invalidParameter(`invalid archive: ${header.name} appears twice`);
        });
        const out = new BatchedFileWriter(handle);
        try {
          for await (const chunk of entry) await out.write(chunk as Buffer);
          await out.done();
        } finally {
          await out.pending.catch(() => undefined);
          await handle.close();
        }
        archive.files.add(name);
        continue;
      } else if (header.type === 'symlink' || header.type === 'link') {
        const linkname = header.linkname ?? '';
        // A symlink's target is relative to its directory; a hardlink's to the archive root.
        const target = header.type === 'symlink' ? posix.join(posix.dirname(name), linkname) : linkname;
        if (linkname.startsWith('/') || posix.normalize(target).startsWith('..')) {
          throw invalidParameter(`invalid archive: link ${header.name} -> ${linkname} points outside the archive`);
        }
        archive.aliases.set(name, cleanEntryPath(target));
      } else {
        throw invalidParameter(`invalid archive: unsupported entry ${header.name} (${String(header.type)})`);
      }
      for await (const _ of entry) void _;
    }
  } catch (err) {
    extract.destroy();
    if (isBerthError(err)) throw err;
    throw describeArchiveError(parseError ?? err);
  }
  await feeding;
  if (parseError) throw describeArchiveError(parseError);
  return archive;
}

function describeArchiveError(err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of data|premature close/i.test(message)) return invalidParameter('invalid archive: the tar is truncated (unexpected end of data)');
  if (/Invalid tar header|Header exceeds|Invalid header|incorrect header check|unexpected end of file/i.test(message)) return invalidParameter(`invalid archive: ${message}`);
  return err instanceof Error ? err : new Error(message);
}

function asStringArray(value: unknown, what: string): string[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalidParameter(`invalid archive: ${what} must be a list of strings`);
  return value as string[];
}

async function parseJson(archive: UnpackedArchive, name: string): Promise<unknown> {
  try {
    return JSON.parse((await archive.read(name)).toString('utf8'));
  } catch (err) {
    if (isBerthError(err)) throw err;
    throw invalidParameter(`invalid archive: ${name} is not valid JSON`);
  }
}

/** The images the archive lists: manifest.json when present, else the OCI index. */
async function listImages(archive: UnpackedArchive): Promise<ArchiveImage[]> {
  if (archive.has('manifest.json')) {
    const manifest = await parseJson(archive, 'manifest.json');
    if (!Array.isArray(manifest)) throw invalidParameter('invalid archive: manifest.json is not a list');
    return manifest.map((m: Record<string, unknown>) => {
      if (typeof m?.Config !== 'string') throw invalidParameter('invalid archive: a manifest.json entry has no Config');
      const parent = typeof m.Parent === 'string' && /^sha256:[a-f0-9]{64}$/.test(m.Parent) ? m.Parent : undefined;
      return { configPath: m.Config, repoTags: asStringArray(m.RepoTags, 'RepoTags'), layerPaths: asStringArray(m.Layers, 'Layers'), parent };
    });
  }
  if (!archive.has('index.json')) throw invalidParameter('invalid archive: it has neither manifest.json nor index.json (not an image archive)');
  const index = (await parseJson(archive, 'index.json')) as { manifests?: Array<{ digest?: string; annotations?: Record<string, string> }> };
  const blob = (digest: unknown): string => {
    if (typeof digest !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(digest)) throw invalidParameter(`invalid archive: bad digest ${String(digest)}`);
    return `blobs/sha256/${digestHex(digest)}`;
  };
  const out: ArchiveImage[] = [];
  for (const descriptor of index.manifests ?? []) {
    const manifest = (await parseJson(archive, blob(descriptor.digest))) as { config?: { digest?: string }; layers?: Array<{ digest?: string }> };
    const name = descriptor.annotations?.['io.containerd.image.name'];
    out.push({ configPath: blob(manifest.config?.digest), repoTags: name ? [name] : [], layerPaths: (manifest.layers ?? []).map((l) => blob(l.digest)) });
  }
  return out;
}

/**
 * Loads the archive; returns the images and the tags they got. On any error nothing the load
 * added stays in the store.
 */
export async function loadImages(images: ImageStore, source: Readable): Promise<LoadedImage[]> {
  const tempDir = join(images.root, `tmp-load-${randomBytes(8).toString('hex')}`);
  await mkdir(tempDir, { recursive: true, mode: 0o700 });
  const addedChains: Array<{ chain: string; diffId: string }> = [];
  try {
    const archive = await unpack(source, tempDir);
    const entries = await listImages(archive);
    // Check every config and layer count before unpacking a single layer.
    const planned = [];
    for (const entry of entries) {
      const raw = await archive.read(entry.configPath);
      let config;
      try {
        config = decodeImageConfig(raw);
      } catch (err) {
        throw invalidParameter(`invalid archive: config ${entry.configPath}: ${(err as Error).message}`);
      }
      const diffIds = config.rootfs.diff_ids;
      if (diffIds.length !== entry.layerPaths.length) {
        throw invalidParameter(`invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${entry.layerPaths.length}`);
      }
      for (const path of entry.layerPaths) archive.resolve(path);
      for (const tag of entry.repoTags) {
        if (parseNormalizedNamed(tag).digest !== undefined) throw invalidParameter(`invalid archive: RepoTags entry ${tag} is a digest reference`);
      }
      planned.push({ entry, raw, diffIds });
    }
    for (const { entry, diffIds } of planned) {
      let parent: string | undefined;
      for (const [i, diffId] of diffIds.entries()) {
        const chain = chainIdOf(parent, diffId);
        if (!images.layers.exists(chain)) {
          await images.applyLayerFile(parent, archive.resolve(entry.layerPaths[i]!), { expectedDiffId: diffId });
          addedChains.push({ chain, diffId });
        }
        parent = chain;
      }
    }
    // Parents are created first so their links can be recorded; the report keeps the archive's order.
    const created = new Map<(typeof planned)[number], LoadedImage>();
    for (const item of parentsFirst(planned)) {
      const image = await images.createImageFromConfigBytes(item.raw, { parent: linkableParent(images, item.entry.parent, item.diffIds) });
      for (const tag of item.entry.repoTags) await images.tag(image.id, tag);
      created.set(item, { image: images.resolve(image.id), tags: item.entry.repoTags });
    }
    const loaded = planned.map((item) => created.get(item)!);
    return loaded;
  } catch (err) {
    // Layers this load unpacked go again, unless an image recorded meanwhile uses them.
    const used = new Set(images.list().flatMap((i) => i.chainIds));
    for (const { chain, diffId } of addedChains.reverse()) {
      if (used.has(chain)) continue;
      await images.layers.remove(chain).catch(() => undefined);
      if (!images.list().some((i) => i.config.rootfs.diff_ids.includes(diffId))) await images.content.delete(diffId).catch(() => undefined);
    }
    throw err;
  } finally {
    await rm(tempDir, { recursive: true, force: true });
  }
}

/** Images whose parent link names another image of the archive come after that image. */
function parentsFirst<T extends { entry: ArchiveImage; raw: Buffer }>(planned: T[]): T[] {
  const idOf = (p: T): string => sha256Digest(p.raw);
  const byId = new Map(planned.map((p) => [idOf(p), p]));
  const ordered: T[] = [];
  const placed = new Set<string>();
  const place = (p: T, depth: number): void => {
    const id = idOf(p);
    if (placed.has(id)) return;
    const parent = p.entry.parent ? byId.get(p.entry.parent) : undefined;
    // A cycle of parent links (a crafted archive) is cut rather than followed forever.
    if (parent && depth < planned.length) place(parent, depth + 1);
    placed.add(id);
    ordered.push(p);
  };
  for (const p of planned) place(p, 0);
  return ordered;
}

/** The parent link to record: only to a stored image whose layers start this image's (moby's setParentID check). */
function linkableParent(images: ImageStore, parent: string | undefined, diffIds: string[]): string | undefined {
  if (!parent) return undefined;
  const image = images.tryResolve(parent);
  if (!image || image.id !== parent) return undefined;
  const parentIds = image.config.rootfs.diff_ids;
  if (parentIds.length > diffIds.length || parentIds.some((d, i) => d !== diffIds[i])) return undefined;
  return parent;
}
