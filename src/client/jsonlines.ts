import type { Readable } from 'node:stream';

/**
 * Events and progress streams are JSON values separated by newlines; a value may straddle
 * chunks, so lines are reassembled before parsing. Blank lines are skipped.
 */
export async function* jsonLines<T>(stream: Readable): AsyncGenerator<T> {
  let rest = '';
  for await (const chunk of stream) {
    rest += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  const last = rest.trim();
  if (last) yield JSON.parse(last) as T;
}
