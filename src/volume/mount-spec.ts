/**
 * Parsing of the ways a container asks for mounts, into one MountPoint list:
 * HostConfig.Binds ("-v src:dst[:opts]"), HostConfig.Mounts (--mount objects),
 * HostConfig.Tmpfs (--tmpfs) and Config.Volumes (anonymous volumes, image VOLUMEs).
 * Messages follow dockerd's for the same mistakes.
 */
import { posix } from 'node:path';
import { invalidParameter } from '../util/errors.js';
import { validateVolumeName } from './store.js';

export type MountType = 'volume' | 'bind' | 'tmpfs';

export interface MountPoint {
  Type: MountType;
  /** Volume name ('' until an anonymous volume is created). */
  Name?: string;
  /** Host path: the bind source or the volume's data dir ('' for tmpfs). */
  Source: string;
  Destination: string;
  RW: boolean;
  /** As docker's inspect shows it ("z" for -v volumes, "ro", ...). */
  Mode: string;
  Propagation: string;
  /** Fill an empty volume with the image's files at Destination on first mount. */
  CopyData: boolean;
  /** Created for this container only; `rm -v` removes it. */
  Anonymous?: boolean;
  /** Where it came from: -v creates a missing bind source, --mount refuses it. */
  Origin: 'binds' | 'mounts' | 'tmpfs' | 'volumes' | 'volumes-from';
  /** tmpfs mount options (size=, mode=). */
  TmpfsOptions?: string[];
  VolumeOptions?: { labels?: Record<string, string>; driverOptions?: Record<string, string> };
}

const PROPAGATIONS = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate']);

function checkDestination(dest: string, mountType: MountType, viaMount: boolean): string {
  if (!posix.isAbsolute(dest)) {
    throw invalidParameter(viaMount ? `invalid mount config for type "${mountType}": invalid mount path: '${dest}' mount path must be absolute` : `invalid volume specification: '${dest}': invalid mount path: mount path must be absolute`);
  }
  const clean = posix.normalize(dest).replace(/(.)\/$/, '$1');
  if (clean === '/') throw invalidParameter(viaMount ? `invalid mount config for type "${mountType}": invalid specification: destination can't be '/'` : `invalid specification: destination can't be '/'`);
  return clean;
}

/** One HostConfig.Binds entry: "src:dst", "src:dst:ro,z", "name:/dst:nocopy". */
export function parseBind(spec: string): MountPoint {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p, i) => p === '' && i < 2)) throw invalidParameter(`invalid volume specification: '${spec}'`);
  const [source, dest, modeText = ''] = parts as [string, string, string?];
  const modes = modeText === '' ? [] : modeText.split(',');
  let rw = true;
  let propagation = '';
  let copy = true;
  for (const m of modes) {
    if (m === 'ro') rw = false;
    else if (m === 'rw') rw = true;
    else if (m === 'z' || m === 'Z') continue;
    else if (m === 'nocopy') copy = false;
    else if (PROPAGATIONS.has(m)) propagation = m;
    else throw invalidParameter(`invalid mode: ${modeText}`);
  }
  const isBind = source.startsWith('/');
  const type: MountType = isBind ? 'bind' : 'volume';
  const destination = checkDestination(dest, type, false);
  if (isBind) {
    if (!copy) throw invalidParameter(`invalid mode: ${modeText}`);
    return { Type: 'bind', Source: posix.normalize(source), Destination: destination, RW: rw, Mode: modeText, Propagation: propagation || 'rprivate', CopyData: false, Origin: 'binds' };
  }
  validateVolumeName(source);
  if (propagation) throw invalidParameter(`invalid mode: ${modeText}`);
  // dockerd reports the default SELinux relabel mode "z" for -v named volumes.
  return { Type: 'volume', Name: source, Source: '', Destination: destination, RW: rw, Mode: modeText || 'z', Propagation: '', CopyData: copy, Origin: 'binds' };
}

interface MountObject {
  Type?: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string; CreateMountpoint?: boolean };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

/** One HostConfig.Mounts entry (what `--mount` sends). Existence of bind sources is checked later. */
export function parseMountObject(raw: unknown): MountPoint {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalidParameter('invalid mount config: expected an object');
  const m = raw as MountObject;
  const type = m.Type ?? '';
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw invalidParameter(`invalid mount config for type "${type}": mount type unknown`);
  const invalid = (what: string) => invalidParameter(`invalid mount config for type "${type}": ${what}`);
  if (!m.Target) throw invalid('field Target must not be empty');
  const destination = checkDestination(m.Target, type, true);
  const rw = m.ReadOnly !== true;
  if (type !== 'bind' && m.BindOptions) throw invalid('field BindOptions must not be specified');
  if (type !== 'volume' && m.VolumeOptions) throw invalid('field VolumeOptions must not be specified');
  if (type !== 'tmpfs' && m.TmpfsOptions) throw invalid('field TmpfsOptions must not be specified');
  switch (type) {
    case 'bind': {
      if (!m.Source) throw invalid('field Source must not be empty');
      if (!m.Source.startsWith('/')) throw invalid(`invalid mount path: '${m.Source}' mount path must be absolute`);
      const propagation = m.BindOptions?.Propagation ?? '';
      if (propagation && !PROPAGATIONS.has(propagation)) throw invalid(`invalid propagation mode: ${propagation}`);
      return { Type: 'bind', Source: posix.normalize(m.Source), Destination: destination, RW: rw, Mode: '', Propagation: propagation || 'rprivate', CopyData: false, Origin: 'mounts' };
    }
    case 'volume': {
      if (m.Source) validateVolumeName(m.Source);
      const driver = m.VolumeOptions?.DriverConfig?.Name;
      if (driver && driver !== 'local') throw invalid(`volume driver ${driver} is not supported (only "local")`);
      const point: MountPoint = { Type: 'volume', Name: m.Source ?? '', Source: '', Destination: destination, RW: rw, Mode: '', Propagation: '', CopyData: m.VolumeOptions?.NoCopy !== true, Origin: 'mounts' };
      if (!m.Source) point.Anonymous = true;
      point.VolumeOptions = { labels: m.VolumeOptions?.Labels, driverOptions: m.VolumeOptions?.DriverConfig?.Options };
      return point;
    }
    default: {
      if (m.Source) throw invalid('field Source must not be specified');
      const options: string[] = [];
      const size = m.TmpfsOptions?.SizeBytes;
      if (size !== undefined) {
        if (!Number.isInteger(size) || size < 0) throw invalid(`invalid tmpfs size ${String(size)}`);
        if (size > 0) options.push(`size=${size}`);
      }
      if (m.TmpfsOptions?.Mode !== undefined) options.push(`mode=${(m.TmpfsOptions.Mode & 0o7777).toString(8)}`);
      return { Type: 'tmpfs', Source: '', Destination: destination, RW: rw, Mode: '', Propagation: '', CopyData: false, Origin: 'mounts', TmpfsOptions: options };
    }
  }
}

const TMPFS_OPTION = /^(size=\d+[kmgKMG%]?|nr_blocks=\d+[kmgKMG]?|nr_inodes=\d+[kmgKMG]?|mode=[0-7]{1,4}|uid=\d+|gid=\d+|ro|rw|exec|noexec|suid|nosuid|dev|nodev|atime|noatime|diratime|nodiratime|relatime|norelatime|strictatime|nostrictatime|sync|async|dirsync|mand|nomand|shared|rshared|slave|rslave|private|rprivate|bind|rbind|remount|tmpcopyup|notmpcopyup)$/;

/** One HostConfig.Tmpfs entry: {"/run": "size=64m,mode=1777"}. */
export function parseTmpfs(dest: string, optionText: string): MountPoint {
  const destination = checkDestination(dest, 'tmpfs', false);
  const options = optionText === '' ? [] : optionText.split(',');
  for (const o of options) if (!TMPFS_OPTION.test(o)) throw invalidParameter(`invalid tmpfs option ["${o}"]`);
  return { Type: 'tmpfs', Source: '', Destination: destination, RW: !options.includes('ro'), Mode: '', Propagation: '', CopyData: false, Origin: 'tmpfs', TmpfsOptions: options.filter((o) => o !== 'ro' && o !== 'rw') };
}

/** An anonymous volume from Config.Volumes (`-v /path`, the image's VOLUME). */
export function anonymousVolume(dest: string): MountPoint {
  const destination = checkDestination(dest, 'volume', false);
  return { Type: 'volume', Name: '', Source: '', Destination: destination, RW: true, Mode: '', Propagation: '', CopyData: true, Anonymous: true, Origin: 'volumes' };
}

/** "NAME[:ro|rw]" of --volumes-from. */
export function parseVolumesFrom(spec: string): { container: string; mode?: 'ro' | 'rw' } {
  const [container, mode, extra] = spec.split(':');
  if (!container || extra !== undefined || (mode !== undefined && mode !== 'ro' && mode !== 'rw')) {
    throw invalidParameter(`invalid volumes-from specification: '${spec}'`);
  }
  return mode ? { container, mode } : { container };
}

/** The options list a SpecMount carries for a mount point. */
export function specOptions(point: MountPoint): string[] {
  if (point.Type === 'tmpfs') return ['nosuid', 'nodev', 'noexec', point.RW ? 'rw' : 'ro', ...(point.TmpfsOptions ?? [])];
  return ['rbind', point.RW ? 'rw' : 'ro', point.Propagation || 'rprivate'];
}

/** docker's Mounts entry in container inspect and list (tmpfs from --tmpfs is not listed). */
export function mountView(point: MountPoint): Record<string, unknown> | undefined {
  if (point.Type === 'volume') {
    return { Type: 'volume', Name: point.Name, Source: point.Source, Destination: point.Destination, Driver: 'local', Mode: point.Mode, RW: point.RW, Propagation: '' };
  }
  if (point.Type === 'bind') return { Type: 'bind', Source: point.Source, Destination: point.Destination, Mode: point.Mode, RW: point.RW, Propagation: point.Propagation };
  if (point.Origin === 'tmpfs') return undefined;
  return { Type: 'tmpfs', Source: '', Destination: point.Destination, Mode: '', RW: point.RW, Propagation: '' };
}
