/**
 * The berth CLI against a berthd of its own: the everyday verbs, with docker's exit codes,
 * columns and messages, and nothing left on the machine once containers are removed.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTar } from '../helpers/images.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';
import { mountsUnder, processesMentioning } from '../helpers/cleanup.js';

const T = { timeout: 120_000 };
const FULL_ID = /^[0-9a-f]{64}$/;

/** docker's table output: columns are separated by at least two spaces. */
const cells = (line: string): string[] => line.trim().split(/\s{2,}/);

describe('berth CLI basics', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  const created: string[] = [];

  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await d?.stop();
  });

  const berth = async (args: string[], input?: string) => d.berth(args, { input });
  const inspectField = async (name: string, template: string): Promise<string> =>
    expectOk(`inspect ${name}`, await berth(['inspect', '-f', template, name])).trim();

  it('imports the busybox rootfs as busybox:latest', T, async () => {
    const r = await berth(['import', await busyboxTar(), 'busybox:latest']);
    assert.match(expectOk('import', r).trim(), /^sha256:[0-9a-f]{64}$/, describeResult('import', r));
    const images = expectOk('images', await berth(['images']));
    const [header, ...rows] = images.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE']);
    const row = rows.map(cells).find((c) => c[0] === 'busybox');
    assert.ok(row, `busybox missing from:\n${images}`);
    assert.equal(row[1], 'latest');
    assert.match(row[2]!, /^[0-9a-f]{12}$/);
  });

  it('run --rm prints the output and exits 0, leaving no container', T, async () => {
    const r = await berth(['run', '--rm', 'busybox', 'echo', 'hi']);
    assert.equal(r.code, 0, describeResult('run --rm echo hi', r));
    assert.equal(r.stdout, 'hi\n');
    const left = await waitFor(async () => expectOk('ps -aq', await berth(['ps', '-a', '-q'])).trim() === '', { timeoutMs: 5_000 });
    assert.ok(left, 'the --rm container is still listed by ps -a');
  });

  it("exits with the container's own exit code", T, async () => {
    const r = await berth(['run', '--rm', 'busybox', 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3, describeResult('run sh -c "exit 3"', r));
  });

  it('exits 127 when the command does not exist and 126 when it cannot be run', T, async () => {
    const missing = await berth(['run', '--rm', 'busybox', 'no-such-command']);
    assert.equal(missing.code, 127, describeResult('run no-such-command', missing));
    assert.match(missing.stderr, /no-such-command/);
    const notExecutable = await berth(['run', '--rm', 'busybox', '/etc/passwd']);
    assert.equal(notExecutable.code, 126, describeResult('run /etc/passwd', notExecutable));
  });

  it('passes stdin with -i', T, async () => {
    try {
      const r = await d.berth(['run', '--rm', '-i', '--name', 'stdin-cat', 'busybox', 'cat'], { input: 'through stdin\n', timeoutMs: 20_000 });
      assert.equal(r.code, 0, describeResult('run -i cat', r));
      assert.equal(r.stdout, 'through stdin\n');
    } finally {
      // If stdin never reached cat, the container would keep running and upset later ps checks.
      await berth(['rm', '-f', 'stdin-cat']);
    }
  });

  it('-H wins over BERTH_HOST', T, async () => {
    const r = await d.berth(['-H', d.host, 'ps'], { env: { BERTH_HOST: 'unix:///nonexistent/berth.sock' } });
    assert.equal(r.code, 0, describeResult('-H ps', r));
  });

  it('runs a detached container and shows it in ps, inspect', T, async () => {
    const r = await berth(['run', '-d', '--name', 'web', 'busybox', 'sleep', '100']);
    const id = expectOk('run -d', r).trim();
    assert.match(id, FULL_ID, describeResult('run -d', r));
    created.push(id);

    const ps = expectOk('ps', await berth(['ps']));
    const [header, ...rows] = ps.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']);
    const row = rows.find((l) => l.startsWith(id.slice(0, 12)));
    assert.ok(row, `web missing from ps:\n${ps}`);
    const c = cells(row);
    // PORTS is empty, so the row has one cell fewer than the header.
    assert.deepEqual([c[0], c[1], c[2], c.at(-1)], [id.slice(0, 12), 'busybox', '"sleep 100"', 'web']);
    assert.match(row, /\bUp (Less than a second|\d+ seconds?|About a minute)\b/);

    assert.equal(expectOk('ps -q', await berth(['ps', '-q'])).trim(), id.slice(0, 12));
    assert.equal(expectOk('ps --no-trunc -q', await berth(['ps', '-q', '--no-trunc'])).trim(), id);
    assert.equal(expectOk('ps --format', await berth(['ps', '--format', '{{.Names}}'])).trim(), 'web');
    assert.equal(await inspectField('web', '{{.State.Running}}'), 'true');
    assert.equal(await inspectField(id.slice(0, 12), '{{.Name}}'), '/web');

    const full = JSON.parse(expectOk('inspect', await berth(['inspect', 'web']))) as Array<{ Id: string; Name: string; Config: { Cmd: string[]; Image: string }; State: { Status: string; Pid: number } }>;
    assert.equal(full.length, 1);
    assert.equal(full[0]!.Id, id);
    assert.deepEqual(full[0]!.Config.Cmd, ['sleep', '100']);
    assert.equal(full[0]!.Config.Image, 'busybox');
    assert.equal(full[0]!.State.Status, 'running');
    assert.ok(full[0]!.State.Pid > 0);
  });

  it('keeps stdout and stderr apart in logs, and wait prints the exit code', T, async () => {
    const id = expectOk('run -d', await berth(['run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'echo out-line; echo err-line >&2; exit 4'])).trim();
    created.push(id);
    const w = await berth(['wait', 'talker']);
    assert.equal(expectOk('wait', w).trim(), '4');
    const logs = await berth(['logs', 'talker']);
    assert.equal(logs.code, 0, describeResult('logs', logs));
    assert.equal(logs.stdout, 'out-line\n');
    assert.equal(logs.stderr, 'err-line\n');
    assert.equal(await inspectField('talker', '{{.State.ExitCode}}'), '4');
  });

  it('stop -t 1 stops within the grace period; ps -a shows Exited', T, async () => {
    const startedAt = Date.now();
    const r = await berth(['stop', '-t', '1', 'web']);
    assert.equal(expectOk('stop', r).trim(), 'web');
    // busybox sleep as PID 1 ignores SIGTERM, so this is the SIGKILL after 1 s, not docker's default 10 s.
    assert.ok(Date.now() - startedAt < 8_000, `stop -t 1 took ${Date.now() - startedAt} ms`);
    assert.equal(await inspectField('web', '{{.State.Running}}'), 'false');
    assert.equal(await inspectField('web', '{{.State.Status}}'), 'exited');
    assert.equal(expectOk('ps', await berth(['ps', '-q'])).trim(), '', 'ps without -a still lists a stopped container');
    const all = expectOk('ps -a', await berth(['ps', '-a']));
    const row = all.split('\n').find((l) => l.trimEnd().endsWith('web'));
    assert.ok(row, `web missing from ps -a:\n${all}`);
    assert.match(row, /Exited \(\d+\) .*ago/);
  });

  it('refuses a name that is taken: 409 from the API, exit 125 from run', T, async () => {
    const api = await d.api('POST', '/containers/create?name=web', { Image: 'busybox', Cmd: ['true'] });
    assert.equal(api.status, 409, api.text);
    assert.match((api.json as { message: string }).message, /The container name "\/web" is already in use by container "[0-9a-f]{64}"/);
    const cli = await berth(['run', '--name', 'web', 'busybox', 'true']);
    assert.equal(cli.code, 125, describeResult('run --name web (taken)', cli));
    assert.match(cli.stderr, /already in use/);
  });

  it('will not rm a running container without -f', T, async () => {
    const id = expectOk('run -d', await berth(['run', '-d', '--name', 'busy', 'busybox', 'sleep', '100'])).trim();
    created.push(id);
    const plain = await berth(['rm', 'busy']);
    assert.notEqual(plain.code, 0, describeResult('rm running', plain));
    assert.match(plain.stderr, /running/i);
    const api = await d.api('DELETE', '/containers/busy');
    assert.equal(api.status, 409, api.text);
    assert.equal(await inspectField('busy', '{{.State.Running}}'), 'true');
    assert.equal(expectOk('rm -f', await berth(['rm', '-f', 'busy'])).trim(), 'busy');
  });

  it('rm removes stopped containers; unknown names are an error', T, async () => {
    const r = await berth(['rm', 'web', 'talker']);
    assert.deepEqual(expectOk('rm', r).trim().split('\n'), ['web', 'talker']);
    assert.equal(expectOk('ps -aq', await berth(['ps', '-a', '-q'])).trim(), '');
    const missing = await berth(['rm', 'no-such-container']);
    assert.equal(missing.code, 1, describeResult('rm missing', missing));
    assert.match(missing.stderr, /No such container: no-such-container/);
  });

  it('leaves no mounts or monitors behind for removed containers', T, async () => {
    const overlays = mountsUnder(d.dataRoot).filter((m) => m.fsType === 'overlay');
    assert.deepEqual(overlays.map((m) => m.mountPoint), []);
    const mentioningIds = mountsUnder(d.dir).filter((m) => created.some((id) => m.mountPoint.includes(id) || m.source.includes(id)));
    assert.deepEqual(mentioningIds, []);
    const procs = created.flatMap((id) => processesMentioning(id));
    assert.deepEqual(procs.map((p) => p.argv.join(' ')), []);
  });

  it('tag, images, history and rmi', T, async () => {
    const busyboxId = await inspectField('busybox:latest', '{{.Id}}');
    assert.match(busyboxId, /^sha256:[0-9a-f]{64}$/);
    const tag = await berth(['tag', 'busybox:latest', 'mybox:v1']);
    assert.equal(tag.code, 0, describeResult('tag', tag));
    assert.equal(tag.stdout, '');
    const listed = expectOk('images --format', await berth(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).trim().split('\n').sort();
    assert.deepEqual(listed, [`busybox:latest ${busyboxId.slice(7, 19)}`, `mybox:v1 ${busyboxId.slice(7, 19)}`]);

    const history = expectOk('history', await berth(['history', 'mybox:v1']));
    const [header, ...rows] = history.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']);
    assert.ok(rows.length >= 1, history);
    assert.match(history, /Imported from -/);

    const rmi = await berth(['rmi', 'mybox:v1']);
    assert.match(expectOk('rmi', rmi), /Untagged: mybox:v1/);
    assert.doesNotMatch(expectOk('images', await berth(['images'])), /mybox/);
    const missing = await berth(['rmi', 'nosuch:tag']);
    assert.notEqual(missing.code, 0, describeResult('rmi missing', missing));
    assert.match(missing.stderr, /No such image: nosuch:tag/);
  });
});
