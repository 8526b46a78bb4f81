/**
 * `docker commit`: the container's changes become a new layer on top of its image, and a new
 * image config records the container's config, the --change instructions and one more
 * history entry. Follows moby's CreateImageFromContainer / NewChildImage.
 */
import { applyChanges } from '../image/changes.js';
import { goTimeString } from '../image/config-json.js';
import type { ApplyLayerResult } from '../snapshot/layer-store.js';
import type { ImageConfig, ImageContainerConfig, ImageRecord } from '../image/types.js';
import { readUpperDir, upperDirToLayerTar } from '../snapshot/diff.js';
import { DEFAULT_DOCKER_VERSION } from '../image/store.js';
import { conflict, invalidParameter } from '../util/errors.js';
import type { ContainerRecord } from './model.js';

/** sha256 of an empty tar (1024 zero bytes): docker adds no layer for it. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

export interface CommitDeps {
  images: {
    get(id: string): ImageRecord | undefined;
    applyLayer(parentChainId: string | undefined, tar: AsyncIterable<Uint8Array | string>, options?: { expectedDiffId?: string }): Promise<ApplyLayerResult>;
    createImage(config: ImageConfig, options?: { parent?: string }): Promise<ImageRecord>;
    tag(refOrId: string, newRef: string): Promise<void>;
    resolve(refOrId: string): ImageRecord;
  };
  upperDirOf: (containerId: string) => string;
  runtime: { pause(id: string): Promise<void>; resume(id: string): Promise<void> };
  dockerVersion?: string;
}

export interface CommitOptions {
  repo?: string;
  tag?: string;
  author?: string;
  comment?: string;
  /** Dockerfile instructions (CMD, ENV, ...) applied to the new config. */
  changes?: string[];
  /** Freeze a running container while its changes are read (default true, as docker). */
  pause?: boolean;
  /** A container Config from the request; absent means the container's own config. */
  config?: Partial<ImageContainerConfig>;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/** moby's merge(userConf, imageConf): fill what the user left empty from the container's config. */
export function mergeCommitConfig(user: ImageContainerConfig, base: ImageContainerConfig): ImageContainerConfig {
  const out: ImageContainerConfig = { ...user };
  if (!out.User) out.User = base.User ?? '';
  if (!out.ExposedPorts || Object.keys(out.ExposedPorts).length === 0) out.ExposedPorts = base.ExposedPorts;
  else out.ExposedPorts = { ...(base.ExposedPorts ?? {}), ...out.ExposedPorts };
  if (!out.Env || out.Env.length === 0) out.Env = base.Env ?? null;
  else {
    const have = new Set(out.Env.map(envKey));
    out.Env = [...out.Env, ...(base.Env ?? []).filter((e) => !have.has(envKey(e)))];
  }
  out.Labels = { ...(base.Labels ?? {}), ...(out.Labels ?? {}) };
  if (!out.Entrypoint || out.Entrypoint.length === 0) {
    if (!out.Cmd || out.Cmd.length === 0) {
      out.Cmd = base.Cmd ?? null;
      if (base.ArgsEscaped !== undefined) out.ArgsEscaped = base.ArgsEscaped;
    }
    if (out.Entrypoint === undefined || out.Entrypoint === null) out.Entrypoint = base.Entrypoint ?? null;
  }
  if (!out.Healthcheck && base.Healthcheck) out.Healthcheck = base.Healthcheck;
  if (!out.WorkingDir) out.WorkingDir = base.WorkingDir ?? '';
  if (!out.Volumes || Object.keys(out.Volumes).length === 0) out.Volumes = base.Volumes ?? null;
  else out.Volumes = { ...(base.Volumes ?? {}), ...out.Volumes };
  if (!out.StopSignal && base.StopSignal) out.StopSignal = base.StopSignal;
  return out;
}

/** What docker's container record keeps as Config: the image-config fields only. */
function containerConfigOf(record: ContainerRecord): ImageContainerConfig {
  return JSON.parse(JSON.stringify(record.config)) as ImageContainerConfig;
}

export async function commitContainer(deps: CommitDeps, record: ContainerRecord, options: CommitOptions = {}): Promise<ImageRecord> {
  if (options.tag && !options.repo) throw invalidParameter('tag is specified without a repository');
  if (record.state.status === 'removing' || record.state.status === 'dead') {
    throw conflict(`You cannot commit container ${record.id} which is being removed`);
  }
  const containerConfig = containerConfigOf(record);
  // Bad --change lines are refused before any work is done.
  const userConfig = applyChanges(options.config ? { ...options.config } : containerConfig, options.changes ?? []);
  const newConfig = mergeCommitConfig(userConfig, containerConfig);
  const parent = deps.images.get(record.image);
  if (!parent) throw conflict(`the image of container ${record.name} (${record.image}) no longer exists`);

  const pause = options.pause !== false && record.state.status === 'running';
  if (pause) await deps.runtime.pause(record.id);
  let layer: ApplyLayerResult | undefined;
  try {
    const upperDir = deps.upperDirOf(record.id);
    // No changes: docker's tar is then the empty tar, and it records an empty_layer history
    // entry instead of a layer. Checking first keeps an unused empty layer out of the store.
    if ((await readUpperDir(upperDir)).length > 0) {
      const parentChain = parent.chainIds[parent.chainIds.length - 1];
      layer = await deps.images.applyLayer(parentChain, upperDirToLayerTar(upperDir));
    }
  } finally {
    if (pause) await deps.runtime.resume(record.id).catch(() => undefined);
  }

  const emptyLayer = layer === undefined || layer.diffId === EMPTY_LAYER_DIFF_ID;
  const created = goTimeString(new Date());
  const history = [...(parent.config.history ?? [])];
  const entry: NonNullable<ImageConfig['history']>[number] = { created, created_by: (containerConfig.Cmd ?? []).join(' ') };
  if (options.author) entry.author = options.author;
  if (options.comment) entry.comment = options.comment;
  if (emptyLayer) entry.empty_layer = true;
  history.push(entry);

  const config: ImageConfig = {
    architecture: parent.config.architecture,
    ...(parent.config.variant ? { variant: parent.config.variant } : {}),
    os: parent.config.os || 'linux',
    created,
    docker_version: deps.dockerVersion ?? DEFAULT_DOCKER_VERSION,
    container: record.id,
    container_config: containerConfig,
    config: newConfig,
    rootfs: { type: 'layers', diff_ids: emptyLayer ? [...parent.config.rootfs.diff_ids] : [...parent.config.rootfs.diff_ids, layer!.diffId] },
    history,
  };
  if (options.author) config.author = options.author;
  if (options.comment) config.comment = options.comment;
  const image = await deps.images.createImage(config, { parent: parent.id });
  if (options.repo) {
    await deps.images.tag(image.id, options.tag ? `${options.repo}:${options.tag}` : options.repo);
  }
  return deps.images.resolve(image.id);
}
