/**
 * A `berth swarm manage` process of the test's own, on a unix socket (or a loopback TCP port
 * for replication, where managers must reach each other), with its log kept for failures.
 * A manager serving TLS (--tlsverify) is reached with the client material given as `tls`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { berthBin } from './paths.js';
import { terminate } from './cleanup.js';
import { sleep } from './exec.js';
import { readResponse, type ApiResponse } from './daemon.js';

/** PEM client material for a manager that serves TLS. */
export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

export interface TestManager {
  host: string;
  logPath: string;
  readonly pid: number;
  api(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  log(): string;
  /** SIGKILL: the primary dies without resigning. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** One HTTP request to unix://PATH or tcp://HOST:PORT (HTTPS with a client cert given `tls`). */
export function hostRequest(host: string, method: string, path: string, body?: unknown, timeoutMs = 60_000, tls?: ClientTls): Promise<ApiResponse> {
  const target = host.startsWith('unix://') ? { socketPath: host.slice(7) } : (() => {
    const [h, p] = host.replace(/^tcp:\/\//, '').split(':');
    return { host: h, port: Number(p) };
  })();
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {};
    const send = tls ? httpsRequest : request;
    const req = send({ ...target, ...(tls ?? {}), method, path, headers }, (res) => readResponse(res).then(resolve, reject));
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function startManager(dir: string, name: string, args: string[], host?: string, tls?: ClientTls): Promise<TestManager> {
  const listen = host ?? `unix://${join(dir, `${name}.sock`)}`;
  const logPath = join(dir, `${name}.log`);
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(berthBin, ['swarm', 'manage', '-H', listen, ...args], { stdio: ['ignore', fd, fd], env: { ...process.env } });
  } finally {
    closeSync(fd);
  }
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `manager exited (${signal ?? code})`));
  const log = (): string => {
    try {
      return readFileSync(logPath, 'utf8');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`${exited}\n${log()}`);
    const ok = await hostRequest(listen, 'GET', '/_ping', undefined, 2_000, tls).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`manager did not answer on ${listen}\n${log()}`);
    await sleep(100);
  }
  const waitExit = (): Promise<void> => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r())));
  return {
    host: listen,
    logPath,
    get pid() {
      return child.pid ?? -1;
    },
    api: (method, path, body) => hostRequest(listen, method, path, body, 60_000, tls),
    log,
    async kill9() {
      child.kill('SIGKILL');
      await waitExit();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null && child.pid) {
        await terminate(child.pid, 10_000);
        await waitExit();
      }
    },
  };
}

/** The SystemStatus pairs of a manager's /info (classic swarm's per-node block layout). */
export async function managerStatus(m: TestManager): Promise<Array<[string, string]>> {
  const r = await m.api('GET', '/info');
  return (r.json as { SystemStatus: Array<[string, string]> }).SystemStatus;
}

/** The value of a top-level SystemStatus key ("Role", "Primary", "Nodes"). */
export const statusValue = (s: Array<[string, string]>, key: string): string | undefined => s.find(([k]) => k === key)?.[1];

/** Node names of the manager's /info whose status is Healthy, sorted. */
export async function healthyNodes(m: TestManager): Promise<string[]> {
  const s = await managerStatus(m);
  const out: string[] = [];
  for (let i = 0; i < s.length; i++) {
    const [k] = s[i]!;
    if (/^ \S/.test(k) && s.slice(i + 1, i + 4).some(([kk, v]) => kk === '  └ Status' && v === 'Healthy')) out.push(k.trim());
  }
  return out.sort();
}
