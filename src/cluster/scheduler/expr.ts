/**
 * Classic swarm's filter expressions: `KEY==VALUE`, `KEY!=VALUE`, and the soft forms `==~` /
 * `!=~` that the scheduler drops when nothing satisfies them. VALUE is a literal, a glob
 * (`*`, `?`, anchored, case-sensitive) or a Go-style regexp between slashes (`/node-[12]/`,
 * unanchored as Go's MatchString is; a leading `(?i)` makes it case-insensitive, as swarm's
 * docs show).
 */
import { invalidParameter } from '../../util/errors.js';

export interface Expr {
  /** What the user wrote, for error messages and the "conditions" list. */
  text: string;
  key: string;
  negate: boolean;
  soft: boolean;
  /** The value as written (minus the soft marker). */
  value: string;
  matches(candidate: string): boolean;
}

// Checked longest first so `==~` is not read as `==` with a value starting with `~`.
const OPERATORS = ['==~', '!=~', '==', '!='] as const;
// Engine label keys are reverse-DNS-ish; swarm-mode forms add dots (node.labels.x).
const KEY = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;

/**
 * Parses one expression. `kind` ("constraint" or "affinity") only names the hint in errors.
 * Throws invalidParameter for no operator, an empty key or value, or a regexp that does not compile.
 */
export function parseExpr(kind: string, text: string): Expr {
  const trimmed = text.trim();
  let at = -1;
  let op: (typeof OPERATORS)[number] | undefined;
  for (let i = 0; i < trimmed.length - 1 && !op; i++) {
    for (const candidate of OPERATORS) {
      if (trimmed.startsWith(candidate, i)) {
        at = i;
        op = candidate;
        break;
      }
    }
  }
  if (!op) throw invalidParameter(`invalid ${kind} "${text}": expected KEY==VALUE or KEY!=VALUE (soft: ==~ / !=~)`);
  const key = trimmed.slice(0, at).trim();
  const value = trimmed.slice(at + op.length).trim();
  if (!key) throw invalidParameter(`invalid ${kind} "${text}": empty key`);
  if (!KEY.test(key)) throw invalidParameter(`invalid ${kind} "${text}": key "${key}" may only hold letters, digits, '_', '-', '.', '/'`);
  if (!value) throw invalidParameter(`invalid ${kind} "${text}": empty value`);
  const matches = valueMatcher(kind, text, value);
  return { text: `${key}${op}${value}`, key, negate: op.startsWith('!'), soft: op.endsWith('~'), value, matches };
}

function valueMatcher(kind: string, text: string, value: string): (candidate: string) => boolean {
  if (value.length >= 2 && value.startsWith('/') && value.endsWith('/')) {
    let source = value.slice(1, -1);
    let flags = '';
    // Go's inline flag, which swarm's docs use for case-insensitive matches; JS wants it as a flag.
    if (source.startsWith('(?i)')) {
      source = source.slice(4);
      flags = 'i';
    }
    let re: RegExp;
    try {
      re = new RegExp(source, flags);
    } catch (e) {
      throw invalidParameter(`invalid ${kind} "${text}": bad regular expression ${value}: ${e instanceof Error ? e.message : String(e)}`);
    }
    return (candidate) => re.test(candidate);
  }
  if (/[*?]/.test(value)) {
    const re = new RegExp(`^${[...value].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'))).join('')}$`, 's');
    return (candidate) => re.test(candidate);
  }
  return (candidate) => candidate === value;
}

/** True when any of `candidates` matches (for `==`); `!=` callers negate the result themselves. */
export function matchesAny(expr: Expr, candidates: Iterable<string>): boolean {
  for (const c of candidates) if (expr.matches(c)) return true;
  return false;
}
