/**
 * The reference side of the benchmarks: a real dockerd, when one answers on its default
 * socket. We only add things to it (one image, containers we name) and remove exactly those.
 */
import { readFileSync } from 'node:fs';
import { apiRequest } from '../test/helpers/daemon.js';
import { run, describeResult, type RunResult } from '../test/helpers/exec.js';
import { processesMentioning, processName } from '../test/helpers/cleanup.js';
import { dockerBin } from '../test/helpers/paths.js';

export const DOCKERD_SOCKET = '/var/run/docker.sock';

export interface Dockerd {
  host: string;
  docker(args: string[]): Promise<RunResult>;
  /** Creates `count` stopped containers; returns their ids. */
  createContainers(image: string, count: number, cmd: string[]): Promise<string[]>;
  startContainer(id: string): Promise<void>;
  removeContainers(ids: string[]): Promise<void>;
  /** Imports the tar as `ref` unless it is there already; cleanup() removes it only if we added it. */
  importImage(tar: string, ref: string): Promise<void>;
  /** RSS of dockerd itself, if its pidfile is readable. */
  daemonPid(): number | undefined;
  /** containerd-shim processes serving a container (one per container with shim v2). */
  shimPids(id: string): number[];
  cleanup(): Promise<string[]>;
}

export async function probeDockerd(): Promise<Dockerd | undefined> {
  try {
    const r = await apiRequest(DOCKERD_SOCKET, 'GET', '/_ping', undefined, { timeoutMs: 2_000 });
    if (r.status !== 200) return undefined;
  } catch {
    return undefined;
  }
  const host = `unix://${DOCKERD_SOCKET}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false' };
  delete env.DOCKER_CONTEXT;
  const ours = new Set<string>();
  let importedRef: string | undefined;

  const dockerd: Dockerd = {
    host,
    docker: (args) => run(dockerBin, args, { env, timeoutMs: 120_000 }),
    async createContainers(image, count, cmd) {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const r = await apiRequest(DOCKERD_SOCKET, 'POST', '/containers/create', { Image: image, Cmd: cmd, Labels: { 'berth.bench': '1' } });
        if (r.status !== 201) throw new Error(`dockerd create -> ${r.status}: ${r.text}`);
        const id = (r.json as { Id: string }).Id;
        ours.add(id);
        ids.push(id);
      }
      return ids;
    },
    async startContainer(id) {
      const r = await apiRequest(DOCKERD_SOCKET, 'POST', `/containers/${id}/start`);
      if (r.status !== 204) throw new Error(`dockerd start -> ${r.status}: ${r.text}`);
    },
    async removeContainers(ids) {
      for (const id of ids) {
        await apiRequest(DOCKERD_SOCKET, 'DELETE', `/containers/${id}?force=1`);
        ours.delete(id);
      }
    },
    async importImage(tar, ref) {
      const existing = await apiRequest(DOCKERD_SOCKET, 'GET', `/images/${ref}/json`);
      if (existing.status === 200) return;
      const r = await dockerd.docker(['import', tar, ref]);
      if (r.code !== 0) throw new Error(describeResult('docker import (dockerd)', r));
      importedRef = ref;
    },
    daemonPid() {
      try {
        return Number(readFileSync('/var/run/docker.pid', 'utf8').trim()) || undefined;
      } catch {
        return undefined;
      }
    },
    shimPids(id) {
      return processesMentioning(id)
        .filter((p) => (processName(p.pid) ?? '').startsWith('containerd-shim'))
        .map((p) => p.pid);
    },
    async cleanup() {
      const problems: string[] = [];
      for (const id of ours) {
        const r = await apiRequest(DOCKERD_SOCKET, 'DELETE', `/containers/${id}?force=1`).catch((e: Error) => ({ status: 0, text: e.message }));
        if (r.status !== 204 && r.status !== 404) problems.push(`dockerd rm ${id}: ${r.status} ${r.text}`);
      }
      ours.clear();
      if (importedRef) {
        const r = await apiRequest(DOCKERD_SOCKET, 'DELETE', `/images/${importedRef}`).catch((e: Error) => ({ status: 0, text: e.message }));
        if (r.status !== 200 && r.status !== 404) problems.push(`dockerd rmi ${importedRef}: ${r.status} ${r.text}`);
      }
      return problems;
    },
  };
  return dockerd;
}
