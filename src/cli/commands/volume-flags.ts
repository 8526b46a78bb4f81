/**
 * run/create's storage flags, turned into the create body the way the docker CLI does:
 * `-v src:dst` -> HostConfig.Binds, `-v /dst` -> Config.Volumes, `--mount` -> HostConfig.Mounts
 * (parsed here, CSV as docker's), `--tmpfs` -> HostConfig.Tmpfs, `--volumes-from` -> VolumesFrom.
 */
import type { FlagSpec, ParsedArgs } from '../flags.js';
import { FlagError } from '../flags.js';

export const VOLUME_FLAGS: FlagSpec[] = [
  { name: 'mount', type: 'stringArray', typeName: 'mount', help: 'Attach a filesystem mount to the container' },
  { name: 'tmpfs', type: 'stringArray', typeName: 'list', help: 'Mount a tmpfs directory' },
  { name: 'volume', short: 'v', type: 'stringArray', typeName: 'list', help: 'Bind mount a volume' },
  { name: 'volumes-from', type: 'stringArray', typeName: 'list', help: 'Mount volumes from the specified container(s)' },
];

export interface MountRequest {
  Type: string;
  Source?: string;
  Target?: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Record<string, string>; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

function parseBoolValue(key: string, value: string | undefined, spec: string): boolean {
  if (value === undefined) return true;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw new FlagError(`invalid argument "${spec}" for "--mount" flag: invalid value for ${key}: ${value}`);
}

/** Sizes as docker's RAMInBytes reads them: 64m, 1g, 512k, plain bytes. */
export function parseRamBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new Error(`invalid size: '${text}'`);
  const unit = 'bkmgtp'.indexOf((m[2] || 'b').toLowerCase());
  return Math.floor(Number(m[1]) * 1024 ** unit);
}

/** One --mount value: "type=bind,source=/a,target=/b,readonly". */
export function parseMountFlag(spec: string): MountRequest {
  const mount: MountRequest = { Type: 'volume' };
  const bad = (why: string) => new FlagError(`invalid argument "${spec}" for "--mount" flag: ${why}`);
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? undefined : field.slice(eq + 1);
    const need = (): string => {
      if (value === undefined) throw bad(`invalid field '${field}' must be a key=value pair`);
      return value;
    };
    switch (key) {
      case 'type':
        mount.Type = need();
        break;
      case 'source':
      case 'src':
        mount.Source = need();
        break;
      case 'target':
      case 'dst':
      case 'destination':
        mount.Target = need();
        break;
      case 'readonly':
      case 'ro':
        mount.ReadOnly = parseBoolValue(key, value, spec);
        break;
      case 'bind-propagation':
        mount.BindOptions = { ...mount.BindOptions, Propagation: need() };
        break;
      case 'volume-nocopy':
        mount.VolumeOptions = { ...mount.VolumeOptions, NoCopy: parseBoolValue(key, value, spec) };
        break;
      case 'volume-label': {
        const [k, ...v] = need().split('=');
        mount.VolumeOptions = { ...mount.VolumeOptions, Labels: { ...mount.VolumeOptions?.Labels, [k!]: v.join('=') } };
        break;
      }
      case 'volume-driver':
        mount.VolumeOptions = { ...mount.VolumeOptions, DriverConfig: { ...mount.VolumeOptions?.DriverConfig, Name: need() } };
        break;
      case 'volume-opt': {
        const [k, ...v] = need().split('=');
        const driver = mount.VolumeOptions?.DriverConfig ?? {};
        mount.VolumeOptions = { ...mount.VolumeOptions, DriverConfig: { ...driver, Options: { ...driver.Options, [k!]: v.join('=') } } };
        break;
      }
      case 'tmpfs-size':
        mount.TmpfsOptions = { ...mount.TmpfsOptions, SizeBytes: parseRamBytes(need()) };
        break;
      case 'tmpfs-mode':
        mount.TmpfsOptions = { ...mount.TmpfsOptions, Mode: parseInt(need(), 8) };
        break;
      case 'consistency':
        break;
      default:
        throw bad(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (!mount.Target) throw bad('target is required');
  return mount;
}

/** Adds the storage flags to a create body. */
export function applyVolumeFlags(args: ParsedArgs, body: Record<string, unknown>): void {
  const hostConfig = (body.HostConfig ??= {}) as Record<string, unknown>;
  const binds: string[] = [];
  const volumes: Record<string, Record<string, never>> = {};
  for (const v of args.list('volume')) {
    // "src:dst..." is a bind or a named volume; a lone path is an anonymous volume.
    const colon = v.indexOf(':');
    if (colon > 0) binds.push(v);
    else if (v === '') throw new FlagError(`invalid argument "" for "-v, --volume" flag: invalid empty volume spec`);
    else volumes[v] = {};
  }
  if (binds.length) hostConfig.Binds = binds;
  if (Object.keys(volumes).length) body.Volumes = volumes;
  const mounts = args.list('mount').map(parseMountFlag);
  if (mounts.length) hostConfig.Mounts = mounts;
  const tmpfs: Record<string, string> = {};
  for (const t of args.list('tmpfs')) {
    const colon = t.indexOf(':');
    tmpfs[colon < 0 ? t : t.slice(0, colon)] = colon < 0 ? '' : t.slice(colon + 1);
  }
  if (Object.keys(tmpfs).length) hostConfig.Tmpfs = tmpfs;
  const from = args.list('volumes-from');
  if (from.length) hostConfig.VolumesFrom = from;
}
