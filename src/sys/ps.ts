import { execTool } from './exec.js';
import { systemError } from '../util/errors.js';

/** Runs the host's `ps` with the caller's options (docker top's ps_args) and returns its output. */
export async function runPs(args: string[]): Promise<string> {
  const result = await execTool('ps', args);
  if (result.code !== 0) throw systemError(`ps: exit status ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}
