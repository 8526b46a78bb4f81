/**
 * `docker save`: images as one tar that both docker's loaders read: the classic
 * manifest.json ([{Config, RepoTags, Layers}]) plus `repositories`, and the OCI image layout
 * (oci-layout, index.json, blobs/sha256/...) that docker 25+ writes. Every file lives once,
 * under blobs/sha256/<digest>: configs, uncompressed layer tars (named by diffID) and the
 * OCI manifests. Entries are written in a fixed order so the same images give the same bytes.
 */
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { notFound } from '../util/errors.js';
import { packItems, type PackItem } from '../snapshot/tar-pack.js';
import { digestHex, sha256Digest } from './content.js';
import { familiarName, parseNormalizedNamed, withDefaultTag, familiarString } from './reference.js';
import type { ImageStore } from './store.js';
import type { ImageRecord } from './types.js';

const EPOCH = new Date(0);
const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar';

interface SaveTarget {
  image: ImageRecord;
  /** The tags the user named (all of an image's tags when named by ID: none). */
  tags: string[];
}

/** Resolves every name first, so an unknown one fails before a byte is sent. */
export function resolveSaveTargets(images: ImageStore, names: string[]): SaveTarget[] {
  const byId = new Map<string, SaveTarget>();
  for (const name of names) {
    const image = images.resolve(name);
    const target = byId.get(image.id) ?? { image, tags: [] };
    byId.set(image.id, target);
    // A name (not an ID) saves that tag; `docker save busybox` means busybox:latest.
    let tag: string | undefined;
    try {
      const ref = withDefaultTag(parseNormalizedNamed(name));
      if (ref.digest === undefined && image.repoTags.includes(familiarString(ref))) tag = familiarString(ref);
    } catch {
      tag = undefined;
    }
    if (tag && !target.tags.includes(tag)) target.tags.push(tag);
  }
  if (byId.size === 0) throw notFound('no images to save');
  return [...byId.values()];
}

function fileItem(name: string, data: Buffer): PackItem {
  return { header: { name, type: 'file', mode: 0o644, size: data.length, mtime: EPOCH }, data };
}

function dirItem(name: string): PackItem {
  return { header: { name, type: 'directory', mode: 0o755, mtime: EPOCH } };
}

async function* saveItems(images: ImageStore, targets: SaveTarget[]): AsyncGenerator<PackItem> {
  yield dirItem('blobs');
  yield dirItem('blobs/sha256');
  const written = new Set<string>();
  const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[]; Parent?: string }> = [];
  // As docker save: a parent link is written only when the parent is in the archive too, so load
  // can restore it (history then shows the parent chain's IDs again).
  const savedIds = new Set(targets.map((t) => t.image.id));
  const index: Array<Record<string, unknown>> = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of targets) {
    const configBytes = await images.configBytes(image.id);
    const layers: Array<{ digest: string; size: number }> = [];
    for (const diffId of image.config.rootfs.diff_ids) {
      const path = images.layerTarPath(diffId);
      const size = (await stat(path)).size;
      layers.push({ digest: diffId, size });
      if (written.has(diffId)) continue;
      written.add(diffId);
      yield { header: { name: `blobs/sha256/${digestHex(diffId)}`, type: 'file', mode: 0o644, size, mtime: EPOCH }, source: path };
    }
    if (!written.has(image.id)) {
      written.add(image.id);
      yield fileItem(`blobs/sha256/${digestHex(image.id)}`, configBytes);
    }
    const ociManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_MANIFEST,
        config: { mediaType: MEDIA_CONFIG, digest: image.id, size: configBytes.length },
        layers: layers.map((l) => ({ mediaType: MEDIA_LAYER, digest: l.digest, size: l.size })),
      }),
    );
    const manifestDigest = sha256Digest(ociManifest);
    if (!written.has(manifestDigest)) {
      written.add(manifestDigest);
      yield fileItem(`blobs/sha256/${digestHex(manifestDigest)}`, ociManifest);
    }
    const descriptor = { mediaType: MEDIA_MANIFEST, digest: manifestDigest, size: ociManifest.length };
    if (tags.length === 0) index.push(descriptor);
    for (const tag of tags) {
      const ref = parseNormalizedNamed(tag);
      index.push({ ...descriptor, annotations: { 'io.containerd.image.name': `${ref.domain}/${ref.path}:${ref.tag ?? 'latest'}`, 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' } });
      const repo = familiarName(ref);
      (repositories[repo] ??= {})[ref.tag ?? 'latest'] = digestHex(layers[layers.length - 1]?.digest ?? image.id);
    }
    manifest.push({
      Config: `blobs/sha256/${digestHex(image.id)}`,
      RepoTags: tags.length > 0 ? tags : null,
      Layers: layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
      ...(image.parent && savedIds.has(image.parent) ? { Parent: image.parent } : {}),
    });
  }
  const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: index }));
  yield fileItem('index.json', indexBytes);
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest)}\n`);
  yield fileItem('manifest.json', manifestBytes);
  const layoutBytes = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
  yield fileItem('oci-layout', layoutBytes);
  if (Object.keys(repositories).length > 0) {
    const repoBytes = Buffer.from(`${JSON.stringify(repositories)}\n`);
    yield fileItem('repositories', repoBytes);
  }
}

/** The archive as a stream; names must have been resolved with resolveSaveTargets. */
export function saveImages(images: ImageStore, targets: SaveTarget[]): Readable {
  return packItems(saveItems(images, targets));
}
