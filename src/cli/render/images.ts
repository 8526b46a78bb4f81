import type { HistoryItem, ImageSummary } from '../../client/types.js';
import { HeaderMap } from './formatter.js';
import { ellipsis, goTimeString, humanSince, humanSize, rfc3339, shortId } from './human.js';

export const IMAGES_TABLE = '{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
export const IMAGES_TABLE_DIGESTS = '{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';

export const IMAGES_HEADERS = new HeaderMap([
  ['ID', 'IMAGE ID'],
  ['Repository', 'REPOSITORY'],
  ['Tag', 'TAG'],
  ['Digest', 'DIGEST'],
  ['CreatedSince', 'CREATED'],
  ['CreatedAt', 'CREATED AT'],
  ['Size', 'SIZE'],
  ['Containers', 'CONTAINERS'],
  ['VirtualSize', 'SIZE'],
  ['SharedSize', 'SHARED SIZE'],
  ['UniqueSize', 'UNIQUE SIZE'],
]);

/** "repo:tag" -> [repo, tag]; the colon must come after the last slash (registry ports). */
export function splitRepoTag(ref: string): [string, string] {
  const at = ref.indexOf('@');
  if (at >= 0) return [ref.slice(0, at), ref.slice(at + 1)];
  const colon = ref.lastIndexOf(':');
  return colon > ref.lastIndexOf('/') ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, ''];
}

/** One `images` row: an image may appear once per repo:tag, like docker's listing. */
export class ImageContext {
  constructor(
    private readonly img: ImageSummary,
    private readonly repo: string,
    private readonly tag: string,
    private readonly digest: string,
    private readonly trunc: boolean,
    private readonly nowMs: number = Date.now(),
  ) {}
  ID(): string {
    return this.trunc ? shortId(this.img.Id) : this.img.Id;
  }
  Repository(): string {
    return this.repo;
  }
  Tag(): string {
    return this.tag;
  }
  Digest(): string {
    return this.digest;
  }
  CreatedSince(): string {
    return humanSince(this.img.Created, this.nowMs);
  }
  CreatedAt(): string {
    return goTimeString(new Date(this.img.Created * 1000));
  }
  Size(): string {
    return humanSize(this.img.Size, 3);
  }
  VirtualSize(): string {
    return humanSize(this.img.VirtualSize ?? this.img.Size, 3);
  }
  SharedSize(): string {
    return this.img.SharedSize === undefined || this.img.SharedSize < 0 ? 'N/A' : humanSize(this.img.SharedSize, 3);
  }
  UniqueSize(): string {
    return this.img.SharedSize === undefined || this.img.SharedSize < 0 ? 'N/A' : humanSize(this.img.Size - this.img.SharedSize, 3);
  }
  Containers(): string {
    return this.img.Containers === undefined || this.img.Containers < 0 ? 'N/A' : String(this.img.Containers);
  }
  toJSON(): Record<string, string> {
    return {
      Containers: this.Containers(),
      CreatedAt: this.CreatedAt(),
      CreatedSince: this.CreatedSince(),
      Digest: this.Digest(),
      ID: this.ID(),
      Repository: this.Repository(),
      SharedSize: this.SharedSize(),
      Size: this.Size(),
      Tag: this.Tag(),
      UniqueSize: this.UniqueSize(),
      VirtualSize: this.VirtualSize(),
    };
  }
}

/** Expands summaries into rows: one per repo:tag, digest-only repos, or a single <none> row. */
export function imageRows(images: readonly ImageSummary[], trunc: boolean, nowMs: number = Date.now()): ImageContext[] {
  const rows: ImageContext[] = [];
  for (const img of images) {
    const digests = new Map<string, string>();
    for (const rd of img.RepoDigests ?? []) {
      const [repo, digest] = splitRepoTag(rd);
      if (repo !== '<none>') digests.set(repo, digest);
    }
    const tagged = new Set<string>();
    for (const rt of img.RepoTags ?? []) {
      if (rt === '<none>:<none>') continue;
      const [repo, tag] = splitRepoTag(rt);
      tagged.add(repo);
      rows.push(new ImageContext(img, repo, tag || '<none>', digests.get(repo) ?? '<none>', trunc, nowMs));
    }
    for (const [repo, digest] of digests) {
      if (!tagged.has(repo)) rows.push(new ImageContext(img, repo, '<none>', digest, trunc, nowMs));
    }
    if (!tagged.size && !digests.size) rows.push(new ImageContext(img, '<none>', '<none>', '<none>', trunc, nowMs));
  }
  return rows;
}

export const HISTORY_TABLE = '{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';

export const HISTORY_HEADERS = new HeaderMap([
  ['ID', 'IMAGE'],
  ['CreatedSince', 'CREATED'],
  ['CreatedAt', 'CREATED AT'],
  ['CreatedBy', 'CREATED BY'],
  ['Size', 'SIZE'],
  ['Comment', 'COMMENT'],
]);

export class HistoryContext {
  constructor(
    private readonly h: HistoryItem,
    private readonly trunc: boolean,
    private readonly human: boolean,
    private readonly nowMs: number = Date.now(),
  ) {}
  ID(): string {
    return this.trunc && this.h.Id !== '<missing>' ? shortId(this.h.Id) : this.h.Id;
  }
  CreatedAt(): string {
    return rfc3339(new Date(this.h.Created * 1000));
  }
  CreatedSince(): string {
    return this.human ? humanSince(this.h.Created, this.nowMs) : this.CreatedAt();
  }
  CreatedBy(): string {
    const by = (this.h.CreatedBy ?? '').replace(/\t/g, ' ');
    return this.trunc ? ellipsis(by, 45) : by;
  }
  Size(): string {
    return this.human ? humanSize(this.h.Size, 3) : String(this.h.Size);
  }
  Comment(): string {
    return this.h.Comment ?? '';
  }
  toJSON(): Record<string, string> {
    return {
      Comment: this.Comment(),
      CreatedAt: this.CreatedAt(),
      CreatedBy: this.CreatedBy(),
      CreatedSince: this.CreatedSince(),
      ID: this.ID(),
      Size: this.Size(),
    };
  }
}
