import type { ContainerSummary, Port } from '../../client/types.js';
import { HeaderMap } from './formatter.js';
import { ellipsis, goTimeString, humanDuration, humanSince, humanSize, shortId } from './human.js';

export const PS_TABLE = '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

export const PS_HEADERS = new HeaderMap([
  ['ID', 'CONTAINER ID'],
  ['Image', 'IMAGE'],
  ['Command', 'COMMAND'],
  ['CreatedAt', 'CREATED AT'],
  ['RunningFor', 'CREATED'],
  ['Ports', 'PORTS'],
  ['State', 'STATE'],
  ['Status', 'STATUS'],
  ['Size', 'SIZE'],
  ['Names', 'NAMES'],
  ['Labels', 'LABELS'],
  ['Mounts', 'MOUNTS'],
  ['LocalVolumes', 'LOCAL VOLUMES'],
  ['Networks', 'NETWORKS'],
]);

/** docker's DisplayablePorts, without its range grouping: "0.0.0.0:8080->80/tcp, 443/tcp". */
export function displayPorts(ports: readonly Port[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  const sorted = [...ports].sort((a, b) => (a.PublicPort ?? 0) - (b.PublicPort ?? 0) || a.PrivatePort - b.PrivatePort);
  for (const p of sorted) {
    const s = p.IP !== undefined && p.IP !== '' && p.PublicPort
      ? `${p.IP.includes(':') ? `[${p.IP}]` : p.IP}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`
      : p.PublicPort
        ? `${p.PublicPort}->${p.PrivatePort}/${p.Type}`
        : `${p.PrivatePort}/${p.Type}`;
    if (!seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  }
  return out.join(', ');
}

/**
 * The Status text docker's daemon computes ("Up 5 seconds", "Exited (0) 3 seconds ago");
 * used when a daemon leaves Status empty.
 */
export function statusText(
  state: { Status?: string; ExitCode?: number; StartedAt?: string; FinishedAt?: string; Restarting?: boolean; Paused?: boolean },
  nowMs: number = Date.now(),
): string {
  const since = (iso: string | undefined): number => (iso ? (nowMs - Date.parse(iso)) / 1000 : 0);
  switch (state.Status) {
    case 'running':
      return `Up ${humanDuration(since(state.StartedAt))}`;
    case 'paused':
      return `Up ${humanDuration(since(state.StartedAt))} (Paused)`;
    case 'restarting':
      return `Restarting (${state.ExitCode ?? 0}) ${humanDuration(since(state.FinishedAt))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
    case 'exited':
      if (!state.FinishedAt || state.FinishedAt.startsWith('0001-')) return `Exited (${state.ExitCode ?? 0})`;
      return `Exited (${state.ExitCode ?? 0}) ${humanDuration(since(state.FinishedAt))} ago`;
    default:
      return '';
  }
}

/** One `ps` row as docker's ContainerContext exposes it to templates. */
export class ContainerContext {
  constructor(
    private readonly c: ContainerSummary,
    private readonly trunc: boolean,
    private readonly nowMs: number = Date.now(),
  ) {}

  ID(): string {
    return this.trunc ? shortId(this.c.Id) : this.c.Id;
  }
  Names(): string {
    const names = (this.c.Names ?? []).map((n) => n.replace(/^\//, ''));
    // Link aliases ("/other/alias") are hidden unless --no-trunc, like docker.
    return (this.trunc ? names.filter((n) => !n.includes('/')) : names).join(',');
  }
  Image(): string {
    let image = this.c.Image ?? '';
    if (!image) return '<no image>';
    if (this.trunc) {
      if (this.c.ImageID && shortId(this.c.ImageID) === shortId(image)) return shortId(image);
      const at = image.indexOf('@');
      if (at >= 0) image = image.slice(0, at);
    }
    return image;
  }
  Command(): string {
    const cmd = this.c.Command ?? '';
    return JSON.stringify(this.trunc ? ellipsis(cmd, 20) : cmd);
  }
  CreatedAt(): string {
    return goTimeString(new Date((this.c.Created ?? 0) * 1000));
  }
  RunningFor(): string {
    return humanSince(this.c.Created ?? 0, this.nowMs);
  }
  Ports(): string {
    return displayPorts(this.c.Ports ?? []);
  }
  State(): string {
    return this.c.State ?? '';
  }
  Status(): string {
    return this.c.Status || statusText({ Status: this.c.State });
  }
  Size(): string {
    const rw = humanSize(this.c.SizeRw ?? 0, 3);
    return this.c.SizeRootFs ? `${rw} (virtual ${humanSize(this.c.SizeRootFs, 3)})` : rw;
  }
  Labels(): string {
    const labels = this.c.Labels ?? {};
    return Object.keys(labels)
      .map((k) => `${k}=${labels[k]}`)
      .join(',');
  }
  Label(name: string): string {
    return this.c.Labels?.[name] ?? '';
  }
  Mounts(): string {
    return (this.c.Mounts ?? [])
      .map((m) => (m.Name ? (this.trunc ? ellipsis(m.Name, 15) : m.Name) : (m.Source ?? '')))
      .join(',');
  }
  LocalVolumes(): string {
    return String((this.c.Mounts ?? []).filter((m) => m.Driver === 'local').length);
  }
  Networks(): string {
    return Object.keys(this.c.NetworkSettings?.Networks ?? {}).sort().join(',');
  }
  toJSON(): Record<string, string> {
    return {
      Command: this.Command(),
      CreatedAt: this.CreatedAt(),
      ID: this.ID(),
      Image: this.Image(),
      Labels: this.Labels(),
      LocalVolumes: this.LocalVolumes(),
      Mounts: this.Mounts(),
      Names: this.Names(),
      Networks: this.Networks(),
      Ports: this.Ports(),
      RunningFor: this.RunningFor(),
      Size: this.Size(),
      State: this.State(),
      Status: this.Status(),
    };
  }
}
