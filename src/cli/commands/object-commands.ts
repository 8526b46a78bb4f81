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
export async function inspectNamed(ctx: CliContext, names: string[], kind: string, pathOf: (name: string) => string, format: string | undefined): Promise<number> {
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const name of names) {
    try {
      found.push(await callJson<unknown>(ctx, 'GET', pathOf(name)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      errors.push(`Error: No such ${kind}: ${name}`);
    }
  }
  if (format) ctx.stdout.write(found.map((o) => renderOne(format, o)).join(''));
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
