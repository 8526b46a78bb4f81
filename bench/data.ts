/**
 * Data figures: commit of a 100 MB change, cp of 100 MB out of a container, save and load of
 * the resulting ~100 MB image. The docker CLI drives both daemons, so the daemons are what
 * differs; each figure is the median of `runs` after `warmups`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeResult, run } from '../test/helpers/exec.js';
import { dockerBin } from '../test/helpers/paths.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';

const SOURCE = 'berth-bench-data-src';
const BIG = 'berth-bench-data-big';

type Docker = (args: string[]) => Promise<void>;

function dockerOn(host: string): Docker {
  return async (args) => {
    const r = await run(dockerBin, args, { env: { ...process.env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false' }, timeoutMs: 300_000 });
    if (r.code !== 0) throw new Error(describeResult(`docker ${args.join(' ')}`, r));
  };
}

async function timed(count: number, before: () => Promise<void>, work: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    await before();
    const start = performance.now();
    await work();
    out.push(performance.now() - start);
  }
  return out;
}

/** Median milliseconds for each data figure on one daemon. */
async function measure(host: string, image: string, runs: number, warmups: number): Promise<Record<string, number>> {
  const docker = dockerOn(host);
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-data-'));
  const quietly = (p: Promise<void>) => p.catch(() => undefined);
  const figures: Record<string, number> = {};
  try {
    await quietly(docker(['rm', '-f', SOURCE]));
    await docker(['run', '--name', SOURCE, image, 'dd', 'if=/dev/urandom', 'of=/big', 'bs=1048576', 'count=100']);
    const total = runs + warmups;
    const drop = (xs: number[]) => median(xs.slice(warmups));
    figures.commit = drop(await timed(total, () => quietly(docker(['rmi', '-f', BIG])), () => docker(['commit', SOURCE, BIG])));
    figures.cp = drop(await timed(total, async () => rmSync(join(dir, 'big'), { force: true }), () => docker(['cp', `${SOURCE}:/big`, join(dir, 'big')])));
    figures.save = drop(await timed(total, async () => rmSync(join(dir, 'img.tar'), { force: true }), () => docker(['save', '-o', join(dir, 'img.tar'), BIG])));
    figures.load = drop(await timed(total, () => quietly(docker(['rmi', '-f', BIG])), () => docker(['load', '-q', '-i', join(dir, 'img.tar')])));
  } finally {
    await quietly(docker(['rm', '-f', SOURCE]));
    await quietly(docker(['rmi', '-f', BIG]));
    rmSync(dir, { recursive: true, force: true });
  }
  return figures;
}

const LABELS: Record<string, string> = {
  commit: 'commit of a 100 MB change',
  cp: 'cp of 100 MB out of a container',
  save: 'save of a 100 MB image',
  load: 'load of a 100 MB image',
};

export async function dataFigures(berthHost: string, dockerdHost: string | undefined, image: string, runs: number, warmups: number): Promise<Row[]> {
  // These move 100 MB per run: a few runs say enough.
  const count = Math.min(runs, 5);
  const ours = await measure(berthHost, image, count, Math.min(warmups, 1));
  const theirs = dockerdHost ? await measure(dockerdHost, image, count, Math.min(warmups, 1)).catch(() => undefined) : undefined;
  return Object.keys(LABELS).map((key) => {
    const row: Row = { figure: `${LABELS[key]} (docker CLI)`, berthd: ms(ours[key]!) };
    if (theirs?.[key] !== undefined) {
      row.dockerd = ms(theirs[key]!);
      row.ratio = `${(ours[key]! / theirs[key]!).toFixed(2)}x`;
    }
    return row;
  });
}
