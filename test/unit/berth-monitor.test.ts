/**
 * berth-monitor's protocol, driven through berth's own launch code (launchMonitor, launchExec)
 * with a fake OCI runtime: a shell script that, like `runc create` / `runc exec -d`, starts the
 * "container" in the background with the monitor's stdio, writes its pid file and exits. So the
 * sync/start/attach pipes, the k8s-file log, the attach socket, the exit files and the config
 * keys are checked without root or runc; test/integration/monitor.test.ts does the real thing.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchMonitor, readPid, type MonitorLaunch } from '../../src/runtime/conmon.js';
import { launchExec } from '../../src/runtime/exec.js';
import { SeqpacketSocket } from '../../src/sys/seqpacket.js';
import { CONMON_PATH, defaultMonitorPath, loadConfig, parseDaemonArgs } from '../../src/daemon/config.js';
import { processesMentioning } from '../helpers/cleanup.js';

const MONITOR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'berth-monitor');
const RECORD = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d (stdout|stderr) ([FP]) (.*)$/;

/** `RUNTIME [--root=X] create --bundle B --pid-file P ID` or `RUNTIME exec --pid-file P --process F --detach ID`. */
const FAKE_RUNTIME = `#!/bin/sh
all="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --pid-file) pidfile=$2; shift ;;
    --bundle) dir=$2; shift ;;
    --process) dir=$(dirname "$2"); shift ;;
  esac
  shift
done
# Like runc run, the spec is read first: with --run, config.json is the monitor's link to the
# start pipe and the read waits for berthd's spec; an empty one fails before anything exists.
case " $all " in *" run "*)
  cat "$dir/config.json" > "$dir/spec-read" || exit 1
  if [ ! -s "$dir/spec-read" ]; then echo 'time="now" level=error msg="config.json: unexpected end of JSON input"' >&2; exit 1; fi ;;
esac
echo "$all" > "$dir/argv"
if [ -e "$dir/fail" ]; then echo 'time="now" level=error msg="fake runtime: no such thing"' >&2; exit 1; fi
# Through fd 3: sh gives a background job /dev/null as its stdin unless it is redirected.
# The container starts once this "runtime" has exited and it was handed to the monitor (a
# subreaper), as after runc create + start: a shell reaps background jobs that end before it does.
exec 3<&0
sh -c 'while [ "$(cut -d" " -f4 /proc/$$/stat)" = "$2" ]; do sleep 0.01; done; exec sh "$1"' _ "$dir/cmd.sh" $$ <&3 3<&- &
echo $! > "$pidfile"
`;

function waitFor(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const tick = (): void => {
      if (check()) return resolve(true);
      if (Date.now() > deadline) return resolve(false);
      setTimeout(tick, 20);
    };
    tick();
  });
}

describe('berth-monitor protocol (fake runtime)', { skip: existsSync(MONITOR) ? false : `${MONITOR} not built` }, () => {
  let root: string;
  let runtime: string;
  let n = 0;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-monitor-unit-'));
    runtime = join(root, 'fake-runtime');
    writeFileSync(runtime, FAKE_RUNTIME);
    chmodSync(runtime, 0o755);
  });
  after(() => {
    // A failed test can leave a monitor (or its fake container) waiting: they all name root.
    for (const p of processesMentioning(root)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(root, { recursive: true, force: true });
  });

  /** A fresh container layout; `cmd` is the container's shell script. */
  function layout(cmd: string, extra: Partial<MonitorLaunch> = {}): MonitorLaunch {
    const id = `c${++n}`;
    const bundleDir = join(root, 'bundles', id);
    for (const d of [bundleDir, join(root, 'exits'), join(root, 'socket'), join(root, 'persist', id)]) mkdirSync(d, { recursive: true });
    writeFileSync(join(bundleDir, 'cmd.sh'), cmd);
    return {
      conmonPath: MONITOR,
      runcPath: runtime,
      runcRoot: join(root, 'runc'),
      id,
      bundleDir,
      conmonPidFile: join(bundleDir, 'conmon.pid'),
      containerPidFile: join(bundleDir, 'pidfile'),
      logPath: join(root, `${id}.log`),
      exitDir: join(root, 'exits'),
      persistDir: join(root, 'persist', id),
      socketDir: join(root, 'socket'),
      tty: false,
      openStdin: false,
      leaveStdinOpen: false,
      ...extra,
    };
  }

  const exitFile = (l: MonitorLaunch): string => join(l.exitDir, l.id);

  it('prints its version and refuses unknown options through the sync pipe', () => {
    const v = spawnSync(MONITOR, ['--version'], { encoding: 'utf8' });
    assert.equal(v.status, 0);
    assert.match(v.stdout, /^berth-monitor version /);
    const bad = spawnSync(MONITOR, ['--bogus'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env: { _OCI_SYNCPIPE: '3' } });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unknown option: --bogus/);
    const sync = (bad.output[3] as unknown as string).trim();
    assert.match(sync, /^\{"data": -1, "message": "unknown option: --bogus/);
  });

  it('reports the container pid, logs in k8s-file format with a partial last line, records the exit', async () => {
    const l = layout('echo one; echo two >&2; printf "three\\nfour"; exit 7\n');
    const { report, monitorPid } = await launchMonitor(l, 10_000);
    assert.ok(report.ok, JSON.stringify(report));
    assert.ok(monitorPid && monitorPid !== process.pid);
    assert.equal(await readPid(l.conmonPidFile), monitorPid);
    assert.ok(await waitFor(() => existsSync(exitFile(l))), `no exit file; monitor ${monitorPid} ${existsSync(`/proc/${monitorPid}`) ? 'alive' : 'gone'}; bundle: ${readdirSync(l.bundleDir).join(' ')}`);
    assert.equal(readFileSync(exitFile(l), 'utf8'), '7');
    assert.equal(readFileSync(join(l.persistDir, 'exit'), 'utf8'), '7');
    assert.deepEqual(readdirSync(l.exitDir).filter((f) => f.startsWith(`${l.id}.`)), [], 'temp files left in the exit dir');
    const records = readFileSync(l.logPath, 'utf8').trimEnd().split('\n').map((line) => {
      const m = RECORD.exec(line);
      assert.ok(m, `not a k8s-file record: ${line}`);
      return `${m[1]} ${m[2]} ${m[3]}`;
    });
    assert.deepEqual(records.filter((r) => r.startsWith('stdout')), ['stdout F one', 'stdout F three', 'stdout P four']);
    assert.deepEqual(records.filter((r) => r.startsWith('stderr')), ['stderr F two']);
    assert.ok(await waitFor(() => !existsSync(join(l.socketDir, l.id))), 'attach symlink left behind');
  });

  it('passes runc\'s error back as the start failure', async () => {
    const l = layout('exit 0\n');
    writeFileSync(join(l.bundleDir, 'fail'), '');
    const { report } = await launchMonitor(l, 10_000);
    assert.deepEqual(report, { ok: false, message: 'fake runtime: no such thing' });
    assert.equal(existsSync(exitFile(l)), false);
  });

  it('writes a signal exit as 128+N, and none: keeps no log', async () => {
    const l = layout('kill -TERM $$\n', { noLog: true });
    const { report } = await launchMonitor(l, 10_000);
    assert.ok(report.ok);
    assert.ok(await waitFor(() => existsSync(exitFile(l))));
    assert.equal(readFileSync(exitFile(l), 'utf8'), '143');
    assert.equal(existsSync(l.logPath), false);
  });

  it('serves the attach socket: output packets marked 2/3, input to stdin, EOF closes stdin', async () => {
    const l = layout('while read x; do echo "got $x"; echo "err $x" >&2; done; echo bye\n', { openStdin: true });
    const { report } = await launchMonitor(l, 10_000);
    assert.ok(report.ok);
    const packets: Buffer[] = [];
    let ended = false;
    const sock = SeqpacketSocket.connect(join(l.socketDir, l.id, 'attach'), {
      onPacket: (p) => packets.push(Buffer.from(p)),
      onEnd: () => (ended = true),
    });
    sock.write(Buffer.from('a\nb\n'));
    sock.shutdownWrite();
    assert.ok(await waitFor(() => ended), 'the socket did not end with the container');
    sock.close();
    const out = packets.filter((p) => p[0] === 2).map((p) => p.subarray(1).toString()).join('');
    const err = packets.filter((p) => p[0] === 3).map((p) => p.subarray(1).toString()).join('');
    assert.equal(out, 'got a\ngot b\nbye\n');
    assert.equal(err, 'err a\nerr b\n');
    assert.ok(await waitFor(() => existsSync(exitFile(l))));
    assert.equal(readFileSync(exitFile(l), 'utf8'), '0');
  });

  it('--run: the runtime goes on only with the spec beforeStart gives, whose client gets all of a short run\'s output', async () => {
    const l = layout('echo early; echo late >&2\n');
    const packets: Buffer[] = [];
    let ended = false;
    let sock: SeqpacketSocket | undefined;
    const spec = JSON.stringify({ ociVersion: '1.0.2', note: 'x'.repeat(100_000) });
    const { report } = await launchMonitor(
      {
        ...l,
        beforeStart: async () => {
          assert.match(readlinkSync(join(l.bundleDir, 'config.json')), /^\/proc\/\d+\/fd\/\d+$/);
          // The runtime is up already, held by the spec it reads.
          await new Promise((resolve) => setTimeout(resolve, 100));
          assert.equal(existsSync(join(l.bundleDir, 'argv')), false, 'the runtime waits for the spec');
          sock = SeqpacketSocket.connect(join(l.socketDir, l.id, 'attach'), { onPacket: (p) => packets.push(Buffer.from(p)), onEnd: () => (ended = true) });
          await new Promise((resolve) => setTimeout(resolve, 50));
          return spec;
        },
      },
      10_000,
    );
    assert.ok(report.ok, JSON.stringify(report));
    // Larger than a pipe's buffer: written as the runtime reads.
    assert.equal(readFileSync(join(l.bundleDir, 'spec-read'), 'utf8'), spec);
    assert.match(readFileSync(join(l.bundleDir, 'argv'), 'utf8'), /\brun --detach --bundle \S+ --pid-file \S+ c\d+$/m);
    assert.ok(await waitFor(() => ended), 'the socket did not end with the container');
    sock?.close();
    assert.equal(packets.filter((p) => p[0] === 2).map((p) => p.subarray(1).toString()).join(''), 'early\n');
    assert.equal(packets.filter((p) => p[0] === 3).map((p) => p.subarray(1).toString()).join(''), 'late\n');
    assert.ok(await waitFor(() => existsSync(exitFile(l))));
    assert.equal(readFileSync(exitFile(l), 'utf8'), '0');
  });

  it('--run: a beforeStart that fails takes the monitor down before the runtime ran', async () => {
    const l = layout('echo never\n');
    await assert.rejects(
      launchMonitor({ ...l, beforeStart: () => Promise.reject(new Error('no attach for you')) }, 10_000),
      /no attach for you/,
    );
    const monitorPid = await readPid(l.conmonPidFile);
    assert.ok(monitorPid);
    assert.ok(await waitFor(() => !existsSync(`/proc/${monitorPid}/stat`) || readFileSync(`/proc/${monitorPid}/stat`, 'utf8').includes(') Z')), 'the monitor is gone');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(existsSync(join(l.bundleDir, 'argv')), false, 'the runtime never went past its spec');
    assert.equal(processesMentioning(l.bundleDir).length, 0, 'the waiting runtime went with the monitor');
    assert.equal(existsSync(l.logPath) ? readFileSync(l.logPath, 'utf8') : '', '');
  });

  it('keeps stdin open past a client\'s EOF with --leave-stdin-open', async () => {
    const l = layout('read x; echo "first $x"; read y; echo "second $y"\n', { openStdin: true, leaveStdinOpen: true });
    const { report } = await launchMonitor(l, 10_000);
    assert.ok(report.ok);
    const session = async (input: string): Promise<void> => {
      const sock = SeqpacketSocket.connect(join(l.socketDir, l.id, 'attach'), { onPacket: () => undefined, onEnd: () => undefined });
      sock.write(Buffer.from(input));
      sock.shutdownWrite();
      await sock.drained();
      await new Promise((r) => setTimeout(r, 100));
      sock.close();
    };
    await session('one\n');
    await session('two\n');
    assert.ok(await waitFor(() => existsSync(exitFile(l))));
    assert.equal(readFileSync(l.logPath, 'utf8').split('\n').filter(Boolean).map((r) => RECORD.exec(r)?.[3]).join('|'), 'first one|second two');
  });

  it('runs an exec session: start pipe, attach-ready, pid then exit code on the sync pipe', async () => {
    const sessionDir = join(root, 'execs', 'e1');
    mkdirSync(sessionDir, { recursive: true });
    writeFileSync(join(sessionDir, 'cmd.sh'), 'echo exec-out; exit 4\n');
    const proc = await launchExec({
      conmonPath: MONITOR,
      runcPath: runtime,
      runcRoot: join(root, 'runc'),
      containerId: 'c-exec',
      execId: 'e1',
      sessionDir,
      socketDir: join(root, 'socket'),
      process: { args: ['ignored'] },
      tty: false,
      stdin: false,
      attach: true,
    });
    const packets: Buffer[] = [];
    const sock = SeqpacketSocket.connect(proc.attachSocketPath, { onPacket: (p) => packets.push(Buffer.from(p)), onEnd: () => undefined });
    const started = await proc.start();
    assert.ok(started.ok, JSON.stringify(started));
    assert.equal(await proc.exited, 4);
    sock.close();
    assert.equal(packets.map((p) => p.subarray(1).toString()).join(''), 'exec-out\n');
    await proc.cleanup();
  });

  it('daemon config: --monitor / monitor-path pick it, conmon-path still works, berth-monitor by default', async () => {
    const flags = parseDaemonArgs(['--monitor', '/m']);
    assert.deepEqual(flags.kind === 'run' && flags.flags, { conmonPath: '/m' });
    const legacy = parseDaemonArgs(['--conmon', '/c']);
    assert.deepEqual(legacy.kind === 'run' && legacy.flags, { conmonPath: '/c' });
    const file = join(root, 'daemon.json');
    writeFileSync(file, JSON.stringify({ 'monitor-path': '/usr/bin/conmon' }));
    assert.equal((await loadConfig({ configFile: file })).conmonPath, '/usr/bin/conmon');
    writeFileSync(file, JSON.stringify({ 'conmon-path': '/opt/conmon' }));
    assert.equal((await loadConfig({ configFile: file })).conmonPath, '/opt/conmon');
    writeFileSync(file, JSON.stringify({ 'conmon-path': '/a', 'monitor-path': '/b' }));
    await assert.rejects(loadConfig({ configFile: file }), /name the same setting/);
    // This build has one: DIST/native/berth-monitor, next to DIST/src/daemon/config.js.
    assert.equal(defaultMonitorPath(), existsSync(MONITOR) ? MONITOR : CONMON_PATH);
    writeFileSync(file, '{}');
    assert.equal((await loadConfig({ configFile: file })).conmonPath, defaultMonitorPath());
  });
});
