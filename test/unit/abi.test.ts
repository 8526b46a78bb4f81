import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { kernelRunsX32Syscalls } from '../../src/sys/abi.js';
import { sealedRuntimePath } from '../../src/runtime/runtime-binary.js';

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

describe('sealedRuntimePath', () => {
  it('links EXEC_ROOT/runtime/runc to a sealed copy held by this process: same bytes, no writes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-sealed-'));
    try {
      const binary = join(dir, 'fake-runc');
      writeFileSync(binary, Buffer.from('#!/bin/sh\necho sealed\n'));
      const path = sealedRuntimePath(binary, join(dir, 'exec'));
      assert.equal(path, join(dir, 'exec', 'runtime', 'runc'));
      assert.match(readlinkSync(path), new RegExp(`^/proc/${process.pid}/fd/\\d+$`));
      assert.deepEqual(readFileSync(path), readFileSync(binary));
      assert.throws(() => writeFileSync(path, 'overwritten'), /EPERM/);
      // Not there to copy: the path given is used as it is.
      assert.equal(sealedRuntimePath(join(dir, 'missing'), join(dir, 'exec')), join(dir, 'missing'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
