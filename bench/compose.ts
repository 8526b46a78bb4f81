/**
 * Compose figures: `berth compose up -d` and `down` of a 10-service project, and a second
 * `up -d` with nothing changed (target: no container touched, under 0.5 s). When a dockerd
 * answers, docker-compose (Debian's 1.29, when installed) runs the same project against it, so
 * the ratio compares berth's whole stack with docker's; without docker-compose, berth compose
 * drives dockerd and the ratio compares the daemons only (the row says which).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiRequest } from '../test/helpers/daemon.js';
import { describeResult, run } from '../test/helpers/exec.js';
import { berthBin } from '../test/helpers/paths.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';

const SERVICES = 10;
const DOCKER_COMPOSE = '/usr/bin/docker-compose';

/** The compose client: berth's, or docker-compose 1.29 (DOCKER_HOST) for dockerd's side. */
type ComposeTool = 'berth' | 'docker-compose';

function projectFile(image: string): string {
  const lines = ['services:'];
  for (let i = 1; i <= SERVICES; i++) {
    lines.push(`  s${i}:`, `    image: ${image}`, `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]`, '    stop_grace_period: 2s');
  }
  return `${lines.join('\n')}\n`;
}

interface Timings {
  up: number[];
  reup: number[];
  down: number[];
  /** Re-ups that changed some container's ID (should stay 0). */
  touched: number;
}

async function projectIds(socket: string, project: string): Promise<string> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.compose.project=${project}`] }));
  const r = await apiRequest(socket, 'GET', `/containers/json?all=1&filters=${filters}`);
  return ((r.json as Array<{ Id: string }>) ?? []).map((c) => c.Id).sort().join(',');
}

async function measure(host: string, image: string, runs: number, warmups: number, tool: ComposeTool = 'berth'): Promise<Timings> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-compose-'));
  const project = `berthbench${process.pid}`;
  writeFileSync(join(dir, 'compose.yaml'), projectFile(image));
  const socket = host.replace(/^unix:\/\//, '');
  const invoke = (args: string[]) =>
    tool === 'berth'
      ? run(berthBin, ['compose', '-p', project, ...args], { cwd: dir, env: { ...process.env, BERTH_HOST: host }, timeoutMs: 120_000 })
      : run(DOCKER_COMPOSE, ['-p', project, '-f', 'compose.yaml', ...args], { cwd: dir, env: { ...process.env, DOCKER_HOST: host }, timeoutMs: 120_000 });
  const compose = async (args: string[]): Promise<number> => {
    const start = process.hrtime.bigint();
    const r = await invoke(args);
    const t = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.code !== 0) throw new Error(describeResult(`${tool} compose ${args.join(' ')}`, r));
    return t;
  };
  const out: Timings = { up: [], reup: [], down: [], touched: 0 };
  try {
    for (let i = 0; i < warmups + runs; i++) {
      const up = await compose(['up', '-d']);
      const before = await projectIds(socket, project);
      const reup = await compose(['up', '-d']);
      if ((await projectIds(socket, project)) !== before) out.touched++;
      const down = await compose(['down', '-t', '2']);
      if (i < warmups) continue;
      out.up.push(up);
      out.reup.push(reup);
      out.down.push(down);
    }
  } finally {
    await invoke(['down', '-t', '0']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

/** Rows for the benchmark table; a failure becomes a row note, not an exception. */
export async function composeFigures(berthHost: string, dockerdHost: string | undefined, image: string, runs: number, warmups: number): Promise<Row[]> {
  // Fewer rounds than the per-command figures: each round starts and stops 10 containers.
  const rounds = Math.max(1, Math.min(runs, 5));
  const up: Row = { figure: `compose up -d, ${SERVICES} services (berth CLI)` };
  const reup: Row = { figure: `compose up -d again, nothing changed`, target: '< 500 ms, 0 touched' };
  const down: Row = { figure: `compose down, ${SERVICES} services` };
  try {
    const b = await measure(berthHost, image, rounds, Math.min(warmups, 1));
    let d: Timings | undefined;
    if (dockerdHost) {
      try {
        const tool: ComposeTool = existsSync(DOCKER_COMPOSE) ? 'docker-compose' : 'berth';
        d = await measure(dockerdHost, image, rounds, Math.min(warmups, 1), tool);
        up.note = tool === 'docker-compose' ? 'dockerd side: docker-compose 1.29' : 'dockerd side: berth compose (docker-compose not installed)';
      } catch (e) {
        up.note = `dockerd side failed: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    for (const [row, key] of [[up, 'up'], [reup, 'reup'], [down, 'down']] as const) {
      const t = median(b[key]);
      row.berthd = ms(t);
      if (d) {
        row.dockerd = ms(median(d[key]));
        row.ratio = `${(t / median(d[key])).toFixed(2)}x`;
      }
    }
    reup.met = median(b.reup) < 500 && b.touched === 0;
    reup.note = `${b.touched} of ${rounds + Math.min(warmups, 1)} re-ups touched a container`;
  } catch (e) {
    up.note = `failed: ${(e as Error).message.split('\n')[0]}`;
  }
  return [up, reup, down];
}

// Run alone: node $BERTH_DIST/bench/compose.js (starts its own berthd like run.ts does).
if (process.argv[1]?.endsWith('/bench/compose.js')) {
  const { startDaemon } = await import('../test/helpers/daemon.js');
  const { importBusybox } = await import('../test/helpers/images.js');
  const { renderTable } = await import('./report.js');
  const { probeDockerd } = await import('./dockerd.js');
  const { busyboxTar } = await import('../test/helpers/images.js');
  const d = await startDaemon();
  const dockerd = await probeDockerd();
  try {
    await importBusybox(d, { repo: 'berth-bench-busybox' });
    if (dockerd) await dockerd.importImage(await busyboxTar(), 'berth-bench-busybox:latest');
    const rows = await composeFigures(d.host, dockerd?.host, 'berth-bench-busybox', Number(process.env.BENCH_RUNS ?? 5), 1);
    process.stdout.write(`${renderTable(rows)}\n`);
  } finally {
    if (dockerd) await dockerd.cleanup();
    await d.stop();
  }
}
