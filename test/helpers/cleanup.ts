/**
 * Removing everything a test daemon left on the machine, whatever state it died in.
 *
 * Nothing here trusts the daemon's own bookkeeping: a test that fails may have crashed berthd
 * half-way through a create. Instead we look at what the kernel and runc can tell us about one
 * temp directory: runc state files under it, processes whose command line names it, mounts
 * below it and cgroups named after container ids found in it.
 */
import { readFileSync, readdirSync, rmSync, rmdirSync, existsSync, lstatSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { run, sleep } from './exec.js';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** runc's root when nobody passes --root; checked only for ids that belong to our temp dir. */
const DEFAULT_RUNC_ROOT = '/run/runc';
const CONTAINER_ID = /^[0-9a-f]{64}$/;

export interface Mount {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function readMounts(): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 0) continue;
    mounts.push({ mountPoint: unescapeMountField(fields[4]!), fsType: fields[sep + 1]!, source: unescapeMountField(fields[sep + 2] ?? '') });
  }
  return mounts;
}

const isUnder = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith('/') ? dir : dir + '/');

export function mountsUnder(dir: string): Mount[] {
  return readMounts().filter((m) => isUnder(m.mountPoint, dir));
}

/** Deepest first, so a parent is never unmounted under its children; lazy unmount as a last resort. */
export async function unmountAllUnder(dir: string): Promise<string[]> {
  const problems: string[] = [];
  for (let round = 0; round < 5; round++) {
    const mounts = mountsUnder(dir).sort((a, b) => b.mountPoint.split('/').length - a.mountPoint.split('/').length);
    if (mounts.length === 0) return problems;
    for (const m of mounts) {
      const r = await run('umount', [m.mountPoint], { timeoutMs: 10_000 });
      if (r.code !== 0) {
        const lazy = await run('umount', ['-l', m.mountPoint], { timeoutMs: 10_000 });
        if (lazy.code !== 0 && round === 4) problems.push(`umount -l ${m.mountPoint}: ${lazy.stderr.trim()}`);
      }
    }
  }
  const left = mountsUnder(dir);
  if (left.length) problems.push(`still mounted: ${left.map((m) => m.mountPoint).join(', ')}`);
  return problems;
}

export interface ProcessInfo {
  pid: number;
  argv: string[];
}

/** Processes whose command line mentions `needle` (conmon gets its bundle and log paths as arguments). */
export function processesMentioning(needle: string): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let raw: string;
    try {
      raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    if (raw.includes(needle)) found.push({ pid, argv: raw.split('\0').filter(Boolean) });
  }
  return found;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. Resolves once the pid is gone. */
export async function terminate(pid: number, graceMs: number): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || isZombie(pid)) return;
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && isAlive(pid) && !isZombie(pid); i++) await sleep(20);
}

/** A zombie is dead for our purposes: its parent (maybe us) just has not reaped it yet. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

interface RuncState {
  runcRoot: string;
  id: string;
  cgroupPaths: string[];
}

/**
 * Walks `dir` (not into mounts or image layer trees) collecting runc state files and
 * anything named like a container id, without knowing how the daemon lays out its roots.
 */
function scan(dir: string, maxDepth: number, mountPoints: Set<string>, states: RuncState[], ids: Set<string>): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (name === 'state.json') {
      try {
        const state = JSON.parse(readFileSync(path, 'utf8')) as { id?: string; cgroup_paths?: Record<string, string> };
        if (state.id) states.push({ runcRoot: dirname(dir), id: state.id, cgroupPaths: Object.values(state.cgroup_paths ?? {}) });
      } catch {
        // not runc's, or half-written: the id scan below still catches the container
      }
      continue;
    }
    if (CONTAINER_ID.test(name)) ids.add(name);
    if (maxDepth <= 0 || mountPoints.has(path)) continue;
    // Layer contents and rootfs trees hold no runtime state and can be large.
    if (['diff', 'merged', 'rootfs', 'work', 'layers', 'blobs'].includes(name)) continue;
    try {
      if (lstatSync(path).isDirectory()) scan(path, maxDepth - 1, mountPoints, states, ids);
    } catch {
      // vanished
    }
  }
}

/** Kills what is left in a cgroup and removes it, children first. */
async function removeCgroup(path: string, problems: string[]): Promise<void> {
  if (!existsSync(path)) return;
  for (const child of readdirSync(path, { withFileTypes: true })) {
    if (child.isDirectory()) await removeCgroup(join(path, child.name), problems);
  }
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      for (const pid of readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // no cgroup.procs: nothing to kill
    }
    try {
      rmdirSync(path);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (attempt === 19) problems.push(`rmdir ${path}: ${code}`);
      await sleep(100);
    }
  }
}

function hierarchies(): string[] {
  try {
    return readdirSync(CGROUP_ROOT);
  } catch {
    return []; // no cgroupfs visible
  }
}

function berthCgroupParents(): string[] {
  return [...hierarchies().map((h) => join(CGROUP_ROOT, h, 'berth')), join(CGROUP_ROOT, 'berth')];
}

/** The cgroup directories `/berth/<id>` (and anything runc recorded) under every mounted hierarchy. */
function cgroupDirsFor(ids: Iterable<string>, states: RuncState[]): string[] {
  const dirs = new Set<string>();
  for (const s of states) for (const p of s.cgroupPaths) dirs.add(p);
  const parents = berthCgroupParents(); // the last one is the pure cgroup v2 layout
  for (const id of ids) for (const parent of parents) dirs.add(join(parent, id));
  return [...dirs].filter((d) => existsSync(d));
}

export interface CleanupOptions {
  /** The test's temp dir: data root, exec root, socket and logs all live below it. */
  dir: string;
  /** Daemon pids to stop first (gracefully, then by force). */
  daemonPids: number[];
  /** Keep the directory itself (used between a daemon's kill and its restart: never). */
  keepDir?: boolean;
}

/**
 * Stops the daemon, then removes containers, monitors, mounts, cgroups and the directory.
 * Never throws: it returns what it could not remove so the caller can fail loudly, and it
 * always tries every step so one stuck mount does not leave processes running as well.
 */
export async function cleanupDir({ dir, daemonPids, keepDir }: CleanupOptions): Promise<string[]> {
  const problems: string[] = [];
  const step = async (name: string, fn: () => Promise<void> | void): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
    }
  };

  await step('stop daemon', async () => {
    await Promise.all(daemonPids.map((pid) => terminate(pid, 10_000)));
  });

  const states: RuncState[] = [];
  const ids = new Set<string>();
  await step('scan', () => {
    scan(dir, 6, new Set(mountsUnder(dir).map((m) => m.mountPoint)), states, ids);
    for (const id of ids) {
      const p = join(DEFAULT_RUNC_ROOT, id, 'state.json');
      if (existsSync(p)) scan(join(DEFAULT_RUNC_ROOT, id), 0, new Set(), states, new Set());
    }
    for (const s of states) ids.add(s.id);
  });

  await step('runc delete', async () => {
    for (const s of states) {
      const r = await run('runc', ['--root', s.runcRoot, 'delete', '--force', s.id], { timeoutMs: 15_000 });
      if (r.code !== 0 && !/does not exist|not exist/.test(r.stderr)) problems.push(`runc delete ${s.id}: ${r.stderr.trim()}`);
    }
  });

  // Monitors (conmon), stray runc calls and a daemon we did not start ourselves all name the dir.
  await step('kill processes', async () => {
    await Promise.all(processesMentioning(dir).map((p) => terminate(p.pid, 2_000)));
  });

  await step('cgroups', async () => {
    const cgroups = cgroupDirsFor(ids, states);
    for (const cg of cgroups) await removeCgroup(cg, problems);
    // runc made the shared /berth parents for us; drop them once empty. A daemon that still has
    // containers there keeps them: rmdir of a cgroup with children fails and is ignored.
    if (ids.size === 0) return;
    for (const parent of berthCgroupParents()) {
      try {
        rmdirSync(parent);
      } catch {
        // still in use, or never made
      }
    }
  });

  await step('unmount', async () => {
    problems.push(...(await unmountAllUnder(dir)));
  });

  if (!keepDir) {
    await step('remove dir', async () => {
      if (mountsUnder(dir).length) throw new Error(`not removing ${dir}: mounts remain under it`);
      for (let attempt = 0; ; attempt++) {
        try {
          rmSync(dir, { recursive: true, force: true });
          return;
        } catch (e) {
          if (attempt >= 5) throw e;
          await sleep(200);
        }
      }
    });
  }
  return problems;
}
