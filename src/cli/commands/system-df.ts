/**
 * `berth system df [-v] [--format]`: GET /system/df rendered as docker renders it. The summary's
 * totals and reclaimable space are worked out here from the answer, with docker's arithmetic
 * (an image's unique bytes are in use while a container uses it; shared bytes count as free).
 */
import type { ContainerSummary, ImageSummary } from '../../client/types.js';
import type { CommandSpec } from '../command.js';
import { FlagError } from '../flags.js';
import { HeaderMap, renderList } from '../render/formatter.js';
import { ContainerContext, PS_HEADERS } from '../render/containers.js';
import { IMAGES_HEADERS, ImageContext, splitRepoTag } from '../render/images.js';
import { humanSince, humanSize, shortId } from '../render/human.js';
import { callJson } from './object-commands.js';

interface VolumeUsage {
  Name: string;
  UsageData?: { Size: number; RefCount: number } | null;
}

interface BuildCacheRecord {
  ID: string;
  Type: string;
  Description?: string;
  InUse: boolean;
  Shared: boolean;
  Size: number;
  CreatedAt: string;
  LastUsedAt?: string | null;
  UsageCount: number;
}

export interface DiskUsageAnswer {
  LayersSize?: number;
  Images?: ImageSummary[] | null;
  Containers?: ContainerSummary[] | null;
  Volumes?: VolumeUsage[] | null;
  BuildCache?: BuildCacheRecord[] | null;
}

const SUMMARY_TABLE = '{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';
const SUMMARY_HEADERS = new HeaderMap([
  ['Type', 'TYPE'],
  ['TotalCount', 'TOTAL'],
  ['Active', 'ACTIVE'],
  ['Size', 'SIZE'],
  ['Reclaimable', 'RECLAIMABLE'],
]);
const IMAGE_TABLE = '{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}';
const CONTAINER_TABLE = '{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}';
const VOLUME_TABLE = '{{.Name}}\t{{.Links}}\t{{.Size}}';
const VOLUME_HEADERS = new HeaderMap([
  ['Name', 'VOLUME NAME'],
  ['Links', 'LINKS'],
  ['Size', 'SIZE'],
]);
const CACHE_TABLE = '{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}';
const CACHE_HEADERS = new HeaderMap([
  ['ID', 'CACHE ID'],
  ['CacheType', 'CACHE TYPE'],
  ['Size', 'SIZE'],
  ['CreatedSince', 'CREATED'],
  ['LastUsedSince', 'LAST USED'],
  ['UsageCount', 'USAGE'],
  ['Shared', 'SHARED'],
]);

interface SummaryRow {
  Type: string;
  TotalCount: string;
  Active: string;
  Size: string;
  Reclaimable: string;
}

function withPercent(reclaimable: number, total: number): string {
  return total > 0 ? `${humanSize(reclaimable)} (${Math.floor((reclaimable * 100) / total)}%)` : humanSize(reclaimable);
}

const isActive = (state: string | undefined): boolean => (state ?? '').includes('running') || state === 'paused' || state === 'restarting';

/** The four summary rows, each from its own part of the answer. */
export function summaryRows(du: DiskUsageAnswer): SummaryRow[] {
  const images = du.Images ?? [];
  const layers = du.LayersSize ?? 0;
  let used = 0;
  for (const image of images) {
    if ((image.Containers ?? 0) > 0 && (image.SharedSize ?? -1) >= 0 && image.Size >= 0) used += image.Size - image.SharedSize!;
  }
  const containers = du.Containers ?? [];
  const containerBytes = containers.reduce((sum, c) => sum + (c.SizeRw ?? 0), 0);
  const idleContainerBytes = containers.filter((c) => !isActive(c.State)).reduce((sum, c) => sum + (c.SizeRw ?? 0), 0);
  const volumes = du.Volumes ?? [];
  const sized = volumes.filter((v) => v.UsageData && v.UsageData.Size >= 0);
  const volumeBytes = sized.reduce((sum, v) => sum + v.UsageData!.Size, 0);
  const idleVolumeBytes = sized.filter((v) => v.UsageData!.RefCount === 0).reduce((sum, v) => sum + v.UsageData!.Size, 0);
  const cache = du.BuildCache ?? [];
  const cacheBytes = cache.filter((c) => !c.Shared).reduce((sum, c) => sum + c.Size, 0);
  const idleCacheBytes = cache.filter((c) => !c.Shared && !c.InUse).reduce((sum, c) => sum + c.Size, 0);
  return [
    {
      Type: 'Images',
      TotalCount: String(images.length),
      Active: String(images.filter((i) => (i.Containers ?? 0) > 0).length),
      Size: humanSize(layers),
      Reclaimable: withPercent(layers - used, layers),
    },
    {
      Type: 'Containers',
      TotalCount: String(containers.length),
      Active: String(containers.filter((c) => isActive(c.State)).length),
      Size: humanSize(containerBytes),
      Reclaimable: withPercent(idleContainerBytes, containerBytes),
    },
    {
      Type: 'Local Volumes',
      TotalCount: String(volumes.length),
      Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length),
      Size: humanSize(volumeBytes),
      Reclaimable: withPercent(idleVolumeBytes, volumeBytes),
    },
    {
      Type: 'Build Cache',
      TotalCount: String(cache.length),
      Active: String(cache.filter((c) => c.InUse).length),
      Size: humanSize(cacheBytes),
      Reclaimable: humanSize(idleCacheBytes),
    },
  ];
}

class VolumeRow {
  constructor(private readonly v: VolumeUsage) {}
  Name(): string {
    return this.v.Name;
  }
  Links(): string {
    return this.v.UsageData ? String(this.v.UsageData.RefCount) : 'N/A';
  }
  Size(): string {
    return this.v.UsageData ? humanSize(this.v.UsageData.Size) : 'N/A';
  }
}

class CacheRow {
  constructor(
    private readonly c: BuildCacheRecord,
    private readonly nowMs: number,
  ) {}
  ID(): string {
    return shortId(this.c.ID);
  }
  CacheType(): string {
    return this.c.Type;
  }
  Size(): string {
    return humanSize(this.c.Size, 3);
  }
  CreatedSince(): string {
    return humanSince(Date.parse(this.c.CreatedAt) / 1000, this.nowMs);
  }
  LastUsedSince(): string {
    return this.c.LastUsedAt ? humanSince(Date.parse(this.c.LastUsedAt) / 1000, this.nowMs) : '';
  }
  UsageCount(): string {
    return String(this.c.UsageCount);
  }
  Shared(): string {
    return String(this.c.Shared);
  }
}

/** The -v tables: images (first tag only), containers (no virtual size), volumes, build cache. */
export function verboseText(du: DiskUsageAnswer, nowMs = Date.now()): string {
  const imageRows = (du.Images ?? []).map((image) => {
    const first = image.RepoTags?.[0];
    const [repo, tag] = first && first !== '<none>:<none>' ? splitRepoTag(first) : ['<none>', '<none>'];
    return new ImageContext(image, repo, tag || '<none>', '', true, nowMs);
  });
  const containerRows = (du.Containers ?? []).map((c) => new ContainerContext({ ...c, SizeRootFs: 0 }, true, nowMs));
  const cache = [...(du.BuildCache ?? [])].sort(
    (a, b) => Number(a.Shared) - Number(b.Shared) || Date.parse(b.LastUsedAt ?? b.CreatedAt) - Date.parse(a.LastUsedAt ?? a.CreatedAt),
  );
  const cacheBytes = cache.filter((c) => !c.Shared).reduce((sum, c) => sum + c.Size, 0);
  return [
    'Images space usage:\n\n',
    renderList(`table ${IMAGE_TABLE}`, IMAGE_TABLE, imageRows, IMAGES_HEADERS),
    '\nContainers space usage:\n\n',
    renderList(`table ${CONTAINER_TABLE}`, CONTAINER_TABLE, containerRows, PS_HEADERS),
    '\nLocal Volumes space usage:\n\n',
    renderList(`table ${VOLUME_TABLE}`, VOLUME_TABLE, (du.Volumes ?? []).map((v) => new VolumeRow(v)), VOLUME_HEADERS),
    `\nBuild cache usage: ${humanSize(cacheBytes)}\n\n`,
    renderList(`table ${CACHE_TABLE}`, CACHE_TABLE, cache.map((c) => new CacheRow(c, nowMs)), CACHE_HEADERS),
  ].join('');
}

export const df: CommandSpec = {
  use: 'df [OPTIONS]',
  short: 'Show berth disk usage',
  flags: [
    { name: 'format', type: 'string', help: 'Format output using a custom template' },
    { name: 'verbose', short: 'v', type: 'bool', help: 'Show detailed information on space usage' },
  ],
  args: { max: 0 },
  async run(ctx, args) {
    const format = args.string('format') ?? '';
    const verbose = args.bool('verbose');
    if (verbose && format && format !== 'table') throw new FlagError('--format with --verbose is not supported by berth; use one of them');
    const du = await callJson<DiskUsageAnswer>(ctx, 'GET', '/system/df');
    if (verbose) {
      ctx.stdout.write(verboseText(du));
      return 0;
    }
    const chosen = !format || format === 'table' ? `table ${SUMMARY_TABLE}` : format;
    ctx.stdout.write(renderList(chosen, SUMMARY_TABLE, summaryRows(du), SUMMARY_HEADERS));
    return 0;
  },
};
