/**
 * The real docker CLI against berthd for what docker users rely on beyond the basics: logging
 * drivers (HostConfig.LogConfig), image references and rmi conflicts, network errors at start,
 * create + start (-a), OOM kill, pids limit, restart policies.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { busyboxTar, importBusybox } from '../helpers/images.js';
import { dockerBin } from '../helpers/paths.js';
import { describeResult, expectOk, waitFor } from '../helpers/exec.js';

const T = { timeout: 120_000 };

describe('docker CLI against berthd: engine extras', { timeout: 900_000, skip: existsSync(dockerBin) ? false : `no docker CLI at ${dockerBin}` }, () => {
  let d: TestDaemon;
  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    await d?.stop();
  });

  const inspect = (id: string) => d.inspectContainer(id);

  it('LogConfig: json-file by default, local and none accepted, unknown drivers refused', T, async () => {
    const viaDocker = expectOk('docker create', await d.docker(['create', 'busybox', 'true'])).trim();
    assert.deepEqual((await inspect(viaDocker)).HostConfig.LogConfig, { Type: 'json-file', Config: {} });
    const viaBerth = expectOk('berth create', await d.berth(['create', 'busybox', 'true'])).trim();
    assert.deepEqual((await inspect(viaBerth)).HostConfig.LogConfig, { Type: 'json-file', Config: {} });
    const api = await d.api('POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] });
    assert.equal(api.status, 201, api.text);
    assert.deepEqual((await inspect((api.json as { Id: string }).Id)).HostConfig.LogConfig, { Type: 'json-file', Config: {} });

    const local = await d.docker(['run', '--name', 'log-local', '--log-driver', 'local', '--log-opt', 'max-size=10m', 'busybox', 'echo', 'kept']);
    assert.equal(local.code, 0, describeResult('docker run --log-driver local', local));
    assert.deepEqual((await inspect('log-local')).HostConfig.LogConfig, { Type: 'local', Config: { 'max-size': '10m' } });
    assert.equal(expectOk('docker logs', await d.docker(['logs', 'log-local'])), 'kept\n');

    // none: attached output still arrives, but nothing is kept to read back.
    const none = await d.docker(['run', '--name', 'log-none', '--log-driver', 'none', 'busybox', 'echo', 'attached']);
    assert.equal(none.code, 0, describeResult('docker run --log-driver none', none));
    assert.equal(none.stdout, 'attached\n');
    assert.deepEqual((await inspect('log-none')).HostConfig.LogConfig, { Type: 'none', Config: {} });
    const logs = await d.docker(['logs', 'log-none']);
    assert.notEqual(logs.code, 0);
    assert.match(logs.stderr, /Error response from daemon: configured logging driver does not support reading/);

    const unknown = await d.docker(['run', '--rm', '--log-driver', 'nosuchdriver', 'busybox', 'true']);
    assert.equal(unknown.code, 125, describeResult('docker run --log-driver nosuchdriver', unknown));
    assert.match(unknown.stderr, /Error response from daemon: logger: no log driver named 'nosuchdriver' is registered/);
    const badOpt = await d.docker(['create', '--log-opt', 'frobnicate=1', 'busybox', 'true']);
    assert.equal(badOpt.code, 1, describeResult('docker create --log-opt frobnicate=1', badOpt));
    assert.match(badOpt.stderr, /unknown log opt 'frobnicate' for json-file log driver/);
    expectOk('rm', await d.docker(['rm', '-f', viaDocker, viaBerth, (api.json as { Id: string }).Id, 'log-local', 'log-none']));
  });

  it('images -f reference narrows RepoTags; rmi of the last tag of a used image is a conflict, other tags just untag', T, async () => {
    expectOk('docker tag', await d.docker(['tag', 'busybox', 'refs/one:a']));
    expectOk('docker tag', await d.docker(['tag', 'busybox', 'refs/two:b']));
    const listed = expectOk('docker images -f', await d.docker(['images', '-f', 'reference=refs/one', '--format', '{{.Repository}}:{{.Tag}}']));
    assert.equal(listed, 'refs/one:a\n');
    const api = await d.api('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify({ reference: ['refs/*:*'] }))}`);
    assert.deepEqual((api.json as Array<{ RepoTags: string[] }>).map((i) => [...i.RepoTags].sort()), [['refs/one:a', 'refs/two:b']]);
    expectOk('docker rmi', await d.docker(['rmi', 'refs/one:a', 'refs/two:b']));

    const imageId = expectOk('docker import', await d.docker(['import', await busyboxTar(), 'imp:1'])).trim();
    const user = expectOk('docker create', await d.docker(['create', 'imp:1', 'true'])).trim();
    const refused = await d.docker(['rmi', 'imp:1']);
    assert.equal(refused.code, 1, describeResult('docker rmi imp:1', refused));
    assert.equal(
      refused.stderr.trim(),
      `Error response from daemon: conflict: unable to remove repository reference "imp:1" (must force) - container ${user.slice(0, 12)} is using its referenced image ${imageId.slice(7, 19)}`,
    );
    // With another tag left, removing one only untags.
    expectOk('docker tag', await d.docker(['tag', 'imp:1', 'imp:2']));
    assert.equal(expectOk('docker rmi imp:1', await d.docker(['rmi', 'imp:1'])), 'Untagged: imp:1\n');
    const last = await d.docker(['rmi', 'imp:2']);
    assert.equal(last.code, 1, describeResult('docker rmi imp:2', last));
    assert.match(last.stderr, /unable to remove repository reference "imp:2" \(must force\)/);
    // By ID: the stopped container is a soft conflict.
    const byId = await d.docker(['rmi', imageId.slice(7, 19)]);
    assert.equal(byId.code, 1, describeResult('docker rmi ID', byId));
    assert.match(byId.stderr, new RegExp(`conflict: unable to delete ${imageId.slice(7, 19)} \\(must be forced\\) - image is being used by stopped container ${user.slice(0, 12)}`));
    expectOk('docker rm', await d.docker(['rm', user]));
    assert.match(expectOk('docker rmi imp:2', await d.docker(['rmi', 'imp:2'])), /^Untagged: imp:2\nDeleted: sha256:/);
  });

  it('an unknown network fails at start (404, no pull), not at create; a taken port and network connect aliases as dockerd', T, async () => {
    const r = await d.docker(['run', '--name', 'late-net', '--network', 'xtra-late', 'busybox', 'true']);
    assert.equal(r.code, 125, describeResult('docker run --network xtra-late', r));
    assert.doesNotMatch(r.stderr, /Unable to find image/);
    assert.match(r.stderr, /Error response from daemon: network xtra-late not found/);
    assert.equal((await inspect('late-net')).State.Status, 'created');
    const start = await d.api('POST', '/containers/late-net/start');
    assert.equal(start.status, 404, start.text);
    // Once the network exists, the same container starts on it.
    expectOk('network create', await d.docker(['network', 'create', '--subnet', '10.219.46.0/24', 'xtra-late']));
    expectOk('docker start', await d.docker(['start', 'late-net']));
    const info = await inspect('late-net');
    assert.deepEqual(Object.keys(info.NetworkSettings.Networks), ['xtra-late']);
    assert.equal(info.State.ExitCode, 0);

    // network connect on a user network: the aliases given plus the short container id.
    const web = expectOk('run -d', await d.docker(['run', '-d', '--name', 'alias-web', 'busybox', 'sleep', '300'])).trim();
    expectOk('network connect', await d.docker(['network', 'connect', '--alias', 'www', 'xtra-late', 'alias-web']));
    assert.deepEqual((await inspect(web)).NetworkSettings.Networks['xtra-late'].Aliases, ['www', web.slice(0, 12)]);

    // A taken host port: dockerd's text, without an OCI runtime prefix.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    expectOk('run -p', await d.docker(['run', '-d', '--name', 'port-a', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '300']));
    const taken = await d.docker(['run', '-d', '--name', 'port-b', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sleep', '300']);
    assert.equal(taken.code, 125, describeResult('run -p taken', taken));
    const b = await inspect('port-b');
    assert.match(
      taken.stderr,
      new RegExp(`Error response from daemon: driver failed programming external connectivity on endpoint port-b \\([0-9a-f]{64}\\): Bind for 127\\.0\\.0\\.1:${port} failed: port is already allocated`),
    );
    assert.doesNotMatch(taken.stderr, /OCI runtime/);
    assert.equal(b.State.Status, 'created');
    expectOk('rm', await d.docker(['rm', '-f', 'late-net', 'alias-web', 'port-a', 'port-b']));
    expectOk('network rm', await d.docker(['network', 'rm', 'xtra-late']));
  });

  it('create + start, start -a, wait', T, async () => {
    const id = expectOk('docker create', await d.docker(['create', '--name', 'cs', 'busybox', 'sh', '-c', 'echo out-$RANDOM; echo err >&2; exit 4'])).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal((await inspect('cs')).State.Status, 'created');
    assert.equal(expectOk('docker start', await d.docker(['start', 'cs'])), 'cs\n');
    assert.equal(expectOk('docker wait', await d.docker(['wait', 'cs'])), '4\n');
    const attached = await d.docker(['start', '-a', 'cs']);
    assert.equal(attached.code, 4, describeResult('docker start -a', attached));
    assert.match(attached.stdout, /^out-\d+\n$/);
    assert.equal(attached.stderr, 'err\n');
    const logs = await d.docker(['logs', 'cs']);
    assert.equal(logs.stdout.split('\n').filter((l) => l.startsWith('out-')).length, 2);
    expectOk('rm', await d.docker(['rm', 'cs']));
  });

  it('OOM kill: exit 137 and State.OOMKilled', T, async () => {
    const r = await d.docker(['run', '--name', 'oomd', '-m', '8m', '--memory-swap', '8m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done']);
    assert.equal(r.code, 137, describeResult('docker run -m 8m', r));
    assert.equal(expectOk('inspect', await d.docker(['inspect', '-f', '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}', 'oomd'])), `true 137 ${8 << 20}\n`);
    expectOk('rm', await d.docker(['rm', 'oomd']));
  });

  it('--pids-limit stops a fork bomb', T, async () => {
    const script = '(while true; do sleep 100 & done); read max < /sys/fs/cgroup/pids/pids.max; echo max=$max survived';
    const r = await d.docker(['run', '--name', 'pidsd', '--pids-limit', '10', 'busybox', 'sh', '-c', script]);
    assert.equal(r.code, 0, describeResult('docker run --pids-limit 10', r));
    assert.match(r.stderr, /can't fork/);
    assert.equal(r.stdout, 'max=10 survived\n');
    assert.equal(expectOk('inspect', await d.docker(['inspect', '-f', '{{.HostConfig.PidsLimit}}', 'pidsd'])), '10\n');
    expectOk('rm', await d.docker(['rm', 'pidsd']));
  });

  it('restart policy on-failure:2 restarts twice, then stays exited', T, async () => {
    expectOk('docker run -d', await d.docker(['run', '-d', '--name', 'rp', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'sleep 0.2; exit 1']));
    const done = await waitFor(async () => {
      const info = await inspect('rp');
      return info.RestartCount === 2 && info.State.Status === 'exited' ? info : undefined;
    }, { timeoutMs: 20_000 });
    assert.ok(done, JSON.stringify((await inspect('rp')).State));
    const shown = expectOk('inspect', await d.docker(['inspect', '-f', '{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}', 'rp']));
    assert.equal(shown, '2 on-failure 2 1\n');
    // update --restart changes the policy and keeps it
    expectOk('docker update', await d.docker(['update', '--restart', 'always', 'rp']));
    assert.equal((await inspect('rp')).HostConfig.RestartPolicy.Name, 'always');
    expectOk('rm', await d.docker(['rm', '-f', 'rp']));
  });
});
