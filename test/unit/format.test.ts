import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytesSize, ellipsis, formatG, humanDuration, humanSize, shortId, apiTimestamp, rfc3339NanoFixed } from '../../src/cli/render/human.js';
import { tabwrite } from '../../src/cli/render/table.js';
import { ContainerContext, PS_HEADERS, PS_TABLE, displayPorts, statusText } from '../../src/cli/render/containers.js';
import { IMAGES_HEADERS, IMAGES_TABLE, imageRows, HistoryContext, splitRepoTag } from '../../src/cli/render/images.js';
import { renderList } from '../../src/cli/render/formatter.js';
import { parseGoDuration } from '../../src/cli/flags.js';
import { inspectJson } from '../../src/cli/commands/inspect.js';
import { eventLine } from '../../src/cli/commands/events.js';

test('HumanDuration thresholds (go-units)', () => {
  assert.equal(humanDuration(0.5), 'Less than a second');
  assert.equal(humanDuration(1), '1 second');
  assert.equal(humanDuration(5), '5 seconds');
  assert.equal(humanDuration(59), '59 seconds');
  assert.equal(humanDuration(60), 'About a minute');
  assert.equal(humanDuration(119), 'About a minute');
  assert.equal(humanDuration(120), '2 minutes');
  assert.equal(humanDuration(3599), '59 minutes');
  assert.equal(humanDuration(3600), 'About an hour');
  assert.equal(humanDuration(5400), '2 hours'); // hours are rounded
  assert.equal(humanDuration(47 * 3600), '47 hours');
  assert.equal(humanDuration(48 * 3600), '2 days');
  assert.equal(humanDuration(14 * 86400), '2 weeks');
  assert.equal(humanDuration(60 * 86400), '2 months');
  assert.equal(humanDuration(3 * 365 * 86400), '3 years');
});

test('HumanSize: decimal units, %.Ng significant digits', () => {
  assert.equal(humanSize(4_261_000, 3), '4.26MB');
  assert.equal(humanSize(141_500_000, 3), '142MB');
  assert.equal(humanSize(7_800_000, 3), '7.8MB');
  assert.equal(humanSize(0, 3), '0B');
  assert.equal(humanSize(999, 3), '999B');
  assert.equal(humanSize(1000, 3), '1kB');
  assert.equal(humanSize(1_234_567), '1.235MB');
  assert.equal(humanSize(1_090_000_000, 3), '1.09GB');
  assert.equal(formatG(999.9, 3), '1e+03');
  assert.equal(bytesSize(8 * 1024 ** 3 * 0.9685), '7.748GiB');
});

test('Ellipsis and short IDs', () => {
  assert.equal(ellipsis('sh -c while true; do sleep 1; done', 20), 'sh -c while true; d…');
  assert.equal(ellipsis('short', 20), 'short');
  assert.equal(shortId('sha256:0123456789abcdef0123'), '0123456789ab');
});

test('tabwriter: min width 10, padding 3, last cell unpadded', () => {
  assert.equal(tabwrite('A\tBB\tC\nxxxxxxxxxxxxxxx\ty\tz\n'), 'A                 BB        C\nxxxxxxxxxxxxxxx   y         z\n');
  // A line without tabs ends the column block (Go semantics).
  assert.equal(tabwrite('a\tb\nplain\nlonger-cell\tc\n'), 'a         b\nplain\nlonger-cell   c\n');
});

test('ps status strings', () => {
  const now = Date.parse('2024-01-01T00:01:00Z');
  assert.equal(statusText({ Status: 'running', StartedAt: '2024-01-01T00:00:55Z' }, now), 'Up 5 seconds');
  assert.equal(statusText({ Status: 'running', StartedAt: '2024-01-01T00:00:00Z' }, now), 'Up About a minute');
  assert.equal(statusText({ Status: 'exited', ExitCode: 0, FinishedAt: '2024-01-01T00:00:57Z' }, now), 'Exited (0) 3 seconds ago');
  assert.equal(statusText({ Status: 'exited', ExitCode: 137, FinishedAt: '0001-01-01T00:00:00Z' }, now), 'Exited (137)');
  assert.equal(statusText({ Status: 'created' }, now), 'Created');
  assert.equal(statusText({ Status: 'paused', StartedAt: '2024-01-01T00:00:50Z' }, now), 'Up 10 seconds (Paused)');
});

test('ps table matches docker layout', () => {
  const now = Date.parse('2024-01-01T00:01:00Z');
  const c = new ContainerContext(
    {
      Id: 'f1e2d3c4b5a6978812345678',
      Names: ['/web'],
      Image: 'alpine',
      ImageID: 'sha256:aaaa',
      Command: "sh -c 'while true; do sleep 1; done'",
      Created: now / 1000 - 5,
      State: 'running',
      Status: 'Up 5 seconds',
      Ports: [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }],
    },
    true,
    now,
  );
  const out = renderList(`table ${PS_TABLE}`, PS_TABLE, [c], PS_HEADERS);
  assert.equal(
    out,
    'CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS                  NAMES\n' +
      `f1e2d3c4b5a6   alpine    "sh -c 'while true; …"   5 seconds ago   Up 5 seconds   0.0.0.0:8080->80/tcp   web\n`,
  );
  assert.equal(renderList(`table ${PS_TABLE}`, PS_TABLE, [], PS_HEADERS), 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
  const json = JSON.parse(renderList('json', PS_TABLE, [c], PS_HEADERS)) as Record<string, string>;
  assert.equal(json.ID, 'f1e2d3c4b5a6');
  assert.equal(json.Names, 'web');
});

test('ports display', () => {
  assert.equal(displayPorts([{ PrivatePort: 443, Type: 'tcp' }, { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }]), '443/tcp, [::]:8080->80/tcp');
});

test('images rows: one per tag, <none> for dangling', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  const imgs = [
    { Id: 'sha256:1111111111112222', RepoTags: ['alpine:3.19', 'alpine:latest'], Created: now / 1000 - 120, Size: 7_380_000 },
    { Id: 'sha256:3333333333334444', RepoTags: null, RepoDigests: null, Created: now / 1000 - 3600 * 24 * 3, Size: 0 },
    { Id: 'sha256:5555555555556666', RepoTags: ['localhost:5000/app:v1'], Created: now / 1000 - 10, Size: 1_000_000_000 },
  ];
  const out = renderList(`table ${IMAGES_TABLE}`, IMAGES_TABLE, imageRows(imgs, true, now), IMAGES_HEADERS);
  assert.equal(
    out,
    'REPOSITORY           TAG       IMAGE ID       CREATED          SIZE\n' +
      'alpine               3.19      111111111111   2 minutes ago    7.38MB\n' +
      'alpine               latest    111111111111   2 minutes ago    7.38MB\n' +
      '<none>               <none>    333333333333   3 days ago       0B\n' +
      'localhost:5000/app   v1        555555555555   10 seconds ago   1GB\n',
  );
  assert.deepEqual(splitRepoTag('localhost:5000/app'), ['localhost:5000/app', '']);
});

test('history rows: human and raw', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  const h = { Id: '<missing>', Created: now / 1000 - 7200, CreatedBy: '/bin/sh -c #(nop) ADD file:abc in / ', Size: 7_380_000, Comment: '' };
  const c = new HistoryContext(h, true, true, now);
  assert.equal(c.ID(), '<missing>');
  assert.equal(c.CreatedSince(), '2 hours ago');
  assert.equal(c.Size(), '7.38MB');
  assert.equal(new HistoryContext(h, true, false, now).Size(), '7380000');
  assert.equal(new HistoryContext({ ...h, CreatedBy: 'x'.repeat(60) }, true, true, now).CreatedBy().length, 45);
});

test('inspect JSON: 4-space indent and Go HTML escaping', () => {
  assert.equal(inspectJson([{ a: '<&>' }]), '[\n    {\n        "a": "\\u003c\\u0026\\u003e"\n    }\n]');
  assert.equal(inspectJson([]), '[]');
});

test('event lines', () => {
  process.env.TZ = 'UTC';
  const line = eventLine({ Type: 'container', Action: 'start', Actor: { ID: 'abc', Attributes: { name: 'web', image: 'alpine' } }, timeNano: 1704067200123456789 });
  assert.match(line, /^2024-01-01T00:00:00\.\d{9}Z container start abc \(image=alpine, name=web\)\n$/);
});

test('since/until timestamps for the API', () => {
  const now = Date.parse('2024-01-01T00:00:00Z');
  assert.equal(apiTimestamp('10m', now, parseGoDuration), String(now / 1000 - 600));
  assert.equal(apiTimestamp('1704067200', now, parseGoDuration), '1704067200');
  assert.equal(apiTimestamp('2024-01-01T00:00:00Z', now, parseGoDuration), '1704067200');
  assert.equal(rfc3339NanoFixed(1_704_067_200_000_000_001n).slice(19, 29), '.000000001');
});
