/**
 * `.dockerignore`, with docker's rules: one pattern a line, `#` comment lines, patterns
 * cleaned like Go's filepath.Clean (a leading `/` dropped), Go filepath.Match syntax
 * (`*`, `?`, `[...]`, `\` escapes) plus `**` for any number of directories, `!` for
 * exceptions, and the last matching pattern decides. A path is also excluded when one of its
 * parent directories is.
 */
import { posix } from 'node:path';
import { invalidParameter } from '../util/errors.js';

export interface IgnorePattern {
  /** The cleaned pattern as written (without `!`). */
  text: string;
  exclusion: boolean;
  regexp: RegExp;
}

/** Go filepath.Match syntax plus `**`, as one anchored regular expression. */
export function globRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` may match nothing at all, so `**/x` matches `x` at the top too.
        if (pattern[i + 1] === '/') {
          i++;
          source += '(?:.*/)?';
        } else {
          source += '.*';
        }
      } else {
        source += '[^/]*';
      }
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '\\') {
      if (i + 1 >= pattern.length) throw invalidParameter(`invalid .dockerignore pattern ${JSON.stringify(pattern)}: trailing backslash`);
      source += escapeRegExp(pattern[++i]!);
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close === -1) throw invalidParameter(`invalid .dockerignore pattern ${JSON.stringify(pattern)}: unclosed character class`);
      let body = pattern.slice(i + 1, close);
      if (body.startsWith('^') || body.startsWith('!')) body = `^${body.slice(1)}`;
      source += `[${body.replace(/\\(.)/g, '\\$1').replace(/\//g, '')}]`;
      i = close;
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
}

export function parseDockerignore(text: string): IgnorePattern[] {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.startsWith('#')) continue;
    let line = raw.trim();
    if (line === '') continue;
    let exclusion = false;
    if (line.startsWith('!')) {
      exclusion = true;
      line = line.slice(1).trim();
    }
    let cleaned = posix.normalize(line);
    if (cleaned.length > 1 && cleaned.startsWith('/')) cleaned = cleaned.replace(/^\/+/, '');
    if (cleaned.length > 1 && cleaned.endsWith('/')) cleaned = cleaned.slice(0, -1);
    if (cleaned === '') continue;
    patterns.push({ text: cleaned, exclusion, regexp: globRegExp(cleaned) });
  }
  return patterns;
}

export class IgnoreMatcher {
  constructor(readonly patterns: IgnorePattern[]) {}

  static fromText(text: string | undefined): IgnoreMatcher {
    return new IgnoreMatcher(text === undefined ? [] : parseDockerignore(text));
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True when the context-relative path (no leading `/`) is excluded. */
  ignores(relPath: string): boolean {
    if (this.patterns.length === 0) return false;
    const path = relPath.replace(/^\/+/, '');
    const parents: string[] = [];
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join('/'));
    let ignored = false;
    for (const pattern of this.patterns) {
      const matches = pattern.regexp.test(path) || parents.some((p) => pattern.regexp.test(p));
      if (matches) ignored = !pattern.exclusion;
    }
    return ignored;
  }

  /**
   * Whether anything below an ignored directory could be re-included by a `!` pattern, so a
   * walker must still descend into it.
   */
  mayReinclude(dirRelPath: string): boolean {
    const dir = dirRelPath.replace(/^\/+/, '');
    return this.patterns.some((p) => p.exclusion && (p.text.startsWith(`${dir}/`) || p.text.includes('*') || p.text.includes('?') || p.text.includes('[')));
  }
}
