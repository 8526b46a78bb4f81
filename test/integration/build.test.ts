/**
 * Building images against a real berthd: every instruction, multi-stage builds, the cache,
 * .dockerignore, build args, ENTRYPOINT/CMD, failures that leave nothing behind, and the real
 * docker CLI's classic builder (DOCKER_BUILDKIT=0) talking to berthd.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar-stream';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { importBusybox } from '../helpers/images.js';
import { describeResult, expectOk } from '../helpers/exec.js';

const T = { timeout: 180_000 };

interface ImageConfigView {
  Env: string[];
  Cmd: string[] | null;
  Entrypoint: string[] | null;
  WorkingDir: string;
  User: string;
  ExposedPorts?: Record<string, object>;
  Volumes: Record<string, object> | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: { Test: string[]; Interval?: number; Retries?: number };
  Shell?: string[];
  OnBuild: string[] | null;
  Image: string;
}

describe('berth build', { timeout: 900_000 }, () => {
  let d: TestDaemon;
  let work: string;
  let n = 0;

  /** A fresh context directory with the given files (path -> content). */
  const context = (files: Record<string, string>): string => {
    const dir = join(work, `ctx${n++}`);
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    return dir;
  };
  const build = (args: string[], input?: string) => d.berth(['build', ...args], { timeoutMs: 170_000, input });
  const config = async (ref: string): Promise<ImageConfigView> =>
    JSON.parse(expectOk('inspect', await d.berth(['image', 'inspect', '-f', '{{json .Config}}', ref]))) as ImageConfigView;
  const history = async (ref: string): Promise<Array<{ CreatedBy: string; Size: number }>> => (await d.api('GET', `/images/${ref}/history`)).json as Array<{ CreatedBy: string; Size: number }>;
  const imageCount = async (): Promise<number> => ((await d.api('GET', '/images/json?all=1')).json as unknown[]).length;
  const containerCount = async (): Promise<number> => ((await d.api('GET', '/containers/json?all=1')).json as unknown[]).length;
  const runOut = async (args: string[]): Promise<string> => expectOk(`run ${args.join(' ')}`, await d.berth(['run', '--rm', ...args]));

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'berth-build-ctx-'));
    d = await startDaemon();
    await importBusybox(d);
  });
  after(async () => {
    rmSync(work, { recursive: true, force: true });
    await d?.stop();
  });

  it('builds every instruction into the config docker would write', T, async () => {
    const archive = await tarOf({ 'inner/x.txt': 'from the archive\n' });
    const dir = context({
      'Dockerfile': [
        '# escape=\\',
        'FROM busybox',
        'MAINTAINER someone@example.com',
        'ARG VERSION=1.0',
        'ENV APP_HOME=/srv/app LEGACY_KEY=x',
        'ENV OLD legacy form value',
        'LABEL version="${VERSION}" "description"="a test"',
        'WORKDIR $APP_HOME',
        'WORKDIR sub',
        'COPY --chown=nobody:nogroup --chmod=640 conf/*.conf /etc/app/',
        'COPY dir ./copied/',
        'ADD bundle.tar /opt/bundle/',
        'COPY <<EOF /srv/app/sub/generated.txt',
        'version ${VERSION} at $APP_HOME',
        'EOF',
        'RUN ["/bin/sh", "-c", "echo exec-form > exec.txt"]',
        'SHELL ["/bin/sh", "-e", "-c"]',
        'RUN echo shell-form $VERSION > shell.txt',
        'EXPOSE 8080 53/udp',
        'VOLUME ["/data", "/cache"]',
        'USER nobody',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=5s --retries=2 CMD ["true"]',
        'ONBUILD RUN echo triggered > /tmp/onbuild.txt',
        'ENTRYPOINT ["/bin/echo", "hello"]',
        'CMD ["world"]',
      ].join('\n'),
      'conf/a.conf': 'a=1\n',
      'conf/b.conf': 'b=2\n',
      'conf/skip.txt': 'no\n',
      'dir/one.txt': 'one\n',
      'dir/nested/two.txt': 'two\n',
    });
    writeFileSync(join(dir, 'bundle.tar'), archive);
    const r = await build(['-t', 'every:1', dir]);
    assert.equal(r.code, 0, describeResult('build', r));
    assert.match(r.stdout, /Step 1\/23 : FROM busybox\n ---> [0-9a-f]{12}\n/);
    assert.match(r.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged every:1\n/);

    const c = await config('every:1');
    assert.deepEqual(c.Env, ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'APP_HOME=/srv/app', 'LEGACY_KEY=x', 'OLD=legacy form value']);
    assert.equal(c.WorkingDir, '/srv/app/sub');
    assert.equal(c.User, 'nobody');
    assert.deepEqual(c.Entrypoint, ['/bin/echo', 'hello']);
    assert.deepEqual(c.Cmd, ['world']);
    assert.deepEqual(c.ExposedPorts, { '53/udp': {}, '8080/tcp': {} });
    assert.deepEqual(c.Volumes, { '/cache': {}, '/data': {} });
    assert.deepEqual(c.Labels, { version: '1.0', description: 'a test' });
    assert.equal(c.StopSignal, 'SIGINT');
    assert.deepEqual(c.Healthcheck, { Test: ['CMD', 'true'], Interval: 5_000_000_000, Retries: 2 });
    assert.deepEqual(c.Shell, ['/bin/sh', '-e', '-c']);
    assert.deepEqual(c.OnBuild, ['RUN echo triggered > /tmp/onbuild.txt']);
    assert.match(c.Image, /^sha256:[0-9a-f]{64}$/);
    const author = expectOk('inspect', await d.berth(['image', 'inspect', '-f', '{{.Author}}', 'every:1'])).trim();
    assert.equal(author, 'someone@example.com');

    const h = (await history('every:1')).reverse().slice(1);
    const by = h.map((e) => e.CreatedBy);
    assert.equal(by[0], '/bin/sh -c #(nop)  MAINTAINER someone@example.com');
    assert.equal(by[2], '/bin/sh -c #(nop)  ENV APP_HOME=/srv/app LEGACY_KEY=x');
    assert.equal(by[5], '/bin/sh -c #(nop) WORKDIR /srv/app');
    assert.match(by[7]!, /^\/bin\/sh -c #\(nop\) COPY --chown=nobody:nogroup --chmod=640 multi:[0-9a-f]{64} in \/etc\/app\/ $/);
    assert.match(by[9]!, /^\/bin\/sh -c #\(nop\) ADD file:[0-9a-f]{64} in \/opt\/bundle\/ $/);
    assert.equal(by[11], '|1 VERSION=1.0 /bin/sh -c echo exec-form > exec.txt');
    assert.equal(by[13], '|1 VERSION=1.0 /bin/sh -e -c echo shell-form $VERSION > shell.txt');
    assert.equal(by[by.length - 2], '/bin/sh -e -c #(nop)  ENTRYPOINT ["/bin/echo" "hello"]');
    assert.equal(by[by.length - 1], '/bin/sh -e -c #(nop)  CMD ["world"]');
    assert.equal(h[0]!.Size, 0);
    assert.ok(h[7]!.Size > 0, 'COPY has a layer with content');

    assert.equal(await runOut(['every:1']), 'hello world\n');
    const files = await runOut([
      '--entrypoint', 'sh', 'every:1', '-c',
      'stat -c "%U:%G %a %n" /etc/app/a.conf /etc/app/b.conf; ls /etc/app; cat copied/one.txt copied/nested/two.txt /opt/bundle/inner/x.txt generated.txt exec.txt shell.txt; pwd',
    ]);
    assert.equal(
      files,
      'nobody:nogroup 640 /etc/app/a.conf\nnobody:nogroup 640 /etc/app/b.conf\na.conf\nb.conf\none\ntwo\nfrom the archive\nversion 1.0 at /srv/app\nexec-form\nshell-form 1.0\n/srv/app/sub\n',
    );

    // ONBUILD triggers run in the child and are not inherited further.
    const child = context({ Dockerfile: 'FROM every:1\nUSER root\nRUN cat /tmp/onbuild.txt\n' });
    const rc = await build(['-t', 'child:1', child]);
    assert.equal(rc.code, 0, describeResult('child build', rc));
    assert.match(rc.stdout, /# Executing 1 build trigger\n/);
    assert.match(rc.stdout, /triggered\n/);
    assert.equal((await config('child:1')).OnBuild, null);
  });

  it('builds multi-stage with COPY --from and --target, only the stages needed', T, async () => {
    const dir = context({
      Dockerfile: [
        'ARG BASE=busybox',
        'FROM ${BASE} AS builder',
        'RUN mkdir /out && echo built > /out/artifact',
        'FROM busybox AS unused',
        'RUN exit 9',
        'FROM scratch AS final',
        'COPY --from=builder /out/artifact /artifact',
        'COPY --from=0 /bin/busybox /bin/busybox',
        'CMD ["/bin/busybox", "cat", "/artifact"]',
        'FROM final AS extended',
        'LABEL stage=extended',
      ].join('\n'),
    });
    const r = await build(['-t', 'multi:final', '--target', 'final', dir]);
    assert.equal(r.code, 0, describeResult('multi-stage build', r));
    assert.doesNotMatch(r.stdout, /exit 9/, 'the unused stage is not built');
    assert.match(r.stdout, /Step 1\/6 : FROM \$\{BASE\} AS builder/);
    assert.equal(await runOut(['multi:final']), 'built\n');
    assert.equal((await config('multi:final')).Labels, null);
    const bad = await build(['--target', 'nosuch', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /failed to reach build target nosuch/);
  });

  it('honours .dockerignore for the context and for COPY', T, async () => {
    const dir = context({
      Dockerfile: 'FROM busybox\nCOPY . /ctx/\nRUN find /ctx -type f | sort\n',
      '.dockerignore': '*.log\nsecret/\n!keep.log\n',
      'app.txt': 'app\n',
      'debug.log': 'x\n',
      'keep.log': 'k\n',
      'secret/key': 'k\n',
    });
    const r = await build(['-t', 'ignored:1', dir]);
    assert.equal(r.code, 0, describeResult('build', r));
    assert.match(r.stdout, /\/ctx\/Dockerfile\n\/ctx\/app\.txt\n\/ctx\/keep\.log\n/);
    assert.doesNotMatch(r.stdout, /debug\.log|secret/);
    const direct = context({ Dockerfile: 'FROM busybox\nCOPY secret/key /k\n', '.dockerignore': 'secret\n', 'secret/key': 'k\n' });
    const bad = await build([direct]);
    assert.equal(bad.code, 1, describeResult('COPY of an ignored file', bad));
    assert.match(bad.stderr, /file not found in build context or excluded by \.dockerignore.*Dockerfile line 2/);
  });

  it('caches steps and busts only from the COPY of a changed file', T, async () => {
    const dir = context({
      Dockerfile: 'FROM busybox\nENV A=1\nRUN echo first > /first\nCOPY src.txt /src.txt\nRUN cat /src.txt\nCMD ["cat", "/src.txt"]\n',
      'src.txt': 'v1\n',
    });
    const cold = await build(['-t', 'cached:1', dir]);
    assert.equal(cold.code, 0, describeResult('cold build', cold));
    assert.doesNotMatch(cold.stdout, /Using cache/);
    const warm = await build(['-t', 'cached:1', dir]);
    assert.equal(warm.code, 0, describeResult('cached build', warm));
    assert.equal(warm.stdout.match(/ ---> Using cache\n/g)?.length, 5);
    assert.doesNotMatch(warm.stdout, /Running in/);
    assert.equal(lastId(warm.stdout), lastId(cold.stdout));

    // Same content, new mtime: still cached.
    writeFileSync(join(dir, 'src.txt'), 'v1\n');
    assert.equal((await build([dir])).stdout.match(/Using cache/g)?.length, 5);

    writeFileSync(join(dir, 'src.txt'), 'v2\n');
    const changed = await build(['-t', 'cached:2', dir]);
    assert.equal(changed.code, 0, describeResult('changed build', changed));
    const steps = changed.stdout.split(/^Step /m).slice(1);
    assert.deepEqual(steps.map((s) => s.includes('Using cache')), [false, true, true, false, false, false]);
    assert.equal(await runOut(['cached:2']), 'v2\n');

    const nocache = await build(['--no-cache', dir]);
    assert.doesNotMatch(nocache.stdout, /Using cache/);
  });

  it('passes build args to RUN and substitutions, with defaults and proxies kept out of history', T, async () => {
    const dir = context({ Dockerfile: 'ARG TAG=latest\nFROM busybox:${TAG}\nARG WHO=world\nARG TAG\nRUN echo "hello $WHO $TAG $HTTP_PROXY" > /greeting\nCMD ["cat", "/greeting"]\n' });
    const r = await build(['-t', 'args:1', '--build-arg', 'WHO=berth', '--build-arg', 'HTTP_PROXY=http://proxy.invalid', '--build-arg', 'UNUSED=1', dir]);
    assert.equal(r.code, 0, describeResult('build', r));
    assert.match(r.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
    assert.equal(await runOut(['args:1']), 'hello berth latest http://proxy.invalid\n');
    const by = (await history('args:1')).map((e) => e.CreatedBy).join('\n');
    assert.match(by, /\|2 TAG=latest WHO=berth \/bin\/sh -c echo/);
    assert.doesNotMatch(by, /proxy\.invalid/);
  });

  it('combines ENTRYPOINT and CMD as docker does', T, async () => {
    const cases: Array<[string, string[] | null, string[] | null, string]> = [
      ['CMD echo shell-cmd', null, ['/bin/sh', '-c', 'echo shell-cmd'], 'shell-cmd\n'],
      ['ENTRYPOINT ["echo", "e"]\nCMD ["c"]', ['echo', 'e'], ['c'], 'e c\n'],
      ['ENTRYPOINT echo only-entrypoint\nCMD ["ignored"]', ['/bin/sh', '-c', 'echo only-entrypoint'], ['ignored'], 'only-entrypoint\n'],
      ['CMD ["first"]\nENTRYPOINT ["echo"]', ['echo'], ['first'], 'first\n'],
    ];
    for (const [lines, entrypoint, cmd, output] of cases) {
      const dir = context({ Dockerfile: `FROM busybox\n${lines}\n` });
      const r = await build(['-t', 'ep:case', dir]);
      assert.equal(r.code, 0, describeResult(lines, r));
      const c = await config('ep:case');
      assert.deepEqual([c.Entrypoint, c.Cmd], [entrypoint, cmd], lines);
      assert.equal(await runOut(['ep:case']), output, lines);
    }
    // An ENTRYPOINT in a child resets the CMD it inherited.
    const parent = context({ Dockerfile: 'FROM busybox\nCMD ["inherited"]\n' });
    expectOk('parent', await build(['-t', 'ep:parent', parent]));
    const child = context({ Dockerfile: 'FROM ep:parent\nENTRYPOINT ["echo"]\n' });
    expectOk('child', await build(['-t', 'ep:child', child]));
    assert.equal((await config('ep:child')).Cmd, null);
  });

  it('reports a failing RUN with its exit code and leaves no container', T, async () => {
    const before = await containerCount();
    const dir = context({ Dockerfile: 'FROM busybox\nRUN echo about to fail && exit 7\n' });
    const r = await build([dir]);
    assert.equal(r.code, 7, describeResult('failing build', r));
    assert.match(r.stdout, /about to fail\n/);
    assert.match(r.stderr, /The command '\/bin\/sh -c echo about to fail && exit 7' returned a non-zero code: 7/);
    assert.match(r.stderr, /Dockerfile line 2/);
    assert.equal(await containerCount(), before);
  });

  it('refuses bad input with the Dockerfile line, exit 1 and nothing left behind', T, async () => {
    const images = await imageCount();
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ Dockerfile: 'FROM busybox\nFROBNICATE x\n' }, /line 2: unknown instruction: FROBNICATE/],
      [{ Dockerfile: 'RUN echo\n' }, /line 1: no build stage in current context/],
      [{ Dockerfile: 'FROM busybox\nENV A="open\n' }, /line 2: unexpected end of statement while looking for matching double-quote/],
      [{ Dockerfile: 'FROM busybox\nRUN <<EOF\necho\n' }, /line 2: unterminated heredoc/],
      [{ Dockerfile: 'FROM busybox\nCOPY ../outside /x\n' }, /forbidden path outside the build context: \.\.\/outside.*line 2/],
      [{ Dockerfile: 'FROM busybox\nCOPY *.nothing /x/\n' }, /no source files were specified.*line 2/],
      [{ Dockerfile: 'FROM busybox\nCOPY --from=nostage /a /b\n' }, /--from=nostage: no stage of that name.*line 2/],
      [{ Dockerfile: 'FROM busybox\nADD http://example.invalid/x /x\n' }, /ADD of a URL is not supported.*line 2/],
      [{ Dockerfile: 'FROM no-such-image\n' }, /no-such-image.*not present locally.*line 1/],
    ];
    for (const [files, message] of cases) {
      const r = await build([context(files)]);
      assert.equal(r.code, 1, describeResult(files.Dockerfile!, r));
      assert.match(r.stderr, message, files.Dockerfile);
    }
    // Steps that passed before a failure stay cached; nothing else is added.
    assert.equal(await imageCount(), images);

    const tricky = await tarOf({ 'Dockerfile': 'FROM busybox\n', '../escape': 'x' });
    const res = await d.api('POST', '/build', tricky, { headers: { 'Content-Type': 'application/x-tar' } });
    assert.equal(res.status, 400, res.text);
    assert.match(res.text, /outside the context/);
  });

  it('builds from stdin: a bare Dockerfile and a tar, with -q and --iidfile', T, async () => {
    const iid = join(work, 'iid');
    const r = await build(['-q', '--iidfile', iid, '-t', 'stdin:1', '-'], 'FROM busybox\nCMD ["echo", "from stdin"]\n');
    assert.equal(r.code, 0, describeResult('build -', r));
    assert.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
    const { readFileSync } = await import('node:fs');
    assert.equal(readFileSync(iid, 'utf8'), r.stdout.trim());
    assert.equal(await runOut(['stdin:1']), 'from stdin\n');
  });

  it('works with the real docker CLI (classic builder), including -f outside the context', T, async () => {
    const dir = context({ 'app/main.txt': 'docker cli\n', '.dockerignore': 'ignored.txt\n', 'ignored.txt': 'no\n' });
    const dockerfile = join(work, 'Outside.Dockerfile');
    writeFileSync(dockerfile, 'FROM busybox\nWORKDIR /w\nCOPY . .\nRUN ls -a /w\nCMD ["cat", "/w/app/main.txt"]\n');
    const r = await d.docker(['build', '-t', 'viadocker:1', '-f', dockerfile, dir], { env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 170_000 });
    assert.equal(r.code, 0, describeResult('docker build', r));
    assert.match(r.stdout, /Step 1\/5 : FROM busybox/);
    assert.match(r.stdout, /Successfully tagged viadocker:1/);
    assert.doesNotMatch(r.stdout, /ignored\.txt|\.dockerfile\./, 'neither ignored files nor the generated Dockerfile name reach COPY');
    assert.equal(expectOk('docker run', await d.docker(['run', '--rm', 'viadocker:1'])), 'docker cli\n');
    const fail = await d.docker(['build', '-'], { env: { DOCKER_BUILDKIT: '0' }, input: 'FROM busybox\nRUN exit 4\n', timeoutMs: 170_000 });
    assert.equal(fail.code, 4, describeResult('docker build failing', fail));
  });

  it('builder prune forgets the cache', T, async () => {
    const dir = context({ Dockerfile: 'FROM busybox\nENV PRUNE=1\n' });
    expectOk('build', await build([dir]));
    expectOk('prune', await d.berth(['builder', 'prune', '-a', '-f']));
    const again = await build([dir]);
    assert.doesNotMatch(again.stdout, /Using cache/, describeResult('after prune', again));
  });
});

function lastId(stdout: string): string {
  return /Successfully built ([0-9a-f]{12})/.exec(stdout)?.[1] ?? '';
}

/** A tar made by name (names are not cleaned: tests use it for path tricks too). */
async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
