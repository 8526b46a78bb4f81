/**
 * `docker top`: the host's `ps` output, cut to the container's processes. Columns come from
 * ps's header; the last column (the command) keeps its spaces.
 */
import { invalidParameter } from '../util/errors.js';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** Splits ps output into titles and the rows whose PID column is one of `pids`. */
export function filterPsOutput(output: string, pids: ReadonlySet<number>): TopResult {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.trim().split(/\s+/) ?? [];
  const pidIndex = header.indexOf('PID');
  if (pidIndex < 0) throw invalidParameter(`Couldn't find PID field in ps output`);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    const pid = Number(fields[pidIndex]);
    if (!Number.isInteger(pid) || !pids.has(pid)) continue;
    const row = fields.slice(0, header.length - 1);
    row.push(fields.slice(header.length - 1).join(' '));
    processes.push(row);
  }
  return { Titles: header, Processes: processes };
}

/** ps_args as docker splits them (on spaces); `-q`, which would select by pid itself, is refused. */
export function psArguments(psArgs: string | null): string[] {
  const args = (psArgs && psArgs.trim() ? psArgs.trim() : '-ef').split(/\s+/);
  for (const a of args) {
    if (/[\0\n]/.test(a)) throw invalidParameter(`invalid ps arguments: ${JSON.stringify(psArgs)}`);
  }
  return args;
}
