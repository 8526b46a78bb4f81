/**
 * Builds a Daemon from its parts. This is the one place that knows the concrete classes; the
 * rest of the daemon talks to interfaces.
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { atomicWriteFile } from '../util/atomic.js';
import { ImageStore } from '../image/store.js';
import { ContainerLayers } from '../snapshot/container-layers.js';
import { RuncDriver } from '../runtime/driver.js';
import { buildSpec } from '../runtime/spec.js';
import { sealedRuntimePath } from '../runtime/runtime-binary.js';
import { resolveUser } from '../runtime/user.js';
import { classifyStartError } from '../runtime/start-error.js';
import { runcExecProbe } from '../runtime/probe.js';
import { runcUpdate } from '../runtime/update.js';
import { ContainerStore } from '../container/store.js';
import { ContainerManager } from '../container/manager.js';
import { AttachService } from '../container/attach.js';
import { ExecService } from '../container/exec.js';
import { VolumeStore } from '../volume/store.js';
import { VolumeService } from '../volume/service.js';
import { NetworkService } from '../network/service.js';
import { NetworkHook } from '../network/hook.js';
import { EventBus } from './events.js';
import { Daemon } from './daemon.js';
import type { DaemonConfig } from './config.js';

/** A stable engine ID, kept in the data-root like dockerd's engine-id. */
async function engineId(dataRoot: string): Promise<string> {
  const path = join(dataRoot, 'engine-id');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const id = randomBytes(32).toString('hex');
    await atomicWriteFile(path, id);
    return id;
  }
}

export async function openDaemon(config: DaemonConfig, debug: (message: string) => void): Promise<Daemon> {
  const events = new EventBus();
  const imageRoot = join(config.dataRoot, 'image');
  const images = await ImageStore.open(imageRoot);
  const layers = new ContainerLayers(join(config.dataRoot, 'overlay'));
  const runtime = new RuncDriver({ execRoot: config.execRoot, runcPath: sealedRuntimePath(config.runcPath, config.execRoot, debug), conmonPath: config.conmonPath });
  const store = await ContainerStore.open(join(config.dataRoot, 'containers'));
  const bundleRoot = join(config.execRoot, 'bundles');
  const attach = new AttachService((id) => runtime.attachSocketPath(id));
  const execs = new ExecService({
    store,
    conmonPath: runtime.conmonPath,
    runcPath: runtime.runcPath,
    runcRoot: runtime.runcRoot,
    execRoot: config.execRoot,
    bundleDir: (id) => join(bundleRoot, id),
    resolveUser: (rootfs, user) => resolveUser(rootfs, user),
    debug,
  });
  const volumeStore = await VolumeStore.open(config.dataRoot);
  const volumes = new VolumeService({ store: volumeStore, containers: () => store.all(), findContainer: (name) => store.get(name), debug });
  const networks = await NetworkService.open(config, store, debug);
  const networkHook = new NetworkHook(networks);
  const containers = new ContainerManager({
    hooks: [networkHook, volumes, attach, execs.hook],
    store,
    images,
    layers,
    runtime,
    buildSpec: (input) => buildSpec(input),
    resolveUser: (rootfs, user) => resolveUser(rootfs, user),
    classifyStartError,
    events,
    bundleRoot,
    debug,
    probe: (id, argv, env, timeoutMs) => runcExecProbe(runtime.runcPath, runtime.runcRoot, id, argv, env, timeoutMs),
    updateResources: (id, resources) => runcUpdate(runtime.runcPath, runtime.runcRoot, id, resources),
    init: { byDefault: config.init, path: config.initPath },
  });
  await containers.recover();
  await networks.start();
  await networkHook.recoverRunning();
  return new Daemon({
    config,
    events,
    images,
    layers,
    containers,
    layerSizes: (image) => images.layerSizes(image.id),
    layerOf: (id) => layers.paths(id),
    id: await engineId(config.dataRoot),
    networks,
    networkHook,
    interactive: { attach, execs, controlFifo: (id) => runtime.controlFifoPath(id) },
    data: { imageStore: images, containerLayers: layers, runtime, volumes },
  });
}
