/**
 * Runs a short command inside a running container with `runc exec` and captures its output:
 * what a HEALTHCHECK needs. The process gets the container's own capabilities, seccomp and
 * cgroup (runc takes them from the container's state). A probe over its time is killed.
 */
import { spawn } from 'node:child_process';

export interface ProbeOutcome {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

const MAX_CAPTURE = 64 * 1024;

export function runcExecProbe(runcPath: string, runcRoot: string, id: string, argv: string[], env: string[], timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const envArgs = env.flatMap((e) => ['--env', e]);
    const child = spawn(runcPath, ['--root', runcRoot, 'exec', ...envArgs, id, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let size = 0;
    const collect = (b: Buffer): void => {
      if (size >= MAX_CAPTURE) return;
      chunks.push(b);
      size += b.length;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ exitCode: -1, output: err.message, timedOut: false });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exitCode: code ?? (signal ? 128 : -1), output: Buffer.concat(chunks).toString('utf8'), timedOut });
    });
  });
}
