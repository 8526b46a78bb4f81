/**
 * Mark and sweep: blobs named by a repository's manifests (the manifests themselves, their
 * configs and layers) are kept, everything else is deleted, and repository links to deleted
 * blobs go too. Run it while the registry is stopped or read-only: a push in flight could
 * upload a blob between the mark and the sweep. Upload sessions are left to their expiry.
 */
import { RegistryStorage } from './storage.js';
import { parseManifest } from './manifest.js';

export interface GcOptions {
  dryRun?: boolean;
  /** Also drop manifests no tag points at (and so what only they named). */
  removeUntagged?: boolean;
}

export interface GcResult {
  kept: number;
  deleted: string[];
  freedBytes: number;
}

export async function collectGarbage(root: string, options: GcOptions = {}): Promise<GcResult> {
  const storage = new RegistryStorage(root);
  await storage.init();
  const marked = new Set<string>();
  const repos = await storage.repositories(true);
  for (const repo of repos) {
    const tagged = new Set<string>();
    for (const tag of await storage.tags(repo)) {
      const d = await storage.tagDigest(repo, tag);
      if (d) tagged.add(d);
    }
    const manifests = await storage.manifests(repo);
    // Lists and indexes keep their children even when only the list is tagged.
    const children = new Set<string>();
    const parsedByDigest = new Map<string, ReturnType<typeof parseManifest>>();
    for (const manifest of manifests) {
      try {
        const parsed = parseManifest(await storage.readBlobBytes(manifest), undefined);
        parsedByDigest.set(manifest, parsed);
        for (const child of parsed.manifests) children.add(child);
      } catch {
        // Unreadable: names nothing.
      }
    }
    for (const manifest of manifests) {
      const referrer = parsedByDigest.get(manifest)?.subject !== undefined;
      if (options.removeUntagged && !tagged.has(manifest) && !children.has(manifest) && !referrer) {
        if (!options.dryRun) await storage.unlinkManifest(repo, manifest);
        continue;
      }
      marked.add(manifest);
      for (const blob of parsedByDigest.get(manifest)?.blobs ?? []) marked.add(blob);
    }
  }
  const deleted: string[] = [];
  let freedBytes = 0;
  for (const blob of await storage.listBlobs()) {
    if (marked.has(blob)) continue;
    freedBytes += (await storage.blobSize(blob)) ?? 0;
    deleted.push(blob);
    if (!options.dryRun) await storage.deleteBlob(blob);
  }
  if (!options.dryRun) {
    const gone = new Set(deleted);
    for (const repo of repos) {
      for (const link of await storage.layerLinks(repo)) if (gone.has(link)) await storage.unlinkBlob(repo, link);
    }
  }
  return { kept: marked.size, deleted, freedBytes };
}
