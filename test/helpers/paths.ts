import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository root, found by walking up from this file: tests run from dist/test/..., bench
 * from dist/bench/..., and neither should care how deep the build puts them.
 */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'berth') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the berth repository root above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const repoRoot = findRepoRoot();
export const berthBin = join(repoRoot, 'bin/berth');
export const berthdBin = join(repoRoot, 'bin/berthd');
export const makeRootfsScript = join(repoRoot, 'scripts/make-busybox-rootfs.sh');
/** The real docker CLI (client only), used as a compatibility client. */
export const dockerBin = process.env.BERTH_TEST_DOCKER ?? '/usr/local/bin/docker';
