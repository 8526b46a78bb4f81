import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyChanges, parseGoDuration } from '../../src/image/changes.js';
import { emptyContainerConfig, encodeImageConfig, goTimeString } from '../../src/image/config-json.js';
import { isBerthError } from '../../src/util/errors.js';
import type { ImageConfig } from '../../src/image/types.js';

const apply = (...changes: string[]) => applyChanges(emptyContainerConfig(), changes);

function rejects(changes: string[], message: string | RegExp): void {
  assert.throws(
    () => apply(...changes),
    (err: unknown) => {
      assert.ok(isBerthError(err, 'invalidParameter'), String(err));
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

test('CMD and ENTRYPOINT: JSON is exec form, anything else runs under /bin/sh -c', () => {
  assert.deepEqual(apply('CMD ["sh", "-c", "echo hi"]').Cmd, ['sh', '-c', 'echo hi']);
  assert.deepEqual(apply('CMD echo "hello world" && ls').Cmd, ['/bin/sh', '-c', 'echo "hello world" && ls']);
  assert.deepEqual(apply('cmd [not json').Cmd, ['/bin/sh', '-c', '[not json']);
  const c = apply('ENTRYPOINT ["/init"]');
  assert.deepEqual(c.Entrypoint, ['/init']);
  assert.equal(c.Cmd, null);
  // ENTRYPOINT clears an inherited CMD, but not one set by an earlier change.
  assert.deepEqual(apply('CMD ["x"]', 'ENTRYPOINT /start').Cmd, ['x']);
  assert.deepEqual(apply('CMD ["x"]', 'ENTRYPOINT /start').Entrypoint, ['/bin/sh', '-c', '/start']);
  const inherited = applyChanges({ ...emptyContainerConfig(), Cmd: ['old'] }, ['ENTRYPOINT ["e"]']);
  assert.equal(inherited.Cmd, null);
});

test('ENV: K=V pairs with quotes and expansion, and the legacy "K V" form', () => {
  const c = apply('ENV A=1 B="two words" C=${A}x', 'ENV PATH /usr/bin:/bin', 'ENV D=${A}y A=3');
  // Like docker: one instruction sees the environment as it was before it.
  assert.deepEqual(c.Env, ['A=3', 'B=two words', 'C=x', 'PATH=/usr/bin:/bin', 'D=1y']);
  assert.deepEqual(apply("ENV Q='$NOT' R=\\$ESC S=${MISSING:-dflt}").Env, ['Q=$NOT', 'R=$ESC', 'S=dflt']);
  assert.deepEqual(apply('ENV MSG hello  big world').Env, ['MSG=hello  big world']);
  rejects(['ENV'], 'ENV requires at least one argument');
  rejects(['ENV A=1 B'], /can't find = in "B"/);
});

test('EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL, ONBUILD, HEALTHCHECK', () => {
  const c = apply(
    'EXPOSE 80 443/TCP 53/udp 7000-7002',
    'LABEL a=b "c d"="e f"',
    'LABEL legacy value here',
    'USER app:staff',
    'WORKDIR /srv',
    'WORKDIR data/',
    'VOLUME ["/v1", "/v2"]',
    'VOLUME /v3 /v4',
    'STOPSIGNAL SIGINT',
    'ONBUILD RUN echo hi',
    'HEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/',
  );
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}).sort(), ['443/tcp', '53/udp', '7000/tcp', '7001/tcp', '7002/tcp', '80/tcp']);
  assert.deepEqual(c.Labels, { a: 'b', 'c d': 'e f', legacy: 'value here' });
  assert.equal(c.User, 'app:staff');
  assert.equal(c.WorkingDir, '/srv/data');
  assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/v1', '/v2', '/v3', '/v4']);
  assert.equal(c.StopSignal, 'SIGINT');
  assert.deepEqual(c.OnBuild, ['RUN echo hi']);
  assert.deepEqual(c.Healthcheck, { Test: ['CMD-SHELL', 'curl -f http://localhost/'], Interval: 30e9, Retries: 3 });
  assert.deepEqual(apply('HEALTHCHECK NONE').Healthcheck, { Test: ['NONE'] });
  assert.equal(parseGoDuration('1m30.5s'), 90.5e9);
  assert.equal(parseGoDuration('250ms'), 250e6);
});

test('bad or disallowed instructions are invalidParameter errors naming them', () => {
  rejects(['RUN echo hi'], 'run is not a valid change command');
  rejects(['FROM busybox'], 'from is not a valid change command');
  rejects(['BOGUS x'], 'bogus is not a valid change command');
  rejects(['EXPOSE 80/xyz'], /invalid proto: xyz/);
  rejects(['EXPOSE abc'], /invalid containerPort: abc/);
  rejects(['STOPSIGNAL SIGNOPE'], /Invalid signal: SIGNOPE/);
  rejects(['ONBUILD ONBUILD RUN x'], /Chaining ONBUILD/);
  rejects(['ONBUILD FROM x'], /FROM isn't allowed as an ONBUILD trigger/);
  rejects(['VOLUME [""]'], 'VOLUME specified can not be an empty string');
  rejects(['HEALTHCHECK --bogus=1 CMD x'], /Unknown flag: bogus/);
});

test('changes given as one multi-line string, with comments and continuations', () => {
  const c = apply('# a comment\nENV A=1 \\\n  B=2\nCMD ["x"]');
  assert.deepEqual(c.Env, ['A=1', 'B=2']);
  assert.deepEqual(c.Cmd, ['x']);
});

test('config JSON is encoded as dockerd encodes it', () => {
  const created = goTimeString(new Date('2024-05-06T07:08:09.120Z'));
  assert.equal(created, '2024-05-06T07:08:09.12Z');
  assert.equal(goTimeString(new Date('2024-05-06T07:08:09.000Z')), '2024-05-06T07:08:09Z');
  const config: ImageConfig = {
    rootfs: { type: 'layers', diff_ids: [`sha256:${'1'.repeat(64)}`] },
    os: 'linux',
    architecture: 'amd64',
    config: { ...apply('CMD a && b <c>', 'LABEL z=1 a=2'), Labels: { z: '1', a: '2' } },
    container_config: emptyContainerConfig(),
    created,
    history: [{ created, created_by: '', comment: 'Imported from -' }],
    comment: 'Imported from -',
    docker_version: '20.10.24',
  };
  const zero =
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,' +
    '"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,' +
    '"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';
  const expected =
    '{"architecture":"amd64","comment":"Imported from -",' +
    '"config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,' +
    '"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["/bin/sh","-c","a \\u0026\\u0026 b \\u003cc\\u003e"],' +
    '"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{"a":"2","z":"1"}},' +
    `"container_config":${zero},"created":"${created}","docker_version":"20.10.24",` +
    `"history":[{"created":"${created}","comment":"Imported from -"}],"os":"linux",` +
    `"rootfs":{"type":"layers","diff_ids":["sha256:${'1'.repeat(64)}"]}}`;
  assert.equal(encodeImageConfig(config).toString('utf8'), expected);
});
