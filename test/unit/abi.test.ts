import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { kernelRunsX32Syscalls } from '../../src/sys/abi.js';

describe('kernelRunsX32Syscalls', () => {
  it("answers on x86-64 and agrees with the kernel's own configuration", { skip: process.arch !== 'x64' }, () => {
    const answer = kernelRunsX32Syscalls();
    assert.equal(typeof answer, 'boolean', 'the sysmount addon is built by scripts/build.mjs');
    if (existsSync('/proc/config.gz')) {
      const config = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
      assert.equal(answer, /^CONFIG_X86_X32_ABI=y$/m.test(config));
    }
  });
});
