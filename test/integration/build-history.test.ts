/**
 * `history` of an image built by the classic builder: each step left an image, and history
 * names it (as moby does, walking the parent chain) instead of "<missing>", through berth and
 * the real docker CLI.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { expectOk } from '../helpers/exec.js';

describe('history of a local build', { timeout: 300_000 }, () => {
  let d: TestDaemon;
  let work: string;
  let busybox: string;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'berth-test-history-'));
    d = await startDaemon();
    busybox = await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('shows the intermediate images\' IDs with berth and docker', { timeout: 180_000 }, async () => {
    writeFileSync(join(work, 'Dockerfile'), 'FROM busybox\nENV A=1\nRUN echo hi > /hi\nCMD ["cat", "/hi"]\n');
    expectOk('build', await d.berth(['build', '-q', '-t', 'hist:1', work], { timeoutMs: 170_000 }));
    const all = new Set(expectOk('images -a', await d.berth(['images', '-a', '-q', '--no-trunc'])).trim().split('\n'));
    for (const cli of ['berth', 'docker'] as const) {
      const ids = expectOk(`${cli} history`, await d[cli](['history', '--no-trunc', '--format', '{{.ID}}', 'hist:1'])).trim().split('\n');
      // CMD, RUN and ENV each left an image; the base's own row is busybox.
      assert.equal(ids.length >= 4, true, ids.join('\n'));
      for (const id of ids.slice(0, 4)) {
        assert.notEqual(id, '<missing>', `${cli}: ${ids.join('\n')}`);
        assert.ok(all.has(id), `${cli}: ${id} is not in images -a`);
      }
      assert.equal(ids[3], busybox);
      assert.equal(new Set(ids.slice(0, 4)).size, 4);
    }
    const tags = (await d.api('GET', '/images/hist:1/history')).json as Array<{ Tags: string[] | null }>;
    assert.deepEqual(tags[0]!.Tags, ['hist:1']);
    assert.equal(tags[1]!.Tags, null, 'an untagged step has Tags null, as docker sends');
  });
});
