import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { discardDir, drainTrash, sweepTrash } from '../../src/sys/trash.js';
import { removeTree } from '../../src/sys/fs.js';

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

test('removeTree deletes a deep tree, leaves what symlinks point at, and stops at a mount point', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'berth-trash-'));
  const outside = join(root, 'outside');
  const tree = join(root, 'tree');
  try {
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'k');
    let deep = tree;
    for (let i = 0; i < 60; i++) deep = join(deep, `level-${i}`);
    await mkdir(deep, { recursive: true });
    await writeFile(join(deep, 'file'), 'x');
    for (let i = 0; i < 300; i++) await writeFile(join(tree, `f${i}`), 'y');
    await symlink(outside, join(tree, 'link-to-dir'));
    await symlink(join(outside, 'keep'), join(tree, 'link-to-file'));
    await removeTree(tree);
    assert.deepEqual(await readdir(root), ['outside'], 'the whole tree is gone');
    assert.deepEqual(await readdir(outside), ['keep'], 'nothing behind a symlink was touched');
    await removeTree(join(root, 'absent'));

    if (process.getuid?.() !== 0) {
      t.diagnostic('mount point case skipped: needs root');
      return;
    }
    const mounted = join(root, 'tree2', 'sub');
    await mkdir(mounted, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mounted]);
    try {
      await writeFile(join(mounted, 'precious'), 'p');
      await assert.rejects(removeTree(join(root, 'tree2')), (err: NodeJS.ErrnoException) => err.code === 'EXDEV');
      assert.deepEqual(await readdir(mounted), ['precious'], 'a mounted filesystem is never emptied');
    } finally {
      execFileSync('umount', [mounted]);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
