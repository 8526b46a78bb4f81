/** berthd's distribution service: pull, push, login and search, sharing config and layer records. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuthConfig } from './auth.js';
import { LayerDigests } from './layer-digests.js';
import { login, type LoginResult } from './login.js';
import type { ProgressStream } from './progress.js';
import { pull, type PullRequest } from './pull.js';
import { push, type PushRequest } from './push.js';
import { search, type SearchResult } from './search.js';
import type { DistributionConfig, DistributionImages } from './types.js';

export interface DistributionEvents {
  pulled(ref: string): void;
  pushed(ref: string): void;
}

export class Distribution {
  private constructor(
    private readonly images: DistributionImages,
    readonly config: DistributionConfig,
    private readonly layerDigests: LayerDigests,
    private readonly tmpDir: string,
    private readonly events: DistributionEvents,
  ) {}

  /** Opens the layer records under DATA-ROOT/distribution and clears downloads a crash left. */
  static async open(dataRoot: string, images: DistributionImages, config: DistributionConfig, events: DistributionEvents): Promise<Distribution> {
    const tmpDir = join(dataRoot, 'distribution', 'tmp');
    await rm(tmpDir, { recursive: true, force: true });
    return new Distribution(images, config, await LayerDigests.open(dataRoot), tmpDir, events);
  }

  pull(req: PullRequest, progress: ProgressStream): Promise<void> {
    return pull(
      { images: this.images, config: this.config, layerDigests: this.layerDigests, onPulled: (ref) => this.events.pulled(ref) },
      req,
      progress,
    );
  }

  push(req: PushRequest, progress: ProgressStream): Promise<void> {
    return push(
      { images: this.images, config: this.config, layerDigests: this.layerDigests, tmpDir: this.tmpDir, onPushed: (ref) => this.events.pushed(ref) },
      req,
      progress,
    );
  }

  login(auth: AuthConfig): Promise<LoginResult> {
    return login(this.config, auth);
  }

  search(term: string, limit: number, auth: AuthConfig): Promise<SearchResult[]> {
    return search(this.config, term, limit, auth);
  }
}
