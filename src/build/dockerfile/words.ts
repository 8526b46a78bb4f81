/**
 * Dockerfile words: quote removal and variable substitution as the Dockerfile reference
 * describes them ($VAR, ${VAR}, ${VAR:-word}, ${VAR:+word}, and the unset-only `-`/`+`
 * variants), with the Dockerfile's escape character instead of a hard-coded backslash.
 *
 * Single quotes keep everything literal; inside double quotes the escape character only
 * escapes `"`, `$` and itself (other escapes stay as written), as docker's shell lexer does.
 */
import { invalidParameter } from '../../util/errors.js';
import type { EscapeChar } from './parser.js';
import { splitWords } from '../../image/changes.js';

/** Variable lookup: undefined means unset (different from set to ""). */
export type Lookup = (name: string) => string | undefined;

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

class WordLexer {
  private i = 0;
  constructor(
    private readonly text: string,
    private readonly lookup: Lookup,
    private readonly escape: EscapeChar,
  ) {}

  /** The whole text as one word. */
  word(): string {
    return this.until(() => false);
  }

  private until(stop: (c: string) => boolean): string {
    let out = '';
    const t = this.text;
    while (this.i < t.length) {
      const c = t[this.i]!;
      if (stop(c)) break;
      if (c === "'") {
        const close = t.indexOf("'", this.i + 1);
        if (close === -1) throw invalidParameter(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(t)}`);
        out += t.slice(this.i + 1, close);
        this.i = close + 1;
      } else if (c === '"') {
        out += this.doubleQuoted();
      } else if (c === this.escape) {
        // An escape at the very end is dropped; otherwise the next character is literal.
        if (this.i + 1 < t.length) out += t[this.i + 1];
        this.i += 2;
      } else if (c === '$') {
        out += this.variable();
      } else {
        out += c;
        this.i++;
      }
    }
    return out;
  }

  private doubleQuoted(): string {
    const t = this.text;
    let out = '';
    this.i++;
    for (;;) {
      if (this.i >= t.length) throw invalidParameter(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(t)}`);
      const c = t[this.i]!;
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === this.escape && this.i + 1 < t.length && (t[this.i + 1] === '"' || t[this.i + 1] === '$' || t[this.i + 1] === this.escape)) {
        out += t[this.i + 1];
        this.i += 2;
      } else if (c === '$') {
        out += this.variable();
      } else {
        out += c;
        this.i++;
      }
    }
  }

  private variable(): string {
    const t = this.text;
    const next = t[this.i + 1];
    if (next === '{') {
      this.i += 2;
      const start = this.i;
      while (this.i < t.length && NAME_CHAR.test(t[this.i]!)) this.i++;
      const name = t.slice(start, this.i);
      if (name === '' || !NAME_START.test(name[0]!)) throw invalidParameter(`bad substitution: invalid variable name in ${JSON.stringify(t)}`);
      if (t[this.i] === '}') {
        this.i++;
        return this.lookup(name) ?? '';
      }
      let colon = false;
      if (t[this.i] === ':') {
        colon = true;
        this.i++;
      }
      const op = t[this.i];
      if (op !== '-' && op !== '+') {
        throw invalidParameter(`unsupported modifier (${colon ? ':' : ''}${op ?? ''}) in substitution of ${name} in ${JSON.stringify(t)}`);
      }
      this.i++;
      const word = this.nested();
      const value = this.lookup(name);
      const isSet = colon ? value !== undefined && value !== '' : value !== undefined;
      if (op === '-') return isSet ? value! : word;
      return isSet ? word : '';
    }
    if (next !== undefined && NAME_START.test(next)) {
      const start = this.i + 1;
      this.i = start;
      while (this.i < t.length && NAME_CHAR.test(t[this.i]!)) this.i++;
      return this.lookup(t.slice(start, this.i)) ?? '';
    }
    this.i++;
    return '$';
  }

  /** The word of ${VAR:-word}: up to the matching `}` (quotes and nested variables allowed). */
  private nested(): string {
    const out = this.until((c) => c === '}');
    if (this.text[this.i] !== '}') throw invalidParameter(`missing '}' in ${JSON.stringify(this.text)}`);
    this.i++;
    return out;
  }
}

/** Removes quotes and escapes and substitutes variables in one word. */
export function expandWord(word: string, lookup: Lookup, escape: EscapeChar = '\\'): string {
  return new WordLexer(word, lookup, escape).word();
}

/** Splits on whitespace outside quotes, keeping quotes and escapes for expandWord. */
export function splitRawWords(text: string, escape: EscapeChar = '\\'): string[] {
  return splitWords(text, escape);
}

/** Splits and expands: the words of COPY, EXPOSE, VOLUME and friends. */
export function expandWords(text: string, lookup: Lookup, escape: EscapeChar = '\\'): string[] {
  return splitRawWords(text, escape).map((w) => expandWord(w, lookup, escape));
}

/** Looks a name up in KEY=VALUE entries; the last one wins. */
export function envLookup(...sources: ReadonlyArray<readonly string[]>): Lookup {
  const map = new Map<string, string>();
  for (const source of sources) {
    for (const entry of source) {
      const eq = entry.indexOf('=');
      if (eq === -1) map.set(entry, '');
      else map.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }
  return (name) => map.get(name);
}
