/**
 * The start path's shortcuts, each against a real berthd: an --rm container's overlay is
 * mounted volatile (and only its), the monitor starting while the container is prepared still
 * reports a preparation's own failure and leaves nothing behind, and networking writes /etc
 * files for every network mode now that the lifecycle leaves hosts and resolv.conf to it; a
 * created container's monitor and runc come up ahead of its start, waiting for the spec.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';
import { mountsUnder, processesMentioning, processName } from '../helpers/cleanup.js';

const T = { timeout: 120_000 };

/** The super-block options of the overlay mounted on DIR (mountinfo's last field). */
function overlayOptions(dir: string): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    if (fields[4] !== dir) continue;
    const sep = fields.indexOf('-');
    return fields[sep + 3];
  }
  return undefined;
}

describe('start path', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let busyPort: Server | undefined;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    busyPort?.close();
    await d?.stop();
  });

  it('mounts an --rm container\'s overlay volatile, and a kept container\'s not', T, async () => {
    const ephemeral = expectOk('run --rm -d', await d.berth(['run', '-d', '--rm', 'busybox', 'sleep', '30'])).trim();
    const kept = expectOk('run -d', await d.berth(['run', '-d', 'busybox', 'sleep', '30'])).trim();
    try {
      const merged = (id: string): string => `${d.dataRoot}/overlay/containers/${id}/merged`;
      const ephemeralOptions = overlayOptions(merged(ephemeral));
      const keptOptions = overlayOptions(merged(kept));
      assert.ok(ephemeralOptions, 'the --rm container has its overlay mounted');
      assert.ok(keptOptions, 'the kept container has its overlay mounted');
      // Newer kernels show the option as fsync=volatile.
      assert.match(ephemeralOptions, /(^|,)(fsync=)?volatile(,|$)/);
      assert.doesNotMatch(keptOptions, /(^|,)(fsync=)?volatile(,|$)/);
      // Writes and syncs inside work as ever; only their durability across a crash differs.
      const r = await d.berth(['exec', ephemeral, 'sh', '-c', 'echo data > /f && sync && cat /f']);
      assert.equal(r.stdout, 'data\n', describeResult('exec', r));
    } finally {
      await d.berth(['rm', '-f', ephemeral, kept]);
    }
    assert.deepEqual(mountsUnder(`${d.dataRoot}/overlay`), [], 'no overlay stays mounted');
  });

  it('a failed preparation reports its own error and leaves no monitor, mount or namespace', T, async () => {
    // A host port in use: the networking hook fails while the monitor is coming up.
    busyPort = createServer();
    await new Promise<void>((resolve) => busyPort!.listen(0, '127.0.0.1', resolve));
    const port = (busyPort.address() as { port: number }).port;
    const r = await d.berth(['run', '--name', 'portclash', '-p', `127.0.0.1:${port}:80`, 'busybox', 'true']);
    assert.notEqual(r.code, 0, describeResult('run', r));
    assert.match(r.stderr, /address already in use|port is already allocated/);
    assert.doesNotMatch(r.stderr, /monitor|attach socket/, 'the monitor\'s side is not what is reported');
    const info = await d.inspectContainer('portclash');
    const id = info.Id as string;
    await waitFor(() => processesMentioning(id).filter((p) => processName(p.pid) === 'berth-monitor').length === 0 || undefined);
    assert.deepEqual(mountsUnder(`${d.dataRoot}/overlay/containers/${id}`), [], 'the overlay was unmounted');
    assert.deepEqual(mountsUnder(`${d.execRoot}/netns`), [], 'no namespace stays pinned');
    expectOk('rm', await d.berth(['rm', 'portclash']));
  });

  it('restart of an --rm container starts it again (as dockerd does) with its address; its next exit removes it', T, async () => {
    const id = expectOk('run --rm -d', await d.berth(['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 30'])).trim();
    const before = (await d.inspectContainer(id)).NetworkSettings.IPAddress as string;
    assert.match(before, /^\d+\.\d+\.\d+\.\d+$/);
    expectOk('restart', await d.berth(['restart', '-t', '0', id]));
    const after = await d.inspectContainer(id);
    assert.equal(after.State.Running, true, 'running again after restart');
    assert.equal(after.NetworkSettings.IPAddress, before, 'its address was kept');
    // Another container must not be handed the restarted one's address.
    const other = await d.berth(['run', '--rm', 'busybox', 'sh', '-c', "ip -o -4 addr show eth0 | awk '{print $4}'"]);
    assert.equal(other.code, 0, describeResult('run other', other));
    assert.notEqual(other.stdout.trim().split('/')[0], before);
    expectOk('stop', await d.berth(['stop', '-t', '0', id]));
    await waitFor(async () => ((await d.api('GET', `/containers/${id}/json`)).status === 404 ? true : undefined));
  });

  it('writes hosts and resolv.conf for --network none and host as for the bridge', T, async () => {
    const none = await d.berth(['run', '--rm', '--network', 'none', '--hostname', 'solo', '--add-host', 'extra.example:10.9.8.7', '--dns', '10.1.2.3', 'busybox', 'cat', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']);
    assert.equal(none.code, 0, describeResult('run none', none));
    assert.match(none.stdout, /^127\.0\.0\.1\s+localhost/m);
    assert.match(none.stdout, /^10\.9\.8\.7\s+extra\.example$/m);
    assert.match(none.stdout, /^nameserver 10\.1\.2\.3$/m);
    assert.match(none.stdout, /^solo$/m);
    const host = await d.berth(['run', '--rm', '--network', 'host', 'busybox', 'cat', '/etc/resolv.conf']);
    assert.equal(host.code, 0, describeResult('run host', host));
    assert.equal(host.stdout, readFileSync('/etc/resolv.conf', 'utf8'), 'host mode shares the host\'s resolv.conf');
  });

  it('a created container\'s monitor and runc wait for its start, which uses them; rm, or no start within 5 s, drops them', T, async () => {
    const waiting = (id: string): { monitor: number[]; runc: number[] } => {
      const found = processesMentioning(id);
      return {
        monitor: found.filter((p) => processName(p.pid) === 'berth-monitor').map((p) => p.pid),
        runc: found.filter((p) => processName(p.pid) === 'runc').map((p) => p.pid),
      };
    };
    const bundle = (id: string): string => `${d.execRoot}/bundles/${id}`;

    const used = expectOk('create', await d.berth(['create', 'busybox', 'sh', '-c', 'echo prepared; exec sleep 30'])).trim();
    const before = await waitFor(() => {
      const w = waiting(used);
      return w.monitor.length === 1 && w.runc.length === 1 ? w : undefined;
    });
    assert.ok(before, 'a monitor and a runc wait for the start');
    // runc runs from berthd's sealed copy of it (so runc init skips copying itself), under its own name.
    assert.match(readlinkSync(`/proc/${before.runc[0]}/exe`), /^\/memfd:runc/);
    assert.match(readlinkSync(`${d.execRoot}/runtime/runc`), /^\/proc\/\d+\/fd\/\d+$/);
    // runc waits on its spec: config.json is the monitor's end of the start pipe.
    assert.match(readlinkSync(`${bundle(used)}/config.json`), new RegExp(`^/proc/${before.monitor[0]}/fd/\\d+$`));
    expectOk('start', await d.berth(['start', used]));
    const record = JSON.parse(readFileSync(`${d.execRoot}/monitors/${used}.json`, 'utf8')) as { monitorPid: number };
    assert.equal(record.monitorPid, before.monitor[0], 'the start used the monitor made at create');
    // Later execs read the spec from the file renamed over the link.
    assert.equal(JSON.parse(readFileSync(`${bundle(used)}/config.json`, 'utf8')).process.args.at(-1), 'echo prepared; exec sleep 30');
    assert.equal((await d.berth(['exec', used, 'echo', 'exec ok'])).stdout, 'exec ok\n');
    assert.equal(await waitFor(async () => ((await d.berth(['logs', used])).stdout === 'prepared\n' ? true : undefined)), true);
    expectOk('rm -f', await d.berth(['rm', '-f', used]));

    const removed = expectOk('create', await d.berth(['create', 'busybox', 'true'])).trim();
    assert.ok(await waitFor(() => waiting(removed).runc.length === 1 || undefined));
    expectOk('rm', await d.berth(['rm', removed]));
    assert.deepEqual(waiting(removed), { monitor: [], runc: [] }, 'rm took the waiting monitor and runc');
    assert.equal(existsSync(bundle(removed)), false, 'and their bundle');

    const late = expectOk('create', await d.berth(['create', 'busybox', 'echo', 'late'])).trim();
    assert.ok(await waitFor(() => waiting(late).runc.length === 1 || undefined));
    const dropped = await waitFor(() => (waiting(late).monitor.length === 0 && waiting(late).runc.length === 0 && !existsSync(bundle(late))) || undefined, { timeoutMs: 15_000 });
    assert.ok(dropped, 'unused for 5 s, the monitor, runc and bundle went');
    const lateStart = await d.berth(['start', '-a', late]);
    assert.equal(lateStart.stdout, 'late\n', describeResult('start -a after the drop', lateStart));
    expectOk('rm', await d.berth(['rm', late]));
    assert.equal(existsSync(bundle(late)), false);
  });
});
