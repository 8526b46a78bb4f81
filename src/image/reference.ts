/**
 * Docker's image reference grammar (distribution/reference):
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [domain "/"] path-component ["/" path-component]*
 *
 * Parsing is strict (the grammar as written); normalising fills in what docker assumes:
 * `busybox` is `docker.io/library/busybox`, and a reference without tag or digest means `:latest`.
 */
import { invalidParameter } from '../util/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

const alphaNumeric = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]*)';
const pathComponent = `${alphaNumeric}(?:${separator}${alphaNumeric})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6Address = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const domain = `(?:${domainName}|${ipv6Address})(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const namePattern = `(?:${domain}/)?${pathComponent}(?:/${pathComponent})*`;

const referenceRegexp = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const anchoredNameRegexp = new RegExp(`^(?:(${domain})/)?(${pathComponent}(?:/${pathComponent})*)$`);
const anchoredTagRegexp = new RegExp(`^${tagPattern}$`);
const anchoredIdentifierRegexp = /^[a-f0-9]{64}$/;
const idPrefixRegexp = /^(?:sha256:)?[a-f0-9]{1,64}$/;

/** A parsed reference. `domain` is "" only for a strictly parsed reference that named none. */
export interface ImageReference {
  domain: string;
  /** Repository path below the domain, e.g. "library/busybox". */
  path: string;
  tag?: string;
  /** "sha256:<hex>" */
  digest?: string;
}

const invalidFormat = () => invalidParameter('invalid reference format');

/** Validates a digest string the way opencontainers/go-digest does for sha256. */
export function parseDigest(value: string): string {
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw invalidParameter('invalid checksum digest format');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(algorithm)) throw invalidParameter('invalid checksum digest format');
  if (algorithm !== 'sha256') throw invalidParameter('unsupported digest algorithm');
  if (hex.length !== 64) throw invalidParameter('invalid checksum digest length');
  if (!/^[a-f0-9]{64}$/.test(hex)) throw invalidParameter('invalid checksum digest format');
  return value;
}

/** reference.Parse: the grammar as written, no defaults added. */
export function parseReference(input: string): ImageReference {
  const match = referenceRegexp.exec(input);
  if (!match) {
    if (input === '') throw invalidParameter('repository name must have at least one component');
    if (referenceRegexp.test(input.toLowerCase())) {
      throw invalidParameter('invalid reference format: repository name must be lowercase');
    }
    throw invalidFormat();
  }
  const [, name, tag, digest] = match;
  if (name!.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalidParameter(`repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  const nameMatch = anchoredNameRegexp.exec(name!);
  if (!nameMatch) throw invalidFormat();
  const ref: ImageReference = { domain: nameMatch[1] ?? '', path: nameMatch[2]! };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = parseDigest(digest);
  return ref;
}

/** Splits off the domain the way docker guesses it: the first component names a host. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  let domainPart: string;
  let remainder: string;
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domainPart = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domainPart = first;
    remainder = name.slice(slash + 1);
  }
  if (domainPart === LEGACY_DEFAULT_DOMAIN) domainPart = DEFAULT_DOMAIN;
  if (domainPart === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain: domainPart, remainder };
}

/** reference.ParseNormalizedNamed: a user-typed name becomes fully qualified (no tag added). */
export function parseNormalizedNamed(input: string): ImageReference {
  if (anchoredIdentifierRegexp.test(input)) {
    throw invalidParameter(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`);
  }
  const { domain: domainPart, remainder } = splitDockerDomain(input);
  const tagSep = remainder.indexOf(':');
  const remoteName = tagSep === -1 ? remainder : remainder.slice(0, tagSep);
  if (remoteName.toLowerCase() !== remoteName) {
    throw invalidParameter('invalid reference format: repository name must be lowercase');
  }
  const ref = parseReference(`${domainPart}/${remainder}`);
  return ref;
}

/** Adds ":latest" when a reference carries neither tag nor digest (reference.TagNameOnly). */
export function withDefaultTag(ref: ImageReference): ImageReference {
  if (ref.tag === undefined && ref.digest === undefined) return { ...ref, tag: DEFAULT_TAG };
  return ref;
}

/** `busybox` -> docker.io/library/busybox:latest (parse, qualify, default tag). */
export function normaliseReference(input: string): ImageReference {
  return withDefaultTag(parseNormalizedNamed(input));
}

/** Validates a tag on its own, e.g. the `tag` query parameter of POST /images/{name}/tag. */
export function validateTag(tag: string): string {
  if (!anchoredTagRegexp.test(tag)) throw invalidFormat();
  return tag;
}

/** domain/path, e.g. "docker.io/library/busybox". */
export function fullName(ref: ImageReference): string {
  return ref.domain === '' ? ref.path : `${ref.domain}/${ref.path}`;
}

/** The name as docker shows it: no docker.io/ and no library/ for official images. */
export function familiarName(ref: ImageReference): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  const path = ref.path;
  if (path.startsWith(OFFICIAL_REPO_PREFIX) && !path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return path;
}

function suffix(ref: ImageReference): string {
  return (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** e.g. "docker.io/library/busybox:latest". */
export function fullString(ref: ImageReference): string {
  return fullName(ref) + suffix(ref);
}

/** e.g. "busybox:latest", "localhost:5000/x/y@sha256:...". */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/**
 * True when a string can only be meant as an image ID or ID prefix ("sha256:" optional):
 * lowercase hex, at most 64 digits. Names like "abc" are also valid repository names;
 * callers look those up by name first, as docker does.
 */
export function looksLikeImageId(input: string): boolean {
  return idPrefixRegexp.test(input);
}

/** True for a full 64-hex ID, with or without "sha256:". */
export function isFullImageId(input: string): boolean {
  const hex = input.startsWith('sha256:') ? input.slice(7) : input;
  return anchoredIdentifierRegexp.test(hex);
}

/** "sha256:0123456789abcdef..." -> "0123456789ab" (stringid.TruncateID). */
export function shortId(id: string): string {
  const colon = id.indexOf(':');
  return (colon >= 0 ? id.slice(colon + 1) : id).slice(0, 12);
}
