/**
 * The image subsystem's contract with the daemon. Wire shapes follow docker's image config
 * JSON (the "application/vnd.docker.container.image.v1+json" / OCI image config) exactly,
 * so `inspect` can show them without translation.
 */
import type { Readable } from 'node:stream';

/** The `config` block of an image config, Docker's field names and casing. */
export interface ImageContainerConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  ExposedPorts?: Record<string, Record<string, never>>;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  ArgsEscaped?: boolean;
  Image?: string;
  Volumes?: Record<string, Record<string, never>> | null;
  WorkingDir?: string;
  Entrypoint?: string[] | null;
  OnBuild?: string[] | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Shell?: string[];
}

export interface ImageHistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** The image config blob; its sha256 is the image ID. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  comment?: string;
  docker_version?: string;
  container?: string;
  container_config?: ImageContainerConfig;
  config: ImageContainerConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: ImageHistoryEntry[];
}

export interface ImageRecord {
  /** "sha256:<64 hex>", the digest of the config blob. */
  id: string;
  config: ImageConfig;
  /** Familiar forms, e.g. "busybox:latest", "registry:5000/x/y:1". */
  repoTags: string[];
  /** Familiar forms, e.g. "busybox@sha256:..." (empty for local-only images). */
  repoDigests: string[];
  /** Unpacked size of all layers, bytes. */
  size: number;
  /** ID of the image this one was built or committed from, "" if none. */
  parent: string;
  /** Chain IDs of the layers, bottom first (rootfs.diff_ids folded as the OCI spec says). */
  chainIds: string[];
  /** When the image was last tagged (Metadata.LastTagTime in inspect), RFC 3339; absent if never. */
  lastTagTime?: string;
}

export interface ImportOptions {
  /** Repository and tag to tag the new image with (either may be absent). */
  repo?: string;
  tag?: string;
  /** Dockerfile-style changes: "CMD [\"sh\"]", "ENV A=b", "WORKDIR /x", "ENTRYPOINT ...", "EXPOSE 80", "LABEL a=b", "USER u", "VOLUME /v", "STOPSIGNAL SIGINT". */
  changes?: string[];
  message?: string;
}

export interface RemoveImageOptions {
  force: boolean;
  noprune: boolean;
  /** The daemon answers whether a container uses this image ID (docker refuses with 409 then). */
  isInUse: (imageId: string) => { inUse: boolean; running: boolean; containerId?: string };
}

/** One line of DELETE /images/{name}'s answer. */
export type ImageDeleteItem = { Untagged: string } | { Deleted: string };

export interface ImageService {
  list(): ImageRecord[];
  /** name[:tag], name@digest, a full "sha256:" ID or an unambiguous ID prefix; notFound "No such image: X". */
  resolve(refOrId: string): ImageRecord;
  /** Same as resolve but returns undefined instead of throwing notFound. */
  tryResolve(refOrId: string): ImageRecord | undefined;
  tag(refOrId: string, newRef: string): Promise<void>;
  remove(refOrId: string, options: RemoveImageOptions): Promise<ImageDeleteItem[]>;
  /** A rootfs tar (optionally gzip/xz compressed? gzip at least) becomes a one-layer image. */
  importRootfs(tar: Readable, options: ImportOptions): Promise<ImageRecord>;
  /** Absolute paths of the unpacked layer directories, TOPMOST FIRST (overlay lowerdir order). */
  layerPaths(imageId: string): string[];
}
