/**
 * Timing and memory readings for the benchmarks. Medians, not means: one slow run (a page
 * cache miss, a GC pause in the CLI) should not move a figure we compare against targets.
 */
import { readFileSync } from 'node:fs';
import { run, describeResult, type RunOptions } from '../test/helpers/exec.js';

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface TimedCommand {
  file: string;
  args: string[];
  options?: RunOptions;
}

/**
 * Wall-clock milliseconds of `runs` executions after `warmups` unmeasured ones; a failing
 * command aborts the figure, because the time of a failure is not the time of the work.
 */
export async function timeCommand(cmd: TimedCommand, runs: number, warmups: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < warmups + runs; i++) {
    const start = process.hrtime.bigint();
    const r = await run(cmd.file, cmd.args, { timeoutMs: 60_000, ...cmd.options });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.code !== 0) throw new Error(describeResult(`${cmd.file} ${cmd.args.join(' ')}`, r));
    if (i >= warmups) times.push(ms);
  }
  return times;
}

/**
 * timeCommand for several commands measured together: each round runs every command once, in
 * turn. This machine's speed drifts by 10-20% between minutes; interleaved, the drift falls on
 * all of them alike, so their ratios hold. One list of times per command.
 */
export async function timeInterleaved(cmds: TimedCommand[], runs: number, warmups: number): Promise<number[][]> {
  const times = cmds.map(() => [] as number[]);
  for (let i = 0; i < warmups + runs; i++) {
    for (const [index, cmd] of cmds.entries()) {
      const start = process.hrtime.bigint();
      const r = await run(cmd.file, cmd.args, { timeoutMs: 60_000, ...cmd.options });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (r.code !== 0) throw new Error(describeResult(`${cmd.file} ${cmd.args.join(' ')}`, r));
      if (i >= warmups) times[index]!.push(ms);
    }
  }
  return times;
}

function statusField(pid: number, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Resident set size in bytes. */
export const rssBytes = (pid: number): number => statusField(pid, 'VmRSS');

/**
 * Proportional set size in bytes: shared pages (libc, the conmon binary) divided among the
 * processes that map them, which is what each extra monitor really costs.
 */
export function pssBytes(pid: number): number | undefined {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export const MiB = 1024 * 1024;
