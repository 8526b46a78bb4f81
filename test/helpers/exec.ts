/**
 * Running tools from tests. Every child gets a deadline so a hung CLI fails its test instead of
 * stalling the whole run until the runner's global timeout.
 */
import { spawn } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Milliseconds before the child is SIGKILLed; the result then has code 124 (like timeout(1)). */
  timeoutMs?: number;
  cwd?: string;
}

export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    // A CLI that exits before reading its stdin must not crash the test with EPIPE.
    child.stdin.on('error', () => {});
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code: timedOut ? 124 : (code ?? 128 + signalNumber(signal)),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${stderr}\n[test helper: killed after ${options.timeoutMs ?? 60_000} ms]` : stderr,
      });
    });
    child.stdin.end(options.input ?? undefined);
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15, SIGSEGV: 11, SIGABRT: 6 };
  return (signal && numbers[signal]) || 0;
}

/** Formats a result for assertion messages, so a failing test shows what the tool said. */
export function describeResult(what: string, r: RunResult): string {
  return `${what} -> exit ${r.code}\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the deadline passes; returns the last value. */
export async function waitFor<T>(check: () => Promise<T> | T, { timeoutMs = 10_000, intervalMs = 100 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() >= deadline) return value;
    await sleep(intervalMs);
  }
}

/** Asserts exit 0 and returns stdout; the failure message carries both streams. */
export function expectOk(what: string, r: RunResult): string {
  if (r.code !== 0) throw new Error(`expected exit 0: ${describeResult(what, r)}`);
  return r.stdout;
}
