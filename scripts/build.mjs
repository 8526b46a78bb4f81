// Type-checks and compiles everything with tsc (tests and benches run from dist/),
// then bundles the two executables with esbuild so `berth` starts with one file read
// instead of resolving dozens of modules.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
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
  // etcd3 loads its .proto files from its own package directory at run time and ssh2 has an
  // optional native module: both stay in node_modules rather than in the bundle.
  external: ['etcd3', 'ssh2'],
  // Bundled CommonJS deps (tar-stream) need require() inside an ESM bundle.
  banner: { js: "import { createRequire as __berthCreateRequire } from 'node:module'; const require = __berthCreateRequire(import.meta.url);" },
};
// The compose schema compiled to code once here rather than by every `berth compose` run.
const { writePrebuiltValidator } = await import(new URL(`file://${join(dist, 'src/compose/validator-codegen.js')}`).href);
writePrebuiltValidator(dist);
// The native addons (see native/*.c). Compiled with
// the C compiler against the headers that ship with this node; one file, no node-gyp project.
const nodeInclude = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'].find((d) =>
  existsSync(join(d, 'node_api.h')),
);
if (!nodeInclude) throw new Error('node headers (node_api.h) not found next to this node; install the nodejs headers');
mkdirSync(join(dist, 'native'), { recursive: true });
// seqpacket: conmon's attach socket; sysmount: mount(2)/umount2(2) for container overlays;
// netlink: a container's namespace and veth pair without spawning unshare/ip; spawn: the
// monitor started with posix_spawn rather than a fork of the daemon.
for (const name of ['seqpacket', 'sysmount', 'netlink', 'spawn']) {
  execFileSync(
    process.env.CC ?? 'cc',
    ['-shared', '-fPIC', '-O2', '-Wall', `-I${nodeInclude}`, `-DNODE_GYP_MODULE_NAME=${name}`, '-o', join(dist, 'native', `${name}.node`), join(root, 'native', `${name}.c`)],
    { stdio: 'inherit' },
  );
}
// berth-monitor: the per-container monitor (see native/berth-monitor.c), a static executable so
// each copy maps no shared libc and stays at a few hundred KiB of RSS.
execFileSync(
  process.env.CC ?? 'cc',
  ['-static', '-O2', '-Wall', '-Wextra', '-o', join(dist, 'native', 'berth-monitor'), join(root, 'native', 'berth-monitor.c')],
  { stdio: 'inherit' },
);
// Code splitting keeps each command's dependencies (compose's schema validator, the builder,
// registry code) in chunks that load only when that command runs, so `berth ps` parses a small
// entry file rather than the whole CLI.
const split = { splitting: true, outdir: dist, entryNames: '[name]', chunkNames: 'chunks/[name]-[hash]', outExtension: { '.js': '.mjs' } };
await build({ ...common, ...split, entryPoints: { berth: join(root, 'src/cli/main.ts') } });
await build({ ...common, ...split, entryPoints: { berthd: join(root, 'src/daemon/main.ts') } });
