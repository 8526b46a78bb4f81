/**
 * The Daemon wires the subsystems together and holds what spans them: the event bus, the
 * image <-> container checks (an image in use can't be removed), and /info.
 */
import os from 'node:os';
import type { Readable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ImageDeleteItem, ImageRecord, ImageService, ImportOptions } from '../image/types.js';
import type { ContainerLayer, ContainerLayerService } from '../snapshot/types.js';
import type { ContainerManager } from '../container/manager.js';
import type { ContainerRecord } from '../container/model.js';
import { EventBus } from './events.js';
import type { DaemonConfig } from './config.js';
import type { DataServices } from './data.js';
import type { NetworkService } from '../network/service.js';
import type { NetworkHook } from '../network/hook.js';
import type { InteractiveServices } from '../container/interactive.js';
import { API_VERSION, BERTH_VERSION } from '../api/version.js';
import { isActive } from '../container/model.js';
import { shortId } from '../util/ids.js';

export interface DaemonParts {
  config: DaemonConfig;
  events: EventBus;
  images: ImageService;
  layers: ContainerLayerService;
  containers: ContainerManager;
  /** Unpacked size of each of an image's layers, bottom first. */
  layerSizes: (image: ImageRecord) => number[];
  /** The layer a container's files live in, as paths (for inspect's GraphDriver). */
  layerOf: (containerId: string) => ContainerLayer;
  id: string;
  /** Networks, and the container hook that attaches containers to them. */
  networks?: NetworkService;
  networkHook?: NetworkHook;
  /** Concrete stores for commit, cp, diff, export, save/load, volumes and df. */
  data?: DataServices;
  /** Attach sessions, exec instances and terminal resize. */
  interactive?: InteractiveServices;
}

export class Daemon {
  readonly config: DaemonConfig;
  readonly events: EventBus;
  readonly images: ImageService;
  readonly containers: ContainerManager;
  private readonly layers: ContainerLayerService;
  readonly layerSizes: (image: ImageRecord) => number[];
  readonly layerOf: (containerId: string) => ContainerLayer;
  readonly id: string;
  readonly networks?: NetworkService;
  readonly networkHook?: NetworkHook;
  readonly data?: DataServices;
  readonly interactive?: InteractiveServices;

  constructor(parts: DaemonParts) {
    this.config = parts.config;
    this.events = parts.events;
    this.images = parts.images;
    this.containers = parts.containers;
    this.layers = parts.layers;
    this.layerSizes = parts.layerSizes;
    this.layerOf = parts.layerOf;
    this.id = parts.id;
    this.networks = parts.networks;
    this.networkHook = parts.networkHook;
    this.data = parts.data;
    this.interactive = parts.interactive;
  }

  async containerSize(record: ContainerRecord): Promise<{ rw: number; rootFs: number }> {
    const rw = await this.layers.sizeRw(record.id).catch(() => 0);
    const image = this.images.tryResolve(record.image);
    return { rw, rootFs: rw + (image?.size ?? 0) };
  }

  async importImage(tar: Readable, options: ImportOptions): Promise<ImageRecord> {
    const image = await this.images.importRootfs(tar, options);
    this.events.publish('image', 'import', image.id, { name: image.repoTags[0] ?? image.id });
    return image;
  }

  async removeImage(ref: string, force: boolean, noprune: boolean): Promise<ImageDeleteItem[]> {
    const items = await this.images.remove(ref, {
      force,
      noprune,
      isInUse: (imageId) => this.containers.imageUsage(imageId),
    });
    for (const item of items) {
      if ('Untagged' in item) this.events.publish('image', 'untag', item.Untagged, { name: item.Untagged });
      else this.events.publish('image', 'delete', item.Deleted, { name: item.Deleted });
    }
    return items;
  }

  async pruneImages(selected: (image: ImageRecord) => boolean): Promise<{ ImagesDeleted: ImageDeleteItem[] | null; SpaceReclaimed: number }> {
    const deleted: ImageDeleteItem[] = [];
    // Reclaimed space is what left the layer store: an image's size counts layers it shares.
    const before = this.unpackedLayerBytes();
    for (const image of this.images.list()) {
      if (!selected(image) || this.containers.imageUsage(image.id).inUse) continue;
      // Docker prunes from the top: an image others are built on goes with its last child.
      if (this.data?.imageStore.children(image.id).length) continue;
      try {
        const items = await this.removeImage(image.id, true, false);
        deleted.push(...items);
      } catch {
        // An image that became referenced meanwhile is simply kept.
      }
    }
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: Math.max(0, before - this.unpackedLayerBytes()) };
  }

  /** Bytes of all unpacked image layers (0 when the daemon runs without its data services). */
  private unpackedLayerBytes(): number {
    return this.data?.imageStore.layers.list().reduce((sum, layer) => sum + layer.size, 0) ?? 0;
  }

  async info(): Promise<Record<string, unknown>> {
    const all = this.containers.store.all();
    const running = all.filter((c) => c.state.status === 'running' || c.state.status === 'restarting').length;
    const paused = all.filter((c) => c.state.status === 'paused').length;
    let osName = 'Linux';
    try {
      const release = await readFile('/etc/os-release', 'utf8');
      osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(release)?.[1] ?? osName;
    } catch {
      // keep the generic name
    }
    return {
      ID: this.id,
      Containers: all.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: all.filter((c) => !isActive(c.state.status)).length,
      Images: this.images.list().length,
      Driver: 'overlay2',
      DriverStatus: [
        ['Backing Filesystem', 'extfs'],
        ['Supports d_type', 'true'],
        ['Using metacopy', 'false'],
        ['Native Overlay Diff', 'true'],
      ],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null', ...(this.config.clusterStore ? ['overlay'] : [])], Authorization: null, Log: ['k8s-file'] },
      MemoryLimit: true,
      SwapLimit: true,
      KernelMemory: false,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      BridgeNfIptables: true,
      BridgeNfIp6tables: true,
      Debug: this.config.debug,
      NFd: 0,
      OomKillDisable: true,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'k8s-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: '1',
      NEventsListener: 0,
      KernelVersion: os.release(),
      OperatingSystem: osName,
      OSVersion: '',
      OSType: 'linux',
      Architecture: os.machine(),
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: { InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {}, Mirrors: [] },
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: this.config.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: os.hostname(),
      Labels: this.config.labels,
      ExperimentalBuild: false,
      ServerVersion: BERTH_VERSION,
      Runtimes: { runc: { path: this.config.runcPath } },
      DefaultRuntime: 'runc',
      // dockerd 20.10 still reported its classic cluster settings here.
      ClusterStore: this.config.clusterStore,
      ClusterAdvertise: this.config.clusterAdvertise,
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: '',
      InitBinary: '',
      ContainerdCommit: { ID: '', Expected: '' },
      RuncCommit: { ID: '', Expected: '' },
      InitCommit: { ID: '', Expected: '' },
      SecurityOptions: ['name=seccomp,profile=builtin'],
      Warnings: [],
      ApiVersion: API_VERSION,
      // The per-container monitor binary: berth-monitor, or conmon when configured.
      BerthMonitor: basename(this.config.conmonPath),
      ShortId: shortId(this.id),
    };
  }
}
