/**
 * commit and diff against a real berthd: the container's changes (added, modified, deleted
 * files) become a layer of a new image that runs, with docker's history and config rules.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('commit and diff', { timeout: 600_000 }, () => {
  let d: TestDaemon;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const berth = (args: string[]) => d.berth(args);

  it('diff lists additions, modifications and deletions from the upper layer', T, async () => {
    expectOk('run', await berth(['run', '--name', 'changed', 'busybox', 'sh', '-c', 'mkdir -p /data/sub && echo hi > /data/sub/f && rm /bin/vi && echo x >> /etc/passwd']));
    const out = expectOk('diff', await berth(['diff', 'changed']));
    const lines = out.trim().split('\n');
    for (const expected of ['A /data', 'A /data/sub', 'A /data/sub/f', 'C /bin', 'D /bin/vi', 'C /etc', 'C /etc/passwd']) {
      assert.ok(lines.includes(expected), `missing ${expected} in:\n${out}`);
    }
    // runc's bind-mount placeholders are not changes (docker keeps them in its init layer).
    assert.ok(!lines.some((l) => /hostname|resolv\.conf|\/etc\/hosts$/.test(l)), out);
  });

  it('commit makes an image that keeps the changes and runs', T, async () => {
    const r = await berth(['commit', '-a', 'Ada <ada@example.com>', '-m', 'added data', '-c', 'ENV FOO=bar', '-c', 'CMD ["cat", "/data/sub/f"]', 'changed', 'committed:v1']);
    assert.match(expectOk('commit', r).trim(), /^sha256:[0-9a-f]{64}$/, describeResult('commit', r));
    const run = await berth(['run', '--rm', 'committed:v1']);
    assert.equal(expectOk('run committed', run), 'hi\n');
    const gone = await berth(['run', '--rm', 'committed:v1', 'sh', '-c', 'test -e /bin/vi && echo present || echo gone; echo $FOO; tail -1 /etc/passwd']);
    assert.equal(expectOk('run committed sh', gone), 'gone\nbar\nx\n');

    const inspect = JSON.parse(expectOk('inspect', await berth(['image', 'inspect', 'committed:v1']))) as Array<Record<string, any>>;
    const image = inspect[0]!;
    const base = (JSON.parse(expectOk('inspect busybox', await berth(['image', 'inspect', 'busybox']))) as Array<Record<string, any>>)[0]!;
    assert.equal(image.Author, 'Ada <ada@example.com>');
    assert.equal(image.Comment, 'added data');
    assert.equal(image.Parent, base.Id);
    assert.equal(image.RootFS.Layers.length, base.RootFS.Layers.length + 1);
    assert.deepEqual(image.RootFS.Layers.slice(0, -1), base.RootFS.Layers);
    assert.deepEqual(image.Config.Cmd, ['cat', '/data/sub/f']);
    assert.ok((image.Config.Env as string[]).includes('FOO=bar'));
    assert.match(image.Container, /^[0-9a-f]{64}$/);

    const history = expectOk('history', await berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}|{{.Comment}}', 'committed:v1']));
    assert.equal(history.split('\n')[0], 'sh -c mkdir -p /data/sub && echo hi > /data/sub/f && rm /bin/vi && echo x >> /etc/passwd|added data');
  });

  it('commit of an unchanged container adds an empty_layer history entry, not a layer', T, async () => {
    expectOk('create', await berth(['create', '--name', 'same', 'busybox', 'true']));
    const id = expectOk('commit', await berth(['commit', 'same'])).trim();
    const r = await d.api('GET', `/images/${id}/json`);
    const base = await d.api('GET', '/images/busybox/json');
    assert.deepEqual((r.json as any).RootFS.Layers, (base.json as any).RootFS.Layers);
    const images = expectOk('images', await berth(['images', '-a', '--no-trunc', '-q']));
    assert.ok(images.includes(id), images);
  });

  it('commit through the API takes a Config body, pause and changes; bad input is refused', T, async () => {
    expectOk('run -d', await berth(['run', '-d', '--name', 'live', 'busybox', 'sh', '-c', 'echo live > /live; sleep 30']));
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await berth(['diff', 'live'])).stdout.includes('A /live');
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    const r = await d.api('POST', '/commit?container=live&repo=apicommit&tag=t1&pause=1&changes=LABEL%20a%3Db', { Cmd: ['cat', '/live'], Labels: { x: 'y' } });
    assert.equal(r.status, 201, r.text);
    const run = await berth(['run', '--rm', 'apicommit:t1']);
    assert.equal(expectOk('run apicommit', run), 'live\n');
    const labels = (await d.api('GET', '/images/apicommit:t1/json')).json as any;
    assert.deepEqual(labels.Config.Labels, { a: 'b', x: 'y' });
    const state = expectOk('inspect', await berth(['inspect', '-f', '{{.State.Status}}', 'live'])).trim();
    assert.equal(state, 'running');
    expectOk('rm', await berth(['rm', '-f', 'live']));

    assert.equal((await d.api('POST', '/commit?container=nope')).status, 404);
    assert.equal((await d.api('POST', '/commit?container=changed&changes=BOGUS%20x')).status, 400);
    assert.equal((await d.api('POST', '/commit?container=changed&repo=Bad:Name')).status, 400);
    const missing = await berth(['commit', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Error response from daemon: No such container: nope/);
  });
});
