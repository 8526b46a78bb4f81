/**
 * Filesystem operations Node cannot do by itself (device nodes, arbitrary xattrs, mounts),
 * done by spawning the standard tools, or for the overlay mounts on every container start and
 * exit, by mount(2)/umount2(2) through a small native addon. Kept tiny so callers never build
 * command lines.
 */
import { readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execTool, execToolChecked } from './exec.js';
import { errorMessage, isErrno, systemError } from '../util/errors.js';
import { findAddon } from './addon.js';

export type DeviceKind = 'char' | 'block' | 'fifo';

/** mknod(2) through mknod(1). The node gets exactly `mode`, regardless of the umask. */
export async function makeNode(path: string, kind: DeviceKind, mode: number, major = 0, minor = 0): Promise<void> {
  const modeArg = ['-m', (mode & 0o7777).toString(8)];
  if (kind === 'fifo') {
    await execToolChecked('mknod', [...modeArg, '--', path, 'p']);
    return;
  }
  await execToolChecked('mknod', [...modeArg, '--', path, kind === 'char' ? 'c' : 'b', String(major), String(minor)]);
}

/** Sets one extended attribute without following a symlink at `path`. */
export async function setXattr(path: string, name: string, value: Buffer): Promise<void> {
  // Hex keeps binary values and values starting with "0x"/"0s" intact.
  const encoded = value.length === 0 ? '""' : `0x${value.toString('hex')}`;
  await execToolChecked('setfattr', ['-h', '-n', name, '-v', encoded, '--', path]);
}

/** Reads one extended attribute (no symlink following); undefined when it is not set. */
export async function getXattr(path: string, name: string): Promise<Buffer | undefined> {
  const result = await execTool('getfattr', ['-h', '--absolute-names', '-e', 'hex', '-n', name, '--', path]);
  if (result.code !== 0) {
    if (/No such attribute|No data available/i.test(result.stderr)) return undefined;
    throw systemError(`getfattr ${name} ${path}: ${result.stderr.trim()}`);
  }
  const line = result.stdout.split('\n').find((l) => l.startsWith(`${name}=`));
  if (line === undefined) return undefined;
  const raw = line.slice(name.length + 1);
  if (raw.startsWith('0x')) return Buffer.from(raw.slice(2), 'hex');
  if (raw.startsWith('"') && raw.endsWith('"')) return Buffer.from(raw.slice(1, -1));
  return Buffer.from(raw);
}

export interface OverlayMountOptions {
  /** Lower directories, topmost first; relative paths are resolved against `cwd`. */
  lowerDirs: string[];
  upperDir: string;
  workDir: string;
  target: string;
  /** Working directory of the mount process, so that relative lowerdirs stay short. */
  cwd?: string;
  /** overlay's `volatile` (Linux 5.10+): no syncs reach the upper filesystem, unmount included. */
  volatile?: boolean;
}

/** The kernel copies mount(2) data into one page; longer option strings are refused. */
export const MOUNT_DATA_MAX = 4096 - 1;

export function overlayMountData(options: OverlayMountOptions): string {
  return `lowerdir=${options.lowerDirs.join(':')},upperdir=${options.upperDir},workdir=${options.workDir}${options.volatile ? ',volatile' : ''}`;
}

interface SysmountAddon {
  mount(source: string, target: string, fstype: string, flags: number, data: string): Promise<void>;
  umount2(target: string, flags: number): Promise<void>;
  removeTree(path: string): Promise<void>;
}

/**
 * Deletes PATH and everything under it on one pool thread (see native/sysmount.c), never
 * crossing into another filesystem: something still mounted inside fails with EXDEV rather than
 * having its contents deleted. Without the addon, node's recursive rm.
 */
export async function removeTree(path: string): Promise<void> {
  const addon = sysmountAddon();
  if (addon) return addon.removeTree(path);
  await rm(path, { recursive: true, force: true });
}

let sysmount: SysmountAddon | null | undefined;

/** The mount(2) addon (native/sysmount.c); null when it was not built, and tools are spawned instead. */
function sysmountAddon(): SysmountAddon | null {
  if (sysmount === undefined) sysmount = findAddon<SysmountAddon>('sysmount') ?? null;
  return sysmount;
}

const MNT_DETACH = 2;

export async function mountOverlay(options: OverlayMountOptions): Promise<void> {
  const data = overlayMountData(options);
  if (data.length > MOUNT_DATA_MAX) {
    throw systemError(`overlay mount options are ${data.length} bytes, more than the kernel's ${MOUNT_DATA_MAX}-byte limit (too many layers)`);
  }
  const addon = sysmountAddon();
  // Relative lowerdirs are resolved against the caller's working directory, which only a
  // process of its own can have: that (rare, many-layer) case keeps spawning mount(8).
  if (addon && !options.cwd) {
    try {
      await addon.mount('overlay', options.target, 'overlay', 0, data);
    } catch (err) {
      throw systemError(`mount overlay on ${options.target}: ${errorMessage(err)}`);
    }
    return;
  }
  await execToolChecked('/bin/mount', ['-t', 'overlay', 'overlay', '-o', data, options.target], options.cwd ? { cwd: options.cwd } : {});
}

/** Unmounts `target`; a busy mount is detached lazily, as docker does for overlay. */
export async function unmount(target: string): Promise<void> {
  const addon = sysmountAddon();
  if (addon) {
    try {
      await addon.umount2(target, 0);
      return;
    } catch (err) {
      // EINVAL: not a mount point (any more); ENOENT: the directory is gone. Both mean unmounted.
      if (isErrno(err, 'EINVAL') || isErrno(err, 'ENOENT')) return;
      if (!isErrno(err, 'EBUSY')) throw systemError(`umount ${target}: ${errorMessage(err)}`);
    }
    try {
      await addon.umount2(target, MNT_DETACH);
    } catch (err) {
      throw systemError(`umount -l ${target}: ${errorMessage(err)}`);
    }
    return;
  }
  const result = await execTool('/bin/umount', [target]);
  if (result.code === 0) return;
  if (/not mounted/i.test(result.stderr)) return;
  if (/busy/i.test(result.stderr)) {
    await execToolChecked('/bin/umount', ['-l', target]);
    return;
  }
  throw systemError(`umount ${target}: ${result.stderr.trim()}`);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points currently visible to this process, from /proc/self/mountinfo. */
export async function listMountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length > 4) points.push(unescapeMountPath(fields[4]!));
  }
  return points;
}

/**
 * Whether something is mounted on PATH, told by a device change against its parent: two stats
 * rather than reading and parsing all of /proc/self/mountinfo, which grows with every mount on
 * the host. Only for mounts of another filesystem (overlay, nsfs): a bind mount from the same
 * filesystem keeps the device. 'missing' when PATH doesn't exist.
 */
export async function mountState(path: string): Promise<'mounted' | 'unmounted' | 'missing'> {
  const missingIsUndefined = (err: unknown) => (isErrno(err, 'ENOENT') ? undefined : Promise.reject(err));
  const [self, parent] = await Promise.all([stat(path).catch(missingIsUndefined), stat(dirname(path)).catch(missingIsUndefined)]);
  if (!self || !parent) return 'missing';
  return self.dev !== parent.dev ? 'mounted' : 'unmounted';
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await listMountPoints()).includes(path);
}
