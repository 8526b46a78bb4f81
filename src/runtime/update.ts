/**
 * Changes a running container's cgroup limits with `runc update -r -` (the OCI
 * linux.resources JSON on stdin): runc knows the order cgroup v1 needs (memory before
 * memsw when growing, the other way round when shrinking).
 */
import { execTool } from '../sys/exec.js';
import { invalidParameter } from '../util/errors.js';
import { runtimeErrorMessage } from './start-error.js';

export async function runcUpdate(runcPath: string, runcRoot: string, id: string, resources: Record<string, unknown>): Promise<void> {
  const result = await execTool(runcPath, ['--root', runcRoot, 'update', '-r', '-', id], { input: JSON.stringify(resources) });
  if (result.code !== 0) throw invalidParameter(runtimeErrorMessage(result.stderr || result.stdout));
}
