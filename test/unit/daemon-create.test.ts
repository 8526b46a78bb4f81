import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCreateBody } from '../../src/container/create.js';
import type { ImageRecord } from '../../src/image/types.js';
import { isBerthError } from '../../src/util/errors.js';

const image: ImageRecord = {
  id: 'sha256:' + 'a'.repeat(64),
  config: {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/bin', 'A=image'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '/srv', Labels: { from: 'image' } },
    rootfs: { type: 'layers', diff_ids: [] },
  },
  repoTags: ['busybox:latest'],
  repoDigests: [],
  size: 0,
  parent: '',
  chainIds: [],
};

test('request values override image defaults, env merged by key', () => {
  const { config, argv } = parseCreateBody({ Image: 'busybox', Cmd: ['echo', 'hi'], Env: ['A=req', 'B=1'], Labels: { x: 'y' } }, image);
  assert.deepEqual(argv, ['echo', 'hi']);
  assert.deepEqual(config.Env, ['PATH=/bin', 'A=req', 'B=1']);
  assert.equal(config.WorkingDir, '/srv');
  assert.deepEqual(config.Labels, { from: 'image', x: 'y' });
});

test("an Entrypoint in the request drops the image's Cmd (dockerd's rule)", () => {
  const { argv } = parseCreateBody({ Image: 'busybox', Entrypoint: ['/bin/echo'] }, image);
  assert.deepEqual(argv, ['/bin/echo']);
  const both = parseCreateBody({ Image: 'busybox', Entrypoint: 'printf', Cmd: ['x'] }, image);
  assert.deepEqual(both.argv, ['printf', 'x']);
  assert.deepEqual(parseCreateBody({ Image: 'busybox' }, image).argv, ['sh']);
});

test('wrong field types and bad values are invalid parameters naming the field', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ Image: 'busybox', Env: 'A=b' }, /Config\.Env/],
    [{ Image: 'busybox', Tty: 'yes' }, /Config\.Tty/],
    [{ Image: 'busybox', Cmd: [1, 2] }, /Config\.Cmd/],
    [{ Image: 'busybox', WorkingDir: 'relative' }, /absolute path/],
    [{ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'sometimes' } } }, /invalid restart policy/],
    [{ Image: 'busybox', HostConfig: { AutoRemove: true, RestartPolicy: { Name: 'always' } } }, /--restart and --rm/],
    [{ Image: 'busybox', Entrypoint: [''], Cmd: [] }, /No command specified/],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => parseCreateBody(body, image), (err: unknown) => isBerthError(err, 'invalidParameter') && message.test((err as Error).message));
  }
});
