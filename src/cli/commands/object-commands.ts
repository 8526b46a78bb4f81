/**
 * Pieces shared by the commands over named daemon objects (networks, volumes): a JSON call,
 * key=value flag lists, and docker's inspect and rm loops, which go on past a missing name and
 * report every failure at the end with exit status 1.
 */
import { readJson } from '../../client/transport.js';
import { isNotFound } from '../../client/errors.js';
import { StatusError, type CliContext } from '../command.js';
import { FlagError } from '../flags.js';
import { renderOne } from '../render/formatter.js';
import { inspectJson } from './inspect.js';

export async function callJson<T>(ctx: CliContext, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await ctx.client().raw({
    method,
    path,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  return readJson<T>(res);
}

/** `--label k=v` (a bare key means an empty value) and `-o k=v` (a key is required). */
export function keyValues(values: string[], flagLabel: string, keyRequired: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (keyRequired && eq <= 0) throw new FlagError(`invalid argument "${v}" for "${flagLabel}" flag: invalid key value pair format in driver options`);
    out[eq >= 0 ? v.slice(0, eq) : v] = eq >= 0 ? v.slice(eq + 1) : '';
  }
  return out;
}

/** Inspects each name at `pathOf(name)`; prints the array (or one template line per object). */
export interface InspectOptions<T> {
  /** --pretty's renderer, for the swarm objects that have one. */
  pretty?: (object: T) => string;
  /** The message for a missing name, when the object's docker text differs from "No such KIND". */
  missing?: (name: string) => string;
}

export async function inspectNamed<T = unknown>(
  ctx: CliContext,
  names: string[],
  kind: string,
  pathOf: (name: string) => string,
  format: string | undefined,
  options: InspectOptions<T> & { prettyRequested?: boolean } = {},
): Promise<number> {
  const found: T[] = [];
  const errors: string[] = [];
  for (const name of names) {
    try {
      found.push(await callJson<T>(ctx, 'GET', pathOf(name)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      errors.push(`Error: ${options.missing ? options.missing(name) : `No such ${kind}: ${name}`}`);
    }
  }
  if (options.prettyRequested && options.pretty) ctx.stdout.write(found.map(options.pretty).join('\n'));
  else if (format) ctx.stdout.write(found.map((o) => renderOne(format, o)).join(''));
  else ctx.stdout.write(`${inspectJson(found)}\n`);
  if (errors.length > 0) throw new StatusError(errors.join('\n'), 1);
  return 0;
}

/** Removes each name, printing it when done; `ignoreMissing` is rm -f's "no error if absent". */
export async function removeNamed(ctx: CliContext, names: string[], pathOf: (name: string) => string, query: Record<string, boolean>, ignoreMissing: boolean): Promise<number> {
  const errors: string[] = [];
  for (const name of names) {
    try {
      await ctx.client().raw({ method: 'DELETE', path: pathOf(name), query }).then((r) => r.resume());
      ctx.stdout.write(`${name}\n`);
    } catch (err) {
      if (ignoreMissing && isNotFound(err)) continue;
      errors.push(`Error response from daemon: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (errors.length > 0) throw new StatusError(errors.join('\n'), 1);
  return 0;
}
