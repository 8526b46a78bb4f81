/**
 * Chain IDs name a layer together with everything below it (OCI image spec):
 *   chainID(L0) = diffID(L0);  chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
 * Two images that share a stack of layers share the unpacked directories.
 */
import { createHash } from 'node:crypto';

export function chainIdOf(parentChainId: string | undefined, diffId: string): string {
  if (parentChainId === undefined) return diffId;
  return `sha256:${createHash('sha256').update(`${parentChainId} ${diffId}`).digest('hex')}`;
}

/** Chain IDs for a whole rootfs.diff_ids list, bottom layer first. */
export function chainIds(diffIds: readonly string[]): string[] {
  const result: string[] = [];
  let parent: string | undefined;
  for (const diffId of diffIds) {
    parent = chainIdOf(parent, diffId);
    result.push(parent);
  }
  return result;
}
