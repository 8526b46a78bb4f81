/**
 * One node's share of the overlay networks it uses: for each, a Linux bridge in berthd's own
 * namespace with the network's gateway address (where the embedded DNS listens), and a vxlan
 * device on it whose forwarding (FDB) and ARP (neighbour) tables hold exactly the endpoints of
 * other nodes, as the cluster store lists them. Nothing is learned from traffic (`nolearning`),
 * broadcasts never cross the underlay (the device answers ARP itself: `proxy`).
 *
 * Docker's classic overlay put each network's bridge in a namespace of its own. Berth keeps it
 * in the daemon's namespace, like its user bridge networks: the embedded DNS listener and the
 * firewall (which keeps overlay bridges internal: no NAT, nothing forwarded to or from other
 * interfaces) work unchanged, and a node is already a namespace of its own in tests. The cost:
 * an overlay subnet must not collide with a route of the node, which subnet choice checks.
 *
 * Operations on one network are serialised, so watch events arriving in bursts never interleave
 * their `ip`/`bridge` commands.
 */
import { addFdb, addNeigh, createVxlanBridge, deleteFdb, deleteLink, deleteNeigh, linkExists } from '../../sys/ip.js';
import { errorMessage } from '../../util/errors.js';
import { overlayLinkNames } from './alloc.js';

export interface UnderlayNode {
  /** This node's advertised underlay address: tunnel source, and how others reach it. */
  ip: string;
  dev: string;
  mtu: number;
}

export interface RemoteEndpoint {
  ip: string;
  mac: string;
  /** Underlay address of the node the endpoint lives on. */
  node: string;
}

export interface DataPlaneNetwork {
  id: string;
  vni: number;
  gateway: string;
  prefix: number;
}

export class OverlayDataPlane {
  /** Network id -> MAC -> what was programmed for it. */
  private readonly programmed = new Map<string, Map<string, RemoteEndpoint>>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly node: UnderlayNode,
    readonly vxlanPort: number,
    readonly mtu: number,
    private readonly alias: string,
    private readonly debug: (message: string) => void,
  ) {}

  private serial<T>(networkId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(networkId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(networkId, next.catch(() => undefined));
    return next;
  }

  isActive(networkId: string): boolean {
    return this.programmed.has(networkId);
  }

  activeNetworks(): string[] {
    return [...this.programmed.keys()];
  }

  /** Bridge and vxlan device for the network (made if missing), then its remote entries. */
  ensure(network: DataPlaneNetwork, remotes: RemoteEndpoint[]): Promise<void> {
    return this.serial(network.id, async () => {
      const names = overlayLinkNames(network.id);
      if (!(await linkExists(names.bridge)) || !(await linkExists(names.vxlan))) {
        await deleteLink(names.vxlan).catch(() => undefined);
        await deleteLink(names.bridge).catch(() => undefined);
        await createVxlanBridge(names.bridge, `${network.gateway}/${network.prefix}`, {
          name: names.vxlan,
          vni: network.vni,
          port: this.vxlanPort,
          local: this.node.ip,
          dev: this.node.dev,
          mtu: this.mtu,
          bridge: names.bridge,
          alias: this.alias,
        });
        // A new device starts with empty tables whatever was recorded before.
        this.programmed.set(network.id, new Map());
      } else if (!this.programmed.has(network.id)) {
        // Devices left by a previous berthd (live restore): their entries are rewritten below.
        this.programmed.set(network.id, new Map());
      }
      await this.apply(network.id, remotes);
    });
  }

  /** Makes the device's tables hold exactly `remotes` (a no-op for networks not active here). */
  sync(networkId: string, remotes: RemoteEndpoint[]): Promise<void> {
    return this.serial(networkId, async () => {
      if (!this.programmed.has(networkId)) return;
      await this.apply(networkId, remotes);
    });
  }

  private async apply(networkId: string, remotes: RemoteEndpoint[]): Promise<void> {
    const current = this.programmed.get(networkId)!;
    const { vxlan } = overlayLinkNames(networkId);
    const wanted = new Map(remotes.filter((r) => r.node !== this.node.ip).map((r) => [r.mac, r]));
    for (const [mac, old] of [...current]) {
      const now = wanted.get(mac);
      if (now && now.ip === old.ip && now.node === old.node) continue;
      try {
        await deleteNeigh(vxlan, old.ip);
        await deleteFdb(vxlan, mac, old.node);
      } catch (err) {
        this.debug(`overlay ${networkId.slice(0, 12)}: remove ${old.ip}: ${errorMessage(err)}`);
      }
      current.delete(mac);
    }
    for (const [mac, r] of wanted) {
      if (current.has(mac)) continue;
      try {
        await addFdb(vxlan, mac, r.node);
        await addNeigh(vxlan, r.ip, mac);
        current.set(mac, r);
      } catch (err) {
        this.debug(`overlay ${networkId.slice(0, 12)}: add ${r.ip} at ${r.node}: ${errorMessage(err)}`);
      }
    }
  }

  /** Deletes the network's devices; their FDB and neighbour entries go with the vxlan device. */
  release(networkId: string): Promise<void> {
    return this.serial(networkId, async () => {
      const names = overlayLinkNames(networkId);
      this.programmed.delete(networkId);
      await deleteLink(names.vxlan);
      await deleteLink(names.bridge);
    });
  }
}
