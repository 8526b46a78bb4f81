/**
 * Blob upload sessions. Bytes go to ROOT/uploads/<uuid>/data while a running sha256 follows
 * them, so closing an upload costs no second read; the blob becomes visible only when the
 * client's digest matches, by a rename into the blob store. Operations on one session run
 * one at a time, and a session nobody touched for `ttlMs` is deleted.
 */
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BatchedFileWriter } from '../util/batched-write.js';
import { atomicWriteJson, readJsonIfExists } from '../util/atomic.js';
import { registryError } from './errors.js';
import type { RegistryStorage } from './storage.js';

const SYNC_EVERY = 32 << 20;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface SessionInfo {
  name: string;
  startedAt: string;
}

interface Session {
  id: string;
  name: string;
  size: number;
  /** Hash of bytes 0..size; undefined after a restart until recomputed from the file. */
  hash?: Hash;
  lastUsed: number;
  queue: Promise<unknown>;
}

export class UploadManager {
  private readonly sessions = new Map<string, Session>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly storage: RegistryStorage,
    private readonly ttlMs: number,
  ) {}

  private dir(id: string): string {
    return join(this.storage.uploadDir, id);
  }

  /** Starts the expiry sweep; also drops sessions a previous run left expired. */
  async start(): Promise<void> {
    await this.sweep();
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), Math.max(1000, Math.min(this.ttlMs / 4, 60_000)));
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const id of await readdir(this.storage.uploadDir).catch(() => [] as string[])) {
      const live = this.sessions.get(id);
      let last = live?.lastUsed;
      if (last === undefined) {
        last = await stat(join(this.dir(id), 'data')).then((s) => s.mtimeMs, () => 0);
      }
      if (now - last > this.ttlMs) {
        this.sessions.delete(id);
        await rm(this.dir(id), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }

  async create(name: string): Promise<string> {
    const id = randomUUID();
    await mkdir(this.dir(id), { recursive: true });
    await atomicWriteJson(join(this.dir(id), 'info.json'), { name, startedAt: new Date().toISOString() } satisfies SessionInfo);
    await (await open(join(this.dir(id), 'data'), 'w')).close();
    this.sessions.set(id, { id, name, size: 0, hash: createHash('sha256'), lastUsed: Date.now(), queue: Promise.resolve() });
    return id;
  }

  /** The session, loaded from disk after a restart; BLOB_UPLOAD_UNKNOWN if absent or another repository's. */
  private async session(name: string, id: string): Promise<Session> {
    if (!UUID.test(id)) throw registryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
    let session = this.sessions.get(id);
    if (!session) {
      const info = await readJsonIfExists<SessionInfo>(join(this.dir(id), 'info.json'));
      const size = await stat(join(this.dir(id), 'data')).then((s) => s.size, () => undefined);
      if (!info || size === undefined) throw registryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
      session = { id, name: info.name, size, lastUsed: Date.now(), queue: Promise.resolve() };
      this.sessions.set(id, session);
    }
    if (session.name !== name) throw registryError('BLOB_UPLOAD_UNKNOWN', 'blob upload unknown to registry', { uuid: id });
    session.lastUsed = Date.now();
    return session;
  }

  private exclusive<T>(session: Session, work: () => Promise<T>): Promise<T> {
    const run = session.queue.then(work, work);
    session.queue = run.catch(() => undefined);
    return run;
  }

  async status(name: string, id: string): Promise<number> {
    return (await this.session(name, id)).size;
  }

  /**
   * Appends a chunk. With `start` (from Content-Range) the chunk must begin exactly where the
   * upload ends: anything else is a gap or an overlap, refused with 416.
   */
  async append(name: string, id: string, body: Readable, start?: number): Promise<number> {
    const session = await this.session(name, id);
    return this.exclusive(session, async () => {
      if (start !== undefined && start !== session.size) {
        body.resume();
        throw registryError('BLOB_UPLOAD_INVALID', `chunk starts at ${start} but the upload has ${session.size} bytes`, { size: session.size }, 416);
      }
      await this.ensureHash(session);
      await this.write(session, body);
      return session.size;
    });
  }

  private async ensureHash(session: Session): Promise<void> {
    if (session.hash) return;
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(join(this.dir(session.id), 'data'), { end: session.size - 1, highWaterMark: 1 << 20 })) {
      hash.update(chunk as Buffer);
    }
    session.hash = hash;
  }

  /**
   * Appends the body at the session's end in one pass: each chunk is hashed as it arrives and
   * gathered into ~4 MiB batches written with one writev while the next batch is received, so
   * hashing, receiving and disk writes overlap (a write stream would issue one write per 64 KiB
   * socket chunk). With `durable` (the upload's last body) the file is fsynced before it is
   * closed, and dirty pages are handed to the disk every 32 MiB in the background meanwhile, so
   * that fsync has little left to wait for.
   */
  private async write(session: Session, body: Readable, durable = false): Promise<void> {
    const hash = session.hash!;
    const fh = await open(join(this.dir(session.id), 'data'), 'r+');
    const out = new BatchedFileWriter(fh, session.size);
    let syncing: Promise<unknown> = Promise.resolve();
    let synced = 0;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        await out.write(chunk);
        if (durable && out.written - synced >= SYNC_EVERY) {
          synced = out.written;
          syncing = Promise.all([syncing, out.pending]).then(() => fh.datasync());
          syncing.catch(() => undefined);
        }
      }
      await out.done();
      await syncing;
      if (durable) await fh.sync();
    } catch (err) {
      await Promise.allSettled([out.pending, syncing]);
      await fh.close().catch(() => undefined);
      // The file may now hold a partial chunk the hash does not: recompute both from disk.
      session.hash = undefined;
      session.size = await stat(join(this.dir(session.id), 'data')).then((s) => s.size, () => 0);
      throw err;
    }
    await fh.close();
    session.size += out.written;
  }

  /**
   * Closes the upload: appends the last chunk, checks the digest, fsyncs and publishes the blob.
   * A wrong digest discards the session; nothing becomes visible.
   */
  async complete(name: string, id: string, digest: string, body: Readable): Promise<number> {
    const session = await this.session(name, id);
    return this.exclusive(session, async () => {
      await this.ensureHash(session);
      // Fsynced inside write: a wrong digest discards the file, so only the rare failure wastes it.
      await this.write(session, body, true);
      const actual = `sha256:${session.hash!.copy().digest('hex')}`;
      if (actual !== digest) {
        await this.cancel(name, id);
        throw registryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { expected: digest, actual });
      }
      const data = join(this.dir(id), 'data');
      await this.storage.publishBlob(data, digest);
      this.sessions.delete(id);
      await rm(this.dir(id), { recursive: true, force: true });
      return session.size;
    });
  }

  async cancel(name: string, id: string): Promise<void> {
    await this.session(name, id);
    this.sessions.delete(id);
    await rm(this.dir(id), { recursive: true, force: true });
  }

  /**
   * A monolithic upload (POST with ?digest=): the body goes straight to a fresh session file
   * and is published only if it hashes to `digest`.
   */
  async monolithic(name: string, digest: string, body: Readable): Promise<number> {
    const id = await this.create(name);
    try {
      return await this.complete(name, id, digest, body);
    } catch (err) {
      await rm(this.dir(id), { recursive: true, force: true });
      this.sessions.delete(id);
      throw err;
    }
  }
}
