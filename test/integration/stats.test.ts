/**
 * stats (API JSON shape, berth and docker `stats --no-stream`) and HEALTHCHECK-driven health:
 * starting -> healthy -> unhealthy, State.Health, ps "(healthy)" and health_status events.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';

const T = { timeout: 120_000 };
const cells = (line: string): string[] => line.trim().split(/\s{2,}/);

describe('stats and health', { timeout: 600_000 }, () => {
  let d: TestDaemon;
  let id = '';
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    // A little CPU and memory so the figures aren't all zero.
    id = expectOk('run', await d.berth(['run', '-d', '--name', 's1', '-m', '64m', '--pids-limit', '50', 'busybox', 'sh', '-c', 'while true; do i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; sleep 0.05; done'])).trim();
  });
  after(async () => {
    await d?.stop();
  });

  it("answers docker's stats JSON from the cgroup v1 files", T, async () => {
    const r = await d.api('GET', `/containers/${id}/stats?stream=false`);
    assert.equal(r.status, 200, r.text);
    const s = r.json as Record<string, any>;
    assert.equal(s.id, id);
    assert.equal(s.name, '/s1');
    assert.ok(Date.parse(s.read) > Date.parse(s.preread), 'read after preread');
    assert.ok(s.cpu_stats.cpu_usage.total_usage > 0);
    assert.ok(s.cpu_stats.cpu_usage.total_usage >= s.precpu_stats.cpu_usage.total_usage);
    assert.ok(Array.isArray(s.cpu_stats.cpu_usage.percpu_usage));
    for (const k of ['usage_in_kernelmode', 'usage_in_usermode']) assert.equal(typeof s.cpu_stats.cpu_usage[k], 'number');
    assert.ok(s.cpu_stats.system_cpu_usage > s.precpu_stats.system_cpu_usage);
    assert.ok(s.cpu_stats.online_cpus >= 1);
    assert.deepEqual(Object.keys(s.cpu_stats.throttling_data).sort(), ['periods', 'throttled_periods', 'throttled_time']);
    assert.ok(s.memory_stats.usage > 0);
    assert.equal(s.memory_stats.limit, 64 * 1024 * 1024);
    assert.equal(typeof s.memory_stats.stats.total_inactive_file, 'number');
    assert.ok(s.pids_stats.current >= 1);
    assert.equal(s.pids_stats.limit, 50);
    assert.ok(Array.isArray(s.blkio_stats.io_service_bytes_recursive));
    assert.equal(s.num_procs, 0);
    // The container's own interfaces (not the loopback), read in its network namespace.
    assert.deepEqual(Object.keys(s.networks), ['eth0']);
    assert.deepEqual(Object.keys(s.networks.eth0).sort(), ['rx_bytes', 'rx_dropped', 'rx_errors', 'rx_packets', 'tx_bytes', 'tx_dropped', 'tx_errors', 'tx_packets']);

    const oneShot = (await d.api('GET', `/containers/${id}/stats?stream=false&one-shot=true`)).json as Record<string, any>;
    assert.equal(oneShot.preread, '0001-01-01T00:00:00Z');
    assert.equal(oneShot.precpu_stats.cpu_usage.total_usage, 0);

    // stream: one document per line, about a second apart, until the client leaves
    const lines = await new Promise<string[]>((resolve, reject) => {
      const req = request({ socketPath: d.socket, path: `/containers/${id}/stats`, method: 'GET' }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
          const got = text.split('\n').filter(Boolean);
          if (got.length >= 2) {
            req.destroy();
            resolve(got);
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', (err) => (err.message.includes('socket hang up') ? undefined : reject(err)));
      req.end();
    });
    const [first, second] = lines.map((l) => JSON.parse(l) as { read: string; preread: string });
    assert.equal(second!.preread, first!.read);
    const gap = Date.parse(second!.read) - Date.parse(first!.read);
    assert.ok(gap >= 900 && gap < 2000, `samples ${gap} ms apart`);
  });

  it('berth stats --no-stream prints docker columns; --format works', T, async () => {
    const r = await d.berth(['stats', '--no-stream']);
    assert.equal(r.code, 0, describeResult('stats --no-stream', r));
    const [header, row] = r.stdout.trimEnd().split('\n');
    assert.deepEqual(cells(header!), ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']);
    const c = cells(row!);
    assert.equal(c[0], id.slice(0, 12));
    assert.equal(c[1], 's1');
    assert.match(c[2]!, /^\d+\.\d\d%$/);
    assert.match(c[3]!, /^[\d.]+(B|KiB|MiB) \/ 64MiB$/);
    assert.match(c[4]!, /^\d+\.\d\d%$/);
    assert.match(c[5]!, /^[\d.]+k?B \/ [\d.]+k?B$/);
    assert.match(c[7]!, /^\d+$/);
    const f = expectOk('stats --format', await d.berth(['stats', '--no-stream', '--format', '{{.Name}}: {{.PIDs}}', 's1']));
    assert.match(f, /^s1: \d+\n$/);
    const docker = await d.docker(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}}', 's1']);
    assert.equal(docker.code, 0, describeResult('docker stats --no-stream', docker));
    assert.match(docker.stdout, /^s1 [\d.]+(B|KiB|MiB) \/ 64MiB\n$/);
  });

  it('counts network traffic per interface; docker stats shows it as NET I/O', T, async () => {
    expectOk('network create', await d.berth(['network', 'create', '--subnet', '10.219.47.0/24', 'statsnet']));
    try {
      expectOk('run a', await d.berth(['run', '-d', '--name', 'net-a', '--network', 'statsnet', 'busybox', 'sleep', '300']));
      expectOk('run b', await d.berth(['run', '-d', '--name', 'net-b', '--network', 'statsnet', 'busybox', 'sleep', '300']));
      const eth0 = async (name: string): Promise<Record<string, number>> => {
        const r = await d.api('GET', `/containers/${name}/stats?stream=false&one-shot=true`);
        assert.equal(r.status, 200, r.text);
        return (r.json as { networks: Record<string, Record<string, number>> }).networks.eth0!;
      };
      const before = await eth0('net-a');
      // 20 pings of 1000 bytes from a to b: both directions carry at least 20 kB.
      expectOk('ping', await d.berth(['exec', 'net-a', 'ping', '-c', '20', '-i', '0.05', '-s', '1000', '-q', 'net-b']));
      const after = await eth0('net-a');
      assert.ok(after.tx_bytes - before.tx_bytes >= 20_000, `tx ${before.tx_bytes} -> ${after.tx_bytes}`);
      assert.ok(after.rx_bytes - before.rx_bytes >= 20_000, `rx ${before.rx_bytes} -> ${after.rx_bytes}`);
      assert.ok(after.tx_packets - before.tx_packets >= 20);
      assert.ok(after.rx_packets - before.rx_packets >= 20);
      assert.equal(after.rx_errors, 0);
      const b = await eth0('net-b');
      assert.ok(b.rx_bytes >= 20_000 && b.tx_bytes >= 20_000, JSON.stringify(b));
      const docker = await d.docker(['stats', '--no-stream', '--format', '{{.Name}} {{.NetIO}}', 'net-a']);
      assert.equal(docker.code, 0, describeResult('docker stats', docker));
      const m = /^net-a ([\d.]+)kB \/ ([\d.]+)kB\n$/.exec(docker.stdout);
      assert.ok(m && Number(m[1]) >= 20 && Number(m[2]) >= 20, docker.stdout);
    } finally {
      await d.berth(['rm', '-f', 'net-a', 'net-b']);
      await d.berth(['network', 'rm', 'statsnet']);
    }
  });

  it('runs HEALTHCHECKs: starting -> healthy -> unhealthy, with events and ps status', T, async () => {
    const since = Math.floor(Date.now() / 1000);
    const hid = expectOk(
      'run',
      await d.berth(['run', '-d', '--name', 'h1', '--health-cmd', 'test -f /tmp/ok && echo fine', '--health-interval', '300ms', '--health-retries', '2', '--health-timeout', '2s', 'busybox', 'sh', '-c', 'touch /tmp/ok; sleep 2; rm /tmp/ok; sleep 300']),
    ).trim();
    const health = async (): Promise<{ Status: string; FailingStreak: number; Log: Array<{ ExitCode: number; Output: string }> }> =>
      ((await d.api('GET', `/containers/${hid}/json`)).json as { State: { Health: any } }).State.Health;
    assert.equal((await health()).Status, 'starting');
    assert.match(expectOk('ps', await d.berth(['ps', '--filter', 'name=h1', '--format', '{{.Status}}'])), /\(health: starting\)/);
    const healthy = await waitFor(async () => ((await health()).Status === 'healthy' ? health() : undefined), { timeoutMs: 10_000 });
    assert.ok(healthy, JSON.stringify(await health()));
    assert.equal(healthy.Log.at(-1)!.Output, 'fine\n');
    assert.match(expectOk('ps', await d.berth(['ps', '--filter', 'name=h1', '--format', '{{.Status}}'])), /^Up .* \(healthy\)\n$/);
    const unhealthy = await waitFor(async () => ((await health()).Status === 'unhealthy' ? health() : undefined), { timeoutMs: 15_000 });
    assert.ok(unhealthy, JSON.stringify(await health()));
    assert.ok(unhealthy.FailingStreak >= 2);
    assert.notEqual(unhealthy.Log.at(-1)!.ExitCode, 0);
    const events = await d.berth(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', `container=${hid}`, '--format', '{{.Action}}']);
    const actions = events.stdout.split('\n').filter((a) => a.startsWith('health_status'));
    assert.deepEqual(actions, ['health_status: healthy', 'health_status: unhealthy'], events.stdout);
    expectOk('rm -f', await d.berth(['rm', '-f', 'h1']));
    const none = expectOk('run', await d.berth(['run', '-d', '--name', 'h2', '--no-healthcheck', 'busybox', 'sleep', '5'])).trim();
    assert.equal(expectOk('inspect', await d.berth(['inspect', '-f', '{{json .Config.Healthcheck.Test}}', none])).trim(), '["NONE"]');
    expectOk('rm -f', await d.berth(['rm', '-f', 'h2']));
  });
});
