/**
 * The netlink addon (native/netlink.c): a container's network namespace and veth pair made with
 * syscalls and rtnetlink instead of unshare(1) and ip(8), which cost three process starts on
 * every container start. Callers fall back to the tools when the addon was not built.
 */
import { findAddon } from './addon.js';

export interface NativeVethSpec {
  inside: string;
  hostName: string;
  bridge: string;
  mac?: string;
  address: string;
  prefixLength: number;
  gateway?: string;
  mtu?: number;
  /** Also bring up lo (the first interface of a fresh namespace). */
  loopback: boolean;
}

export interface NetlinkAddon {
  /** Pins a fresh network namespace on the existing (empty) file `path`. */
  createNetns(path: string): Promise<void>;
  /** Creates the pair in `netns` with its peer in berthd's namespace, addressed, routed and plugged into the bridge. */
  addVeth(netns: string, spec: NativeVethSpec): Promise<void>;
  /** Takes a host-side link out of its bridge and down; false when there is no such link. */
  detachLink(name: string): Promise<boolean>;
}

let addon: NetlinkAddon | null | undefined;

/** The addon, or null when DIST/native/netlink.node is missing (tools are spawned instead). */
export function netlinkAddon(): NetlinkAddon | null {
  if (addon === undefined) addon = findAddon<NetlinkAddon>('netlink') ?? null;
  return addon;
}
