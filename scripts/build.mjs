// Type-checks and compiles everything with tsc (tests and benches run from dist/),
// then bundles the two executables with esbuild so `berth` starts with one file read
// instead of resolving dozens of modules.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// BERTH_DIST lets several builds (one per engineer or worktree task) live side by side without
// one build deleting the files another's test run is executing. It must stay inside the repo
// (e.g. .dist-net) so tests can find the repository root by walking up.
const dist = resolve(root, process.env.BERTH_DIST ?? 'dist');
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', root, '--outDir', dist], { stdio: 'inherit' });
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  // Bundled CommonJS deps (tar-stream) need require() inside an ESM bundle.
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
};
await build({ ...common, entryPoints: [join(root, 'src/cli/main.ts')], outfile: join(dist, 'berth.mjs') });
await build({ ...common, entryPoints: [join(root, 'src/daemon/main.ts')], outfile: join(dist, 'berthd.mjs') });
