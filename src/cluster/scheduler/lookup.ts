/** How filters name containers and images on a node: the spellings a user may write. */
import type { ClusterNode, NodeContainer } from '../types.js';

const SHORT_ID = 12;

/** Names, `node/name` as the manager shows them, the full ID and the short ID. */
export function containerSpellings(node: ClusterNode, c: NodeContainer): string[] {
  const names = c.names.map((n) => n.replace(/^\//, ''));
  return [...names, ...names.map((n) => `${node.name}/${n}`), c.id, c.id.slice(0, SHORT_ID)];
}

/** Repo tags with and without an implied `:latest`, and the image ID with and without `sha256:`, full and short. */
export function imageSpellings(node: ClusterNode): Set<string> {
  const out = new Set<string>();
  const addId = (id: string): void => {
    if (!id) return;
    const hex = id.replace(/^sha256:/, '');
    out.add(id).add(hex).add(hex.slice(0, SHORT_ID));
  };
  const addRef = (ref: string): void => {
    if (!ref) return;
    out.add(ref);
    if (ref.endsWith(':latest')) out.add(ref.slice(0, -':latest'.length));
    else if (!/:[^/]+$/.test(ref) && !ref.includes('@')) out.add(`${ref}:latest`);
  };
  for (const image of node.images) {
    addId(image.id);
    for (const tag of image.repoTags) addRef(tag);
  }
  // A container's image counts too: the node has it even if the image list was not refreshed yet.
  for (const c of node.containers) {
    addRef(c.image);
    addId(c.imageId);
  }
  return out;
}

/**
 * True when `ref` (as --volumes-from, --link or --net container: write it) names this container:
 * a name (with or without the leading slash), `node/name`, or a unique-looking ID prefix.
 */
export function refersTo(node: ClusterNode, c: NodeContainer, ref: string): boolean {
  const r = ref.replace(/^\//, '');
  const slash = r.indexOf('/');
  if (slash > 0) {
    // node/name: only on that node.
    return r.slice(0, slash) === node.name && c.names.some((n) => n.replace(/^\//, '') === r.slice(slash + 1));
  }
  if (c.names.some((n) => n.replace(/^\//, '') === r)) return true;
  return /^[0-9a-f]+$/.test(r) && c.id.startsWith(r);
}
