/**
 * A deep --exec-root puts conmon's attach socket past sun_path's 108 bytes. conmon binds it
 * through /proc/self/fd; berthd must connect the same way, or attached runs print nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { expectOk } from '../helpers/exec.js';

describe('attach with a long exec-root', { timeout: 180_000 }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon({ execRootName: `exec-${'x'.repeat(40)}` });
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  it('streams the output of an attached run and of an exec', async () => {
    const socketPath = `${d.execRoot}/socket/${'0'.repeat(64)}/attach`;
    assert.ok(socketPath.length > 108, `the test needs a socket path over 108 bytes, got ${socketPath.length}`);
    assert.equal(expectOk('run', await d.berth(['run', '--rm', '--network', 'none', 'busybox', 'echo', 'hello'])), 'hello\n');
    assert.equal(expectOk('run -i', await d.berth(['run', '--rm', '-i', '--network', 'none', 'busybox', 'cat'], { input: 'piped\n' })), 'piped\n');
    expectOk('run -d', await d.berth(['run', '-d', '--name', 'long', '--network', 'none', 'busybox', 'sleep', '60']));
    assert.equal(expectOk('exec', await d.berth(['exec', 'long', 'echo', 'from-exec'])), 'from-exec\n');
    expectOk('rm', await d.berth(['rm', '-f', 'long']));
  });
});
