/**
 * Where this berth is installed, so a machine runs the same build as the CLI that made it:
 * the repository (or package) root holding bin/berthd, and the build directory (dist/ or a
 * BERTH_DIST one) this code was loaded from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BerthInstall {
  root: string;
  /** The build directory relative to root ("dist", ".dist-mach"). */
  distDir: string;
  berthd: string;
  /** What berthd needs in its environment to load this same build. */
  env: NodeJS.ProcessEnv;
}

function isBerthRoot(dir: string): boolean {
  const pkg = join(dir, 'package.json');
  if (!existsSync(pkg)) return false;
  try {
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'berth';
  } catch {
    return false;
  }
}

export function localInstall(): BerthInstall {
  const here = fileURLToPath(import.meta.url);
  let root = dirname(here);
  while (!isBerthRoot(root)) {
    const parent = dirname(root);
    if (parent === root) throw new Error(`cannot find berth's install root above ${here}`);
    root = parent;
  }
  const first = relative(root, here).split(sep)[0] ?? '';
  const distDir = first && first !== 'src' ? first : process.env.BERTH_DIST ?? 'dist';
  const berthd = process.env.BERTH_BERTHD ?? join(root, 'bin', 'berthd');
  return { root, distDir, berthd, env: { ...process.env, BERTH_DIST: distDir } };
}
