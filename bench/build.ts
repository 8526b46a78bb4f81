/**
 * Build figures: a small multi-step Dockerfile (FROM the bench busybox, ENV, WORKDIR, COPY,
 * two RUNs, CMD) built cold (--no-cache), fully cached, and with one source file changed,
 * through the berth CLI. When a dockerd answers, the docker CLI's classic builder
 * (DOCKER_BUILDKIT=0) builds the same context there and the table shows the ratio.
 * Targets: cold at most half of dockerd's time, cached under 0.1 s.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeResult, run } from '../test/helpers/exec.js';
import { berthBin, dockerBin } from '../test/helpers/paths.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';

const TAG = 'berth-bench-build:latest';

function dockerfile(image: string): string {
  return [`FROM ${image}`, 'ENV APP=/app', 'WORKDIR /app', 'COPY src/ ./src/', 'RUN echo one > one.txt', 'RUN cat src/main.txt > copy.txt', 'CMD ["cat", "/app/copy.txt"]', ''].join('\n');
}

type Builder = (args: string[]) => Promise<number>;

/** A timed `build` through one CLI against one daemon; a failing build aborts the figure. */
function builder(cli: 'berth' | 'docker', host: string, dir: string): Builder {
  const env: NodeJS.ProcessEnv =
    cli === 'berth' ? { ...process.env, BERTH_HOST: host } : { ...process.env, DOCKER_HOST: host, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' };
  if (cli === 'docker') delete env.DOCKER_CONTEXT;
  return async (args) => {
    const start = process.hrtime.bigint();
    const r = await run(cli === 'berth' ? berthBin : dockerBin, ['build', '-q', '-t', TAG, ...args, dir], { env, timeoutMs: 120_000 });
    const t = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.code !== 0) throw new Error(describeResult(`${cli} build`, r));
    return t;
  };
}

interface Timings {
  cold: number;
  cached: number;
  changed: number;
}

async function measure(build: Builder, dir: string, runs: number, warmups: number): Promise<Timings> {
  let counter = 0;
  const touch = (): void => writeFileSync(join(dir, 'src', 'main.txt'), `version ${process.pid}-${counter++}\n`);
  const cold: number[] = [];
  const cached: number[] = [];
  const changed: number[] = [];
  for (let i = 0; i < warmups + runs; i++) {
    const keep = i >= warmups;
    const c = await build(['--no-cache']);
    const h = await build([]);
    touch();
    const x = await build([]);
    if (keep) {
      cold.push(c);
      cached.push(h);
      changed.push(x);
    }
  }
  return { cold: median(cold), cached: median(cached), changed: median(changed) };
}

function context(image: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-build-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'main.txt'), 'version 0\n');
  writeFileSync(join(dir, 'src', 'other.txt'), 'unchanged\n');
  writeFileSync(join(dir, 'Dockerfile'), dockerfile(image));
  return dir;
}

export async function buildFigures(berthHost: string, dockerdHost: string | undefined, image: string, runs: number, warmups: number): Promise<Row[]> {
  const dir = context(image);
  const rows: Row[] = [
    { figure: 'build cold (--no-cache), 7 steps', target: "<= 0.5x dockerd's" },
    { figure: 'build fully cached', target: '< 100 ms' },
    { figure: 'build, one source file changed' },
  ];
  try {
    const b = await measure(builder('berth', berthHost, dir), dir, runs, warmups);
    rows[0]!.berthd = ms(b.cold);
    rows[1]!.berthd = ms(b.cached);
    rows[1]!.met = b.cached < 100;
    rows[2]!.berthd = ms(b.changed);
    if (!dockerdHost) {
      rows[0]!.note = 'no dockerd to compare with';
      return rows;
    }
    try {
      const d = await measure(builder('docker', dockerdHost, dir), dir, runs, warmups);
      rows[0]!.dockerd = `${ms(d.cold)} (classic builder)`;
      rows[0]!.ratio = `${(b.cold / d.cold).toFixed(2)}x`;
      rows[0]!.met = b.cold <= d.cold / 2;
      rows[1]!.dockerd = ms(d.cached);
      rows[1]!.ratio = `${(b.cached / d.cached).toFixed(2)}x`;
      rows[2]!.dockerd = ms(d.changed);
      rows[2]!.ratio = `${(b.changed / d.changed).toFixed(2)}x`;
    } finally {
      const env = { ...process.env, DOCKER_HOST: dockerdHost };
      await run(dockerBin, ['rmi', TAG], { env, timeoutMs: 60_000 }).catch(() => undefined);
    }
  } catch (e) {
    rows[0]!.note = `failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
    process.stderr.write(`bench: build figures failed:\n${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
