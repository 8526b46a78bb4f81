import { spawn, type SpawnOptions } from 'node:child_process';
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
export function execTool(file: string, args: string[], options: SpawnOptions & { input?: string | Buffer } = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(systemError(`cannot run ${file}: ${e.message}`, e)));
    child.on('close', (code, signal) => {
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin!.end(options.input ?? undefined);
  });
}

/** Like execTool, but a non-zero exit is an error that quotes the tool's stderr. */
export async function execToolChecked(file: string, args: string[], options: SpawnOptions & { input?: string | Buffer } = {}): Promise<string> {
  const result = await execTool(file, args, options);
  if (result.code !== 0) {
    throw systemError(`${file} ${args.join(' ')}: exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}
