import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  familiarString,
  fullString,
  isFullImageId,
  looksLikeImageId,
  normaliseReference,
  parseNormalizedNamed,
  parseReference,
  shortId,
} from '../../src/image/reference.js';
import { isBerthError } from '../../src/util/errors.js';

const HEX = 'a'.repeat(64);

function rejects(input: string, message: string | RegExp, parse: (s: string) => unknown = parseNormalizedNamed): void {
  assert.throws(
    () => parse(input),
    (err: unknown) => {
      assert.ok(isBerthError(err, 'invalidParameter'), `${input}: expected invalidParameter, got ${String(err)}`);
      if (typeof message === 'string') assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

test('short names normalise to docker.io/library with :latest', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['myuser/app', 'docker.io/myuser/app:latest', 'myuser/app:latest'],
    ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
    ['localhost/foo', 'localhost/foo:latest', 'localhost/foo:latest'],
    ['localhost:5000/team/app:v1', 'localhost:5000/team/app:v1', 'localhost:5000/team/app:v1'],
    ['registry.example.com/x', 'registry.example.com/x:latest', 'registry.example.com/x:latest'],
    ['[::1]:5000/img', '[::1]:5000/img:latest', '[::1]:5000/img:latest'],
    ['Registry/img', 'Registry/img:latest', 'Registry/img:latest'],
  ];
  for (const [input, full, familiar] of cases) {
    const ref = normaliseReference(input);
    assert.equal(fullString(ref), full, input);
    assert.equal(familiarString(ref), familiar, input);
  }
});

test('path components allow the documented separators only', () => {
  for (const ok of ['a.b', 'a_b', 'a__b', 'a-b', 'a---b', 'a/b/c', 'a0.b1_c2-d3']) {
    assert.doesNotThrow(() => parseNormalizedNamed(ok), ok);
  }
  for (const bad of ['a___b', 'a..b', '-a', 'a-', 'a/', '/a', 'a//b', '_a', 'a:b:c', 'a@b', 'a b']) {
    rejects(bad, 'invalid reference format');
  }
});

test('uppercase and empty names get docker messages', () => {
  rejects('Busybox', 'invalid reference format: repository name must be lowercase');
  rejects('myuser/App:1', 'invalid reference format: repository name must be lowercase');
  rejects('', 'repository name must have at least one component', parseReference);
  rejects(HEX, /cannot specify 64-byte hexadecimal strings/);
  rejects(`a/${'b'.repeat(260)}`, 'repository name must not be more than 255 characters');
});

test('tags: word chars, dots and dashes, at most 128', () => {
  assert.equal(normaliseReference('a:v1.2-rc_3').tag, 'v1.2-rc_3');
  assert.equal(normaliseReference(`a:${'t'.repeat(128)}`).tag, 't'.repeat(128));
  rejects(`a:${'t'.repeat(129)}`, 'invalid reference format');
  rejects('a:.x', 'invalid reference format');
  rejects('a:-x', 'invalid reference format');
});

test('digests are parsed, validated and kept in both forms', () => {
  const ref = normaliseReference(`busybox@sha256:${HEX}`);
  assert.equal(ref.tag, undefined, 'a digest reference gets no default tag');
  assert.equal(ref.digest, `sha256:${HEX}`);
  assert.equal(familiarString(ref), `busybox@sha256:${HEX}`);
  assert.equal(fullString(ref), `docker.io/library/busybox@sha256:${HEX}`);
  const both = normaliseReference(`reg:5000/x:1@sha256:${HEX}`);
  assert.deepEqual(both, { domain: 'reg:5000', path: 'x', tag: '1', digest: `sha256:${HEX}` });
  rejects(`busybox@sha256:${'a'.repeat(31)}`, 'invalid reference format');
  rejects(`busybox@sha256:${'a'.repeat(63)}`, 'invalid checksum digest length');
  rejects(`busybox@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm');
});

test('strict parse keeps a missing domain empty', () => {
  assert.deepEqual(parseReference('busybox'), { domain: '', path: 'busybox' });
  assert.deepEqual(parseReference('quay.io/a/b:2'), { domain: 'quay.io', path: 'a/b', tag: '2' });
});

test('ID helpers', () => {
  assert.ok(looksLikeImageId('abc123'));
  assert.ok(looksLikeImageId(`sha256:${HEX}`));
  assert.ok(looksLikeImageId('sha256:ab'));
  assert.ok(!looksLikeImageId('busybox'));
  assert.ok(!looksLikeImageId('ABC'));
  assert.ok(!looksLikeImageId('a'.repeat(65)));
  assert.ok(isFullImageId(HEX));
  assert.ok(isFullImageId(`sha256:${HEX}`));
  assert.ok(!isFullImageId('abc'));
  assert.equal(shortId(`sha256:${'0123456789abcdef'.repeat(4)}`), '0123456789ab');
});
