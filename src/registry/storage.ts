/**
 * The registry's filesystem layout. Content is stored once, by digest; repositories hold only
 * small link files, so a blob pushed to two repositories (or mounted across) takes space once.
 *
 *   ROOT/blobs/sha256/<hex>                           verified content (blobs and manifests)
 *   ROOT/uploads/<uuid>/data, info.json               upload sessions (never visible as blobs)
 *   ROOT/repositories/<name>/_layers/<hex>            the repository may serve this blob
 *   ROOT/repositories/<name>/_manifests/<hex>         a manifest of the repository; holds its media type
 *   ROOT/repositories/<name>/_tags/<tag>              the digest the tag points at
 *   ROOT/repositories/<name>/_referrers/<subject hex>/<hex>   descriptor of a manifest naming <subject>
 *
 * Repository path components start with [a-z0-9], so the `_` directories never collide with a
 * nested repository name. Every small file is written with atomicWriteFile; blobs are renamed
 * into place only after their digest is checked, so a crash leaves no half-visible state.
 */
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { atomicWriteFile, syncDir } from '../util/atomic.js';
import { isErrno } from '../util/errors.js';
import { checkName, hexOf, isValidTag } from './names.js';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return false;
    throw err;
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
}

export class RegistryStorage {
  readonly blobDir: string;
  readonly uploadDir: string;
  readonly repoDir: string;

  constructor(readonly root: string) {
    this.blobDir = join(root, 'blobs', 'sha256');
    this.uploadDir = join(root, 'uploads');
    this.repoDir = join(root, 'repositories');
  }

  async init(): Promise<void> {
    for (const dir of [this.blobDir, this.uploadDir, this.repoDir]) await mkdir(dir, { recursive: true });
  }

  blobPath(digest: string): string {
    return join(this.blobDir, hexOf(digest));
  }

  private repo(name: string): string {
    return join(this.repoDir, checkName(name));
  }

  /** Size of a stored blob, or undefined when it is not there. */
  async blobSize(digest: string): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  readBlob(digest: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: 4 << 20, ...(range ?? {}) });
  }

  readBlobBytes(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  /**
   * Publishes a verified file as a blob. Renaming over an existing blob is harmless: both hold
   * the same bytes (same digest), which is what keeps concurrent pushes of one blob consistent.
   */
  async publishBlob(verifiedFile: string, digest: string): Promise<void> {
    await rename(verifiedFile, this.blobPath(digest));
    await syncDir(this.blobDir);
  }

  /** Writes small content (a manifest) as a blob: temp file, fsync, rename. */
  async putBlobBytes(digest: string, bytes: Buffer): Promise<void> {
    if ((await this.blobSize(digest)) === bytes.length) return;
    await atomicWriteFile(this.blobPath(digest), bytes);
  }

  async deleteBlob(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async listBlobs(): Promise<string[]> {
    return (await listDir(this.blobDir)).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  // Repository links

  async linkBlob(name: string, digest: string): Promise<void> {
    const path = join(this.repo(name), '_layers', hexOf(digest));
    if (!(await exists(path))) await atomicWriteFile(path, digest);
  }

  async hasBlobLink(name: string, digest: string): Promise<boolean> {
    return exists(join(this.repo(name), '_layers', hexOf(digest)));
  }

  async unlinkBlob(name: string, digest: string): Promise<boolean> {
    const path = join(this.repo(name), '_layers', hexOf(digest));
    if (!(await exists(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  async linkManifest(name: string, digest: string, mediaType: string): Promise<void> {
    await atomicWriteFile(join(this.repo(name), '_manifests', hexOf(digest)), mediaType);
  }

  /** The manifest's media type, or undefined when the repository has no such manifest. */
  async manifestMediaType(name: string, digest: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.repo(name), '_manifests', hexOf(digest)), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  async unlinkManifest(name: string, digest: string): Promise<void> {
    await rm(join(this.repo(name), '_manifests', hexOf(digest)), { force: true });
  }

  async setTag(name: string, tag: string, digest: string): Promise<void> {
    await atomicWriteFile(join(this.repo(name), '_tags', tag), digest);
  }

  async tagDigest(name: string, tag: string): Promise<string | undefined> {
    try {
      return (await readFile(join(this.repo(name), '_tags', tag), 'utf8')).trim();
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  async deleteTag(name: string, tag: string): Promise<boolean> {
    const path = join(this.repo(name), '_tags', tag);
    if (!(await exists(path))) return false;
    await rm(path, { force: true });
    return true;
  }

  async tags(name: string): Promise<string[]> {
    return (await listDir(join(this.repo(name), '_tags'))).filter(isValidTag).sort();
  }

  async manifests(name: string): Promise<string[]> {
    return (await listDir(join(this.repo(name), '_manifests'))).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async layerLinks(name: string): Promise<string[]> {
    return (await listDir(join(this.repo(name), '_layers'))).filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  async repositoryExists(name: string): Promise<boolean> {
    return exists(this.repo(name));
  }

  async addReferrer(name: string, subject: string, descriptor: Descriptor): Promise<void> {
    await atomicWriteFile(join(this.repo(name), '_referrers', hexOf(subject), hexOf(descriptor.digest)), JSON.stringify(descriptor));
  }

  async removeReferrer(name: string, subject: string, digest: string): Promise<void> {
    await rm(join(this.repo(name), '_referrers', hexOf(subject), hexOf(digest)), { force: true });
  }

  async referrers(name: string, subject: string): Promise<Descriptor[]> {
    const dir = join(this.repo(name), '_referrers', hexOf(subject));
    const out: Descriptor[] = [];
    for (const file of (await listDir(dir)).sort()) {
      if (!/^[a-f0-9]{64}$/.test(file)) continue;
      try {
        out.push(JSON.parse(await readFile(join(dir, file), 'utf8')) as Descriptor);
      } catch {
        // A referrer removed meanwhile simply isn't listed.
      }
    }
    return out;
  }

  /**
   * Every repository that holds at least one manifest, sorted (the catalog); with `any`, also
   * those that hold only blob links (a push that never finished).
   */
  async repositories(any = false): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await listDir(dir);
      const hasManifests = entries.includes('_manifests') && (await listDir(join(dir, '_manifests'))).length > 0;
      if (hasManifests || (any && entries.includes('_layers'))) out.push(prefix);
      for (const entry of entries) {
        if (entry.startsWith('_') || entry.startsWith('.')) continue;
        await walk(join(dir, entry), prefix ? `${prefix}/${entry}` : entry);
      }
    };
    await walk(this.repoDir, '');
    return out.filter(Boolean).sort();
  }
}
