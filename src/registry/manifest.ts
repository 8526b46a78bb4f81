/**
 * Manifest parsing and validation for the four media types the registry stores: Docker schema2
 * manifests and manifest lists, OCI image manifests and indexes. The bytes are kept exactly as
 * pushed (their digest is their identity); this only reads what the registry must check.
 */
import { registryError } from './errors.js';
import type { Descriptor } from './storage.js';

export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MANIFEST_TYPES = [DOCKER_MANIFEST, DOCKER_LIST, OCI_MANIFEST, OCI_INDEX];
/** The spec asks registries to accept at least 4 MiB; larger manifests are refused. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ParsedManifest {
  mediaType: string;
  /** Blobs the manifest names (config and layers). */
  blobs: string[];
  /** Child manifests (lists and indexes). */
  manifests: string[];
  subject?: Descriptor;
  artifactType?: string;
  annotations?: Record<string, string>;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function invalid(message: string, detail?: unknown): Error {
  return registryError('MANIFEST_INVALID', `manifest invalid: ${message}`, detail);
}

function descriptor(value: unknown, where: string): Descriptor & { urls?: string[] } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${where} is not a descriptor`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw invalid(`${where}.mediaType is missing`);
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest)) {
    throw registryError('DIGEST_INVALID', `${where}.digest is not a sha256 digest`, { digest: d.digest });
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${where}.size must be a non-negative integer`);
  return d as unknown as Descriptor & { urls?: string[] };
}

/** `contentType` is the PUT's Content-Type; it must agree with the manifest's own mediaType. */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    doc = value as Record<string, unknown>;
  } catch (err) {
    throw invalid(`malformed JSON: ${(err as Error).message}`);
  }
  if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  const header = contentType?.split(';')[0]!.trim();
  const headerType = header && MANIFEST_TYPES.includes(header) ? header : undefined;
  if (declared !== undefined && headerType !== undefined && declared !== headerType) {
    throw invalid(`mediaType ${declared} does not match Content-Type ${headerType}`);
  }
  let mediaType = declared ?? headerType;
  if (mediaType === undefined) {
    // OCI documents may omit mediaType; their shape tells which one it is.
    mediaType = Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST;
  }
  if (!MANIFEST_TYPES.includes(mediaType)) throw invalid(`unsupported manifest media type ${mediaType}`);
  const out: ParsedManifest = { mediaType, blobs: [], manifests: [] };
  if (mediaType === DOCKER_MANIFEST || mediaType === OCI_MANIFEST) {
    const config = descriptor(doc.config, 'config');
    out.blobs.push(config.digest);
    if (!Array.isArray(doc.layers)) throw invalid('layers must be an array');
    doc.layers.forEach((layer, i) => {
      const d = descriptor(layer, `layers[${i}]`);
      // Foreign layers (urls set) live elsewhere by design; the registry need not hold them.
      if (!(Array.isArray(d.urls) && d.urls.length > 0)) out.blobs.push(d.digest);
    });
    out.artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : config.mediaType;
  } else {
    if (!Array.isArray(doc.manifests)) throw invalid('manifests must be an array');
    doc.manifests.forEach((m, i) => out.manifests.push(descriptor(m, `manifests[${i}]`).digest));
    if (typeof doc.artifactType === 'string') out.artifactType = doc.artifactType;
  }
  if (doc.subject !== undefined) out.subject = descriptor(doc.subject, 'subject');
  if (doc.annotations !== undefined) {
    if (typeof doc.annotations !== 'object' || doc.annotations === null || Array.isArray(doc.annotations)) throw invalid('annotations must be an object');
    out.annotations = doc.annotations as Record<string, string>;
  }
  return out;
}
