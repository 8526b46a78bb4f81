/**
 * What the spec allows in a request path: repository names, tags and digests. Everything the
 * storage layer turns into a path passes through here first, so `..`, absolute paths and
 * encoded slashes can never leave the registry root.
 */
import { registryError } from './errors.js';

const NAME_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
export const NAME_MAX = 255;

export function isValidName(name: string): boolean {
  if (name.length === 0 || name.length > NAME_MAX) return false;
  return name.split('/').every((part) => NAME_COMPONENT.test(part));
}

export function checkName(name: string): string {
  if (!isValidName(name)) throw registryError('NAME_INVALID', 'invalid repository name', { name });
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/** Only sha256 is stored; other well-formed algorithms are "unsupported", malformed ones invalid. */
export function checkDigest(digest: string): string {
  if (SHA256.test(digest)) return digest;
  if (ANY_DIGEST.test(digest) && !digest.startsWith('sha256:')) throw registryError('DIGEST_INVALID', 'unsupported digest algorithm', { digest });
  throw registryError('DIGEST_INVALID', 'provided digest did not match uploaded content or is malformed', { digest });
}

export function isDigest(ref: string): boolean {
  return ref.includes(':');
}

/** A manifest reference is a tag or a digest. */
export function checkReference(ref: string): { tag?: string; digest?: string } {
  if (isDigest(ref)) return { digest: checkDigest(ref) };
  if (!isValidTag(ref)) throw registryError('TAG_INVALID', 'manifest tag did not match URI', { tag: ref }, 400);
  return { tag: ref };
}

export function hexOf(digest: string): string {
  return digest.slice('sha256:'.length);
}
