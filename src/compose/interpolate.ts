/**
 * Compose variable interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default},
 * ${VAR:?error}, ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}, and $$ for a literal $.
 * The word after an operator is itself interpolated, and only when it is used, so
 * ${A:-${B:?B is required}} fails only when A is unset.
 */
import { ComposeError } from './errors.js';

export type Lookup = (name: string) => string | undefined;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

class InterpolationFailure extends Error {}

/** Finds the `}` that closes the `${` opened just before `start`, skipping nested `${...}`. */
function closingBrace(text: string, start: number): number {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '$' && text[i + 1] === '$') {
      i++;
      continue;
    }
    if (c === '$' && text[i + 1] === '{') {
      depth++;
      i++;
      continue;
    }
    if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

function expandBraced(body: string, whole: string, lookup: Lookup): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationFailure(`invalid interpolation format "${whole}": a variable name must start with a letter or underscore`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = lookup(name);
  if (rest === '') return value ?? '';
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (!op) throw new InterpolationFailure(`invalid interpolation format "${whole}": unexpected "${rest}" after the variable name`);
  const word = rest.slice(op.length);
  const emptyCounts = op.startsWith(':');
  const isSet = value !== undefined && !(emptyCounts && value === '');
  switch (op) {
    case ':-':
    case '-':
      return isSet ? (value as string) : expand(word, lookup);
    case ':?':
    case '?':
      if (isSet) return value as string;
      throw new InterpolationFailure(`required variable ${name} is missing a value${word ? `: ${expand(word, lookup)}` : ''}`);
    default:
      return isSet ? expand(word, lookup) : '';
  }
}

function expand(text: string, lookup: Lookup): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const end = closingBrace(text, dollar + 2);
      if (end < 0) throw new InterpolationFailure(`invalid interpolation format "${text.slice(dollar)}": missing closing brace`);
      out += expandBraced(text.slice(dollar + 2, end), text.slice(dollar, end + 1), lookup);
      i = end + 1;
    } else {
      const m = NAME.exec(text.slice(dollar + 1));
      if (m) {
        out += lookup(m[0]) ?? '';
        i = dollar + 1 + m[0].length;
      } else {
        // A lone "$" before a non-name character stays as written, as compose leaves it.
        out += '$';
        i = dollar + 1;
      }
    }
  }
  return out;
}

/** Interpolates one string; errors name the file and key when given. */
export function interpolateString(text: string, lookup: Lookup, place: { file?: string; key?: string } = {}): string {
  try {
    return expand(text, lookup);
  } catch (e) {
    if (e instanceof InterpolationFailure) throw new ComposeError(e.message, place);
    throw e;
  }
}

/** Interpolates every string value (never a key) of a parsed YAML tree, returning a new tree. */
export function interpolateTree(node: unknown, lookup: Lookup, file: string, path = ''): unknown {
  if (typeof node === 'string') return interpolateString(node, lookup, { file, key: path || undefined });
  if (Array.isArray(node)) return node.map((item, i) => interpolateTree(item, lookup, file, `${path}[${i}]`));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      out[k] = interpolateTree(v, lookup, file, path ? `${path}.${k}` : k);
    }
    return out;
  }
  return node;
}
