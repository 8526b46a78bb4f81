/**
 * The concrete stores the data endpoints (commit, diff, export, cp, save/load, volumes,
 * system df) work on. The Daemon carries them as one object so those routes can reach the
 * image and layer stores without widening the Daemon's interfaces for everyone.
 */
import type { ImageStore } from '../image/store.js';
import type { ContainerLayers } from '../snapshot/container-layers.js';
import type { RuntimeDriver } from '../runtime/types.js';
import type { VolumeService } from '../volume/service.js';

export interface DataServices {
  imageStore: ImageStore;
  containerLayers: ContainerLayers;
  runtime: RuntimeDriver;
  volumes: VolumeService;
}
