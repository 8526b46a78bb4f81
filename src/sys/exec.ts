import type { Readable, Writable } from 'node:stream';
import { spawnProcess, type SpawnedProcess } from './spawn.js';
import { systemError } from '../util/errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a system tool to completion and captures its output. Only modules under sys/ and
 * runtime/ call this: they are the rooms that touch the OS.
 */
/** How a tool runs: its working directory, environment (default: the daemon's) and stdin. */
export interface ToolOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
}

export function execTool(file: string, args: string[], options: ToolOptions = {}): Promise<ExecResult> {
  // spawnProcess: posix_spawn rather than a fork of the daemon (see spawn.ts).
  let child: SpawnedProcess;
  try {
    child = spawnProcess(file, args, { cwd: options.cwd ?? process.cwd(), env: options.env ?? process.env, stdio: ['childReads', 'childWrites', 'childWrites'] });
  } catch (e) {
    return Promise.reject(systemError(`cannot run ${file}: ${(e as Error).message}`, e));
  }
  const [stdin, stdout, stderr] = child.stdio as [Writable, Readable, Readable];
  // A tool that exits without reading its input must not turn into an EPIPE error here.
  stdin.on('error', () => undefined);
  stdin.end(options.input ?? undefined);
  return Promise.all([drain(stdout), drain(stderr), child.exited]).then(
    ([out, err, exit]) => ({ code: exit.code ?? (exit.signal !== null ? 128 : 1), stdout: out, stderr: err }),
    (e: Error) => Promise.reject(systemError(`cannot run ${file}: ${e.message}`, e)),
  );
}

/** Everything a pipe carries until its end, as text. */
function drain(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** Like execTool, but a non-zero exit is an error that quotes the tool's stderr. */
export async function execToolChecked(file: string, args: string[], options: ToolOptions = {}): Promise<string> {
  const result = await execTool(file, args, options);
  if (result.code !== 0) {
    throw systemError(`${file} ${args.join(' ')}: exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}
