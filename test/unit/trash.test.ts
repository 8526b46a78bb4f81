import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discardDir, drainTrash, sweepTrash } from '../../src/util/trash.js';

test('discardDir hides a tree at once, deletes it in the background, and frees its name', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-trash-'));
  try {
    const dir = join(root, 'c1');
    await mkdir(join(dir, 'upper', 'deep'), { recursive: true });
    await writeFile(join(dir, 'upper', 'deep', 'file'), 'x');
    await discardDir(dir);
    assert.ok(!(await readdir(root)).includes('c1'), 'the name is free as soon as discardDir resolves');
    await mkdir(dir);
    await drainTrash();
    assert.deepEqual(await readdir(root), ['c1'], 'only the new directory of that name is left');
    await discardDir(join(root, 'absent'));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('sweepTrash removes debris a crash left mid-delete and nothing else', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-trash-'));
  try {
    await mkdir(join(root, '.del-c2-0011aabb', 'upper'), { recursive: true });
    await mkdir(join(root, 'keep'));
    await sweepTrash(root);
    assert.deepEqual(await readdir(root), ['keep']);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
