/**
 * Finds and loads one of the native addons that scripts/build.mjs compiles from native/*.c
 * into DIST/native/NAME.node. Modules run either from the bundle (DIST/berthd.mjs) or from
 * tsc's output (DIST/src/sys/*.js), so the directory is looked for upwards.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's exports, or undefined when DIST/native/NAME.node is missing. */
export function findAddon<T>(name: string): T | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'native', `${name}.node`);
    if (existsSync(candidate)) return createRequire(import.meta.url)(candidate) as T;
    dir = dirname(dir);
  }
  return undefined;
}
