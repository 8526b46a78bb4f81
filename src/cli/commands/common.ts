import { ClientError } from '../../client/errors.js';
import { StatusError, type CliContext } from '../command.js';
import type { FlagSpec } from '../flags.js';
import { parseNormalizedNamed, type ImageReference } from '../../image/reference.js';

/** The --format help docker shows on list commands. */
export const FORMAT_TABLE_HELP =
  "Format output using a custom template:\n'table':            Print output in table format with column headers (default)\n'table TEMPLATE':   Print output in table format using the given Go template\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

export const FORMAT_HELP =
  "Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates";

export const filterFlag: FlagSpec = { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: 'Filter output based on conditions provided' };

export function errorText(err: unknown): string {
  if (err instanceof ClientError) return `Error response from daemon: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * docker's pattern for "one or more containers": act on each, print the name on success,
 * collect failures, and report them together at the end with status 1.
 */
export async function eachTarget(ctx: CliContext, targets: string[], act: (t: string) => Promise<void>, summary?: string): Promise<number> {
  const failed: string[] = [];
  const errors: string[] = [];
  for (const t of targets) {
    try {
      await act(t);
      ctx.stdout.write(`${t}\n`);
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      errors.push(errorText(err));
      failed.push(t);
    }
  }
  if (!errors.length) return 0;
  throw new StatusError(summary ? `${errors.join('\n')}\nError: ${summary}: ${failed.join(', ')}` : errors.join('\n'), 1);
}

/** An image reference from the command line; a malformed one is the CLI's exit 1, as docker's. */
export function referenceArg(text: string): ImageReference {
  try {
    return parseNormalizedNamed(text);
  } catch (err) {
    throw new StatusError((err as Error).message, 1);
  }
}
