import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, appendFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LogReader, frame, parseLogLine, parseTimeNano } from '../../src/container/logs.js';

test('k8s-file lines parse to stream, time and exact bytes', () => {
  const full = parseLogLine(Buffer.from('2024-05-01T12:00:00.123456789+00:00 stdout F hello world'));
  assert.equal(full?.stream, 'stdout');
  assert.equal(full?.data.toString(), 'hello world\n');
  assert.equal(full?.timeNano, 1714564800123456789n);
  const partial = parseLogLine(Buffer.from('2024-05-01T12:00:00.1+00:00 stderr P no newline'));
  assert.equal(partial?.stream, 'stderr');
  assert.equal(partial?.data.toString(), 'no newline');
  assert.equal(parseLogLine(Buffer.from('garbage')), undefined);
  assert.equal(parseTimeNano('2024-05-01T14:00:00.5+02:00'), 1714564800500000000n);
});

test('frames carry docker stream type and big-endian size', () => {
  const f = frame('stderr', Buffer.from('abc'));
  assert.deepEqual([...f.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 3]);
  assert.equal(f.subarray(8).toString(), 'abc');
});

test('LogReader follows a growing file and holds back a half-written line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
  try {
    const path = join(dir, 'log');
    await writeFile(path, '2024-05-01T12:00:00Z stdout F one\n2024-05-01T12:00:01Z stdout P tw');
    const reader = new LogReader(path);
    const seen: string[] = [];
    const done = (async () => {
      for await (const entry of reader.entries(true)) seen.push(entry.data.toString());
    })();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, ['one\n']);
    await appendFile(path, 'o\n2024-05-01T12:00:02Z stderr F three\n');
    await new Promise((r) => setTimeout(r, 400));
    reader.stop();
    await done;
    assert.deepEqual(seen, ['one\n', 'two', 'three\n']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
