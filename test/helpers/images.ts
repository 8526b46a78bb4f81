/**
 * The busybox test image. No registry is reachable, so every test imports the same rootfs tar,
 * built from the host's busybox-static once per test process.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRootfsScript } from './paths.js';
import { run, describeResult } from './exec.js';
import type { TestDaemon } from './daemon.js';

let cached: Promise<string> | undefined;
let cacheDir: string | undefined;

/** Path of a busybox rootfs tar, built on first use and removed when the process exits. */
export function busyboxTar(): Promise<string> {
  cached ??= (async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'berth-test-rootfs-'));
    const dir = cacheDir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'busybox.tar');
    const r = await run('bash', [makeRootfsScript, out], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(describeResult('make-busybox-rootfs.sh', r));
    return out;
  })();
  return cached;
}

export interface ImportOptions {
  /** 'api' (default) posts the tar to /images/create; 'cli' runs `berth import`; 'docker' runs `docker import`. */
  via?: 'api' | 'cli' | 'docker';
  repo?: string;
  tag?: string;
}

/** Imports busybox:latest (or repo:tag) into the daemon; resolves to the image ID the daemon reports. */
export async function importBusybox(d: TestDaemon, options: ImportOptions = {}): Promise<string> {
  const repo = options.repo ?? 'busybox';
  const tag = options.tag ?? 'latest';
  const tar = await busyboxTar();
  const via = options.via ?? 'api';
  if (via === 'cli' || via === 'docker') {
    const r = await (via === 'cli' ? d.berth : d.docker)(['import', tar, `${repo}:${tag}`], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(describeResult(`${via} import`, r));
    return r.stdout.trim();
  }
  const res = await d.api('POST', `/images/create?fromSrc=-&repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`, readFileSync(tar), {
    headers: { 'Content-Type': 'application/x-tar' },
    timeoutMs: 120_000,
  });
  if (res.status !== 200) throw new Error(`POST /images/create (import) -> ${res.status}: ${res.text}`);
  // The body is a JSON message stream; an error after the 200 arrives as {"error": ...}.
  let id = '';
  for (const line of res.text.split('\n')) {
    if (!line.trim()) continue;
    const msg = JSON.parse(line) as { error?: string; errorDetail?: { message?: string }; status?: string };
    if (msg.error) throw new Error(`import failed: ${msg.error}`);
    if (msg.status?.startsWith('sha256:')) id = msg.status;
  }
  return id;
}
