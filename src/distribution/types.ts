/** What distribution needs from the image store (ImageStore provides all of it). */
import type { ApplyLayerResult, StagedLayerHandle } from '../snapshot/layer-store.js';
import type { ImageRecord } from '../image/types.js';

export interface DistributionImages {
  readonly layers: { exists(chainId: string): boolean };
  list(): ImageRecord[];
  get(id: string): ImageRecord | undefined;
  tryResolve(refOrId: string): ImageRecord | undefined;
  resolve(refOrId: string): ImageRecord;
  tag(refOrId: string, newRef: string): Promise<void>;
  applyLayer(parentChainId: string | undefined, tar: AsyncIterable<Uint8Array | string>, options?: { expectedDiffId?: string }): Promise<ApplyLayerResult>;
  /** Unpacks a layer privately (a pull does it while the layer downloads); commit() publishes it. */
  stageLayer(tar: AsyncIterable<Uint8Array | string>): Promise<StagedLayerHandle>;
  createImageFromConfigBytes(raw: Buffer): Promise<ImageRecord>;
  addDigestReference(canonicalRef: string, id: string): Promise<void>;
  configBytes(id: string): Promise<Buffer>;
  layerTarPath(diffId: string): string;
}

export function isDistributionImages(value: unknown): value is DistributionImages {
  const v = value as Partial<DistributionImages> | undefined;
  return typeof v?.applyLayer === 'function' && typeof v.stageLayer === 'function' && typeof v.createImageFromConfigBytes === 'function' && typeof v.layerTarPath === 'function';
}

export interface DistributionConfig {
  insecureRegistries: string[];
  registryMirrors: string[];
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** Node's process.arch in Go's GOARCH words (what manifests lists name). */
export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: 'linux', architecture: arch };
}

/** "linux/arm64/v8" -> Platform. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant] = text.toLowerCase().split('/');
  if (!os) return hostPlatform();
  const p: Platform = { os, architecture: architecture || hostPlatform().architecture };
  if (variant) p.variant = variant;
  return p;
}

/** A tiny counting semaphore: at most `limit` transfers at once. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  /** True when the work will have to wait for a slot. */
  get full(): boolean {
    return this.active >= this.limit;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await work();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
