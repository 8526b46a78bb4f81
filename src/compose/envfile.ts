/**
 * .env and env_file parsing in compose's dotenv dialect: KEY=VALUE lines, optional `export `,
 * # comments, 'single quotes' taken literally, "double quotes" with \n \t \" escapes, and
 * unquoted values that end at ` #`. Unquoted and double-quoted values are interpolated with
 * the variables defined so far (and the given outer lookup), as compose does.
 */
import { readFileSync } from 'node:fs';
import { ComposeError } from './errors.js';
import { interpolateString, type Lookup } from './interpolate.js';

export function parseEnvFile(text: string, file: string, outer: Lookup = () => undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  const lookup: Lookup = (name) => (Object.hasOwn(vars, name) ? vars[name] : outer(name));
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let line = (lines[n] as string).trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new ComposeError(`line ${n + 1}: unexpected character in variable name "${key}"`, { file });
    if (eq < 0) {
      // A bare name takes its value from the environment, and is dropped when that is unset.
      const v = outer(key);
      if (v !== undefined) vars[key] = v;
      continue;
    }
    let raw = line.slice(eq + 1).trimStart();
    const quote = raw[0];
    if (quote === "'" || quote === '"') {
      // Quoted values may span lines until the closing quote.
      let body = raw.slice(1);
      let close = findClose(body, quote);
      while (close < 0 && n + 1 < lines.length) {
        body += `\n${lines[++n] as string}`;
        close = findClose(body, quote);
      }
      if (close < 0) throw new ComposeError(`line ${n + 1}: unterminated quoted value for ${key}`, { file });
      const inner = body.slice(0, close);
      vars[key] = quote === "'" ? inner : interpolateString(unescapeDouble(inner), lookup, { file, key });
      continue;
    }
    const comment = raw.search(/\s#/);
    if (comment >= 0) raw = raw.slice(0, comment);
    vars[key] = interpolateString(raw.trimEnd(), lookup, { file, key });
  }
  return vars;
}

function findClose(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\' && quote === '"') {
      i++;
      continue;
    }
    if (body[i] === quote) return i;
  }
  return -1;
}

function unescapeDouble(s: string): string {
  return s.replace(/\\([nrt"\\$])/g, (_m, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? (c === '$' ? '$$' : c));
}

export function readEnvFile(path: string, outer?: Lookup): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ComposeError(`cannot read env file: ${(e as Error).message}`, { file: path });
  }
  return parseEnvFile(text, path, outer);
}
