/**
 * The real docker CLI's storage commands against berthd: `docker system df [-v]` reads
 * GET /system/df, `docker system prune` drives the per-object prune endpoints (build cache
 * included), `docker volume prune` keeps named volumes (API 1.42+), and `docker cp` gets the
 * daemon's noOverwriteDirNonDir refusal.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { dockerBin } from '../helpers/paths.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 120_000 };
const cells = (line: string): string[] => line.trim().split(/\s{2,}/);

describe('docker CLI storage commands against berthd', { timeout: 600_000, skip: existsSync(dockerBin) ? false : `no docker CLI at ${dockerBin}` }, () => {
  let d: TestDaemon;
  let work: string;

  before(async () => {
    d = await startDaemon();
    await importBusybox(d);
    work = mkdtempSync(join(tmpdir(), 'berth-dstore-'));
  });
  after(async () => {
    await d?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const docker = (args: string[]) => d.docker(args, { timeoutMs: 110_000 });

  it('docker system df and -v show what berthd holds', T, async () => {
    expectOk('run', await docker(['run', '--name', 'dfw', '-v', 'dv:/v', 'busybox', 'sh', '-c', 'head -c 200000 /dev/zero > /f && head -c 30000 /dev/zero > /v/x']));
    const out = expectOk('docker system df', await docker(['system', 'df']));
    const rows = out.trimEnd().split('\n').map(cells);
    assert.deepEqual(rows[0], ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE']);
    assert.deepEqual(rows[1]!.slice(0, 3), ['Images', '1', '1']);
    assert.deepEqual(rows[2]!.slice(0, 4), ['Containers', '1', '0', '200kB']);
    assert.equal(rows[2]![4], '200kB (100%)');
    assert.deepEqual(rows[3], ['Local Volumes', '1', '1', '30kB', '0B (0%)']);
    assert.deepEqual(rows[4], ['Build Cache', '0', '0', '0B', '0B']);
    const verbose = expectOk('docker system df -v', await docker(['system', 'df', '-v']));
    assert.match(verbose, /Images space usage:\n\nREPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+SHARED SIZE\s+UNIQUE SIZE\s+CONTAINERS\nbusybox\s+latest\s/);
    assert.match(verbose, /\s200kB\s+.*\sdfw\n/);
    assert.match(verbose, /Local Volumes space usage:\n\nVOLUME NAME\s+LINKS\s+SIZE\ndv\s+1\s+30kB\n/);
    assert.match(verbose, /Build cache usage: 0B\n/);
    const json = expectOk('df --format json', await docker(['system', 'df', '--format', '{{json .}}']));
    assert.equal(JSON.parse(json.split('\n')[0]!).Type, 'Images');
  });

  it('docker system prune -f removes the stopped container and dangling build steps, keeps named volumes', T, async () => {
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN head -c 25000 /dev/zero > /a\nRUN exit 2\n');
    const build = await d.docker(['build', ctx], { timeoutMs: 110_000, env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    assert.notEqual(build.code, 0, describeResult('failing build', build));
    assert.match(expectOk('df', await docker(['system', 'df'])), /Build Cache\s+1\s+0\s+25kB\s+25kB\n/);
    const out = expectOk('docker system prune -f', await docker(['system', 'prune', '-f']));
    assert.match(out, /^Deleted Containers:\n[0-9a-f]{64}\n\n/);
    assert.match(out, /Deleted Images:\ndeleted: sha256:[0-9a-f]{64}\n/);
    assert.match(out, /Total reclaimed space: 225kB\n$/);
    assert.equal(expectOk('ps -a', await docker(['ps', '-aq'])), '');
    assert.match(expectOk('df', await docker(['system', 'df'])), /Build Cache\s+0\s+0\s+0B\s+0B\n/);
    // docker 23+: a named volume survives `volume prune` without --all.
    expectOk('volume prune', await docker(['volume', 'prune', '-f']));
    assert.match(expectOk('volume ls', await docker(['volume', 'ls', '-q'])), /^dv$/m);
    assert.match(expectOk('volume prune -a', await docker(['volume', 'prune', '-a', '-f'])), /Deleted Volumes:\ndv\n/);
  });

  it('docker cp: the daemon refuses a file over a directory', T, async () => {
    expectOk('create', await docker(['run', '--name', 'cpc', 'busybox', 'mkdir', '-p', '/d/name']));
    mkdirSync(join(work, 'src'));
    writeFileSync(join(work, 'src', 'name'), 'x');
    await new Promise((r) => setTimeout(r, 1500));
    const r = await docker(['cp', join(work, 'src', 'name'), 'cpc:/d/']);
    assert.equal(r.code, 1, describeResult('docker cp file over dir', r));
    assert.match(r.stderr, /cannot overwrite directory "\/d\/name" with non-directory "\/d"/, d.log().slice(-4000));
    expectOk('rm', await docker(['rm', 'cpc']));
  });
});
