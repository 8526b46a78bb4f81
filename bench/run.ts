/**
 * Side-by-side benchmarks: berthd in a temp root (like the integration tests), and when a
 * dockerd answers on /var/run/docker.sock, the same work there in the same run.
 *
 *   npm run bench                 defaults: 15 measured runs after 2 warm-ups
 *   BENCH_RUNS=5 npm run bench    fewer runs, for a quick look
 *   BENCH_ONLY=core,exec npm run bench
 *                                 only those sections (core: idle RSS, run --rm, ps -a, monitor
 *                                 RSS; then build, exec, data, compose, stats, network, registry,
 *                                 overlay, scheduler, cluster, services)
 */
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { busyboxTar, importBusybox } from '../test/helpers/images.js';
import { processesMentioning, processName } from '../test/helpers/cleanup.js';
import { berthBin, dockerBin } from '../test/helpers/paths.js';
import { describeResult, sleep } from '../test/helpers/exec.js';
import { median, timeCommand, timeInterleaved, rssBytes, pssBytes, MiB } from './measure.js';
import { renderTable, ms, mib, type Row } from './report.js';
import { probeDockerd, type Dockerd } from './dockerd.js';
import { buildFigures } from './build.js';
import { dataFigures } from './data.js';
import { composeFigures } from './compose.js';
import { execFigures } from './exec.js';
import { statsFigures } from './stats.js';
import { networkFigures } from './network.js';
import { registryFigures } from './registry.js';
import { schedulerFigures } from './scheduler.js';
import { clusterFigures } from './cluster.js';
import { overlayFigures } from './overlay.js';
import { servicesFigures } from './services.js';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 15));
const SECTIONS = ['core', 'build', 'exec', 'data', 'compose', 'stats', 'network', 'registry', 'overlay', 'scheduler', 'cluster', 'services'] as const;
type Section = (typeof SECTIONS)[number];
const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
for (const name of only) {
  if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown section ${JSON.stringify(name)} (sections: ${SECTIONS.join(', ')})`);
}
/** Whether a section runs: all of them unless BENCH_ONLY names some. */
const runs = (section: Section): boolean => only.length === 0 || only.includes(section);
const WARMUPS = 2;
const PS_CONTAINERS = 50;
const MONITORED = 5;
// Its own name on both daemons, so a developer's busybox image on dockerd is never touched.
const IMAGE = 'berth-bench-busybox';

/** The environment for one CLI run against one daemon (DOCKER_HOST or BERTH_HOST). */
const envWith = (name: 'DOCKER_HOST' | 'BERTH_HOST', host: string): NodeJS.ProcessEnv => ({ ...process.env, [name]: host, DOCKER_CLI_HINTS: 'false' });

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]!;

async function figure(rows: Row[], row: Row, measure: (row: Row) => Promise<void>): Promise<void> {
  process.stderr.write(`bench: ${row.figure} ...\n`);
  try {
    await measure(row);
  } catch (e) {
    row.note = `failed: ${firstLine(e)}`;
    process.stderr.write(`bench: ${row.figure} failed:\n${e instanceof Error ? e.message : String(e)}\n`);
  }
  rows.push(row);
}

function ratio(berthd: number, dockerd: number): string {
  return `${(berthd / dockerd).toFixed(2)}x`;
}

/** Creates stopped containers through the API, so ps has something to list without running anything. */
async function createBerthContainers(d: TestDaemon, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = await d.api('POST', '/containers/create', { Image: IMAGE, Cmd: ['true'] });
    if (r.status !== 201) throw new Error(`berthd create -> ${r.status}: ${r.text}`);
    ids.push((r.json as { Id: string }).Id);
  }
  return ids;
}

async function removeBerthContainers(d: TestDaemon, ids: string[]): Promise<void> {
  for (const id of ids) await d.api('DELETE', `/containers/${id}?force=1`);
}

async function main(): Promise<number> {
  const rows: Row[] = [];
  const tar = await busyboxTar();
  const dockerd = await probeDockerd();
  process.stderr.write(dockerd ? 'bench: dockerd found at /var/run/docker.sock: measuring it too\n' : 'bench: no dockerd at /var/run/docker.sock: berthd figures only\n');

  let d: TestDaemon | undefined;
  const problems: string[] = [];
  try {
    d = await startDaemon();
    await importBusybox(d, { repo: IMAGE });
    if (dockerd) await dockerd.importImage(tar, `${IMAGE}:latest`);
    const daemon = d;

    if (runs('core')) {
      // Idle: started, one image imported, nothing running. The import's transient buffers
      // (1 MB read and gunzip chunks, the content writer's) stay mapped until V8's memory reducer
      // runs on an idle heap, 5-7 s later here (63 -> 58 MiB): measure after that, as idle means.
      await sleep(8_000);
      await figure(rows, { figure: 'berthd idle RSS', target: '< 60 MiB' }, async (row) => {
        const rss = rssBytes(daemon.pid);
        row.berthd = mib(rss);
        row.met = rss < 60 * MiB;
        const pid = dockerd?.daemonPid();
        if (pid) row.dockerd = mib(rssBytes(pid));
        if (pid) row.note = 'dockerd figure is its RSS now, not necessarily idle';
      });

      const runArgs = ['run', '--rm', IMAGE, 'true'];
      const berthCliRun = { file: berthBin, args: runArgs, options: { env: envWith('BERTH_HOST', daemon.host) } };
      const dockerCliRun = { file: dockerBin, args: runArgs, options: { env: envWith('DOCKER_HOST', daemon.host) } };
      // The three measured in turn, round by round (see timeInterleaved), dockerd's too when it
      // answers; should its runs fail, berthd's are measured on their own.
      let measured: { berthCli: number; dockerCli: number; dockerd?: number } | undefined;
      const measureRuns = async (): Promise<{ berthCli: number; dockerCli: number; dockerd?: number }> => {
        if (measured) return measured;
        if (dockerd) {
          try {
            const [b, d, r] = await timeInterleaved([berthCliRun, dockerCliRun, { file: dockerBin, args: runArgs, options: { env: envWith('DOCKER_HOST', dockerd.host) } }], RUNS, WARMUPS);
            return (measured = { berthCli: median(b!), dockerCli: median(d!), dockerd: median(r!) });
          } catch (e) {
            process.stderr.write(`bench: run --rm with dockerd alongside failed: ${firstLine(e)}\n`);
          }
        }
        const [b, d] = await timeInterleaved([berthCliRun, dockerCliRun], RUNS, WARMUPS);
        return (measured = { berthCli: median(b!), dockerCli: median(d!) });
      };
      await figure(rows, { figure: `run --rm ${IMAGE} true (berth CLI)`, target: '< 150 ms' }, async (row) => {
        const t = (await measureRuns()).berthCli;
        const dockerdRun = measured?.dockerd;
        row.berthd = ms(t);
        row.met = t < 150;
        if (dockerdRun) {
          row.dockerd = `${ms(dockerdRun)} (docker CLI)`;
          row.ratio = ratio(t, dockerdRun);
        }
      });
      await figure(rows, { figure: `run --rm ${IMAGE} true (docker CLI)`, target: "<= 0.25x dockerd's" }, async (row) => {
        const t = (await measureRuns()).dockerCli;
        const dockerdRun = measured?.dockerd;
        row.berthd = ms(t);
        if (dockerdRun) {
          row.dockerd = ms(dockerdRun);
          row.ratio = ratio(t, dockerdRun);
          row.met = t <= dockerdRun / 4;
        } else {
          row.note = 'no dockerd to compare with';
        }
      });

      // ps -a over many containers: the cost of listing, not of running.
      const berthIds: string[] = [];
      const dockerdIds: string[] = [];
      try {
        berthIds.push(...(await createBerthContainers(daemon, PS_CONTAINERS)));
        if (dockerd) dockerdIds.push(...(await dockerd.createContainers(`${IMAGE}:latest`, PS_CONTAINERS, ['true'])));
        let dockerdPs: number | undefined;
        if (dockerd) {
          try {
            dockerdPs = median(await timeCommand({ file: dockerBin, args: ['ps', '-a'], options: { env: envWith('DOCKER_HOST', dockerd.host) } }, RUNS, WARMUPS));
          } catch (e) {
            process.stderr.write(`bench: dockerd ps -a failed: ${firstLine(e)}\n`);
          }
        }
        for (const [cli, file, envName] of [['berth CLI', berthBin, 'BERTH_HOST'], ['docker CLI', dockerBin, 'DOCKER_HOST']] as const) {
          await figure(rows, { figure: `ps -a, ${PS_CONTAINERS} containers (${cli})` }, async (row) => {
            const check = await (cli === 'berth CLI' ? daemon.berth(['ps', '-a', '-q']) : daemon.docker(['ps', '-a', '-q']));
            const listed = check.stdout.trim().split('\n').filter(Boolean).length;
            if (check.code !== 0 || listed !== PS_CONTAINERS) throw new Error(`ps -a -q listed ${listed} containers, expected ${PS_CONTAINERS}\n${describeResult('ps -a -q', check)}`);
            const t = median(await timeCommand({ file, args: ['ps', '-a'], options: { env: envWith(envName, daemon.host) } }, RUNS, WARMUPS));
            row.berthd = ms(t);
            if (dockerdPs) {
              row.dockerd = `${ms(dockerdPs)} (docker CLI)`;
              row.ratio = ratio(t, dockerdPs);
            }
          });
        }
      } finally {
        await removeBerthContainers(daemon, berthIds);
        if (dockerd) await dockerd.removeContainers(dockerdIds);
      }

      await figure(rows, { figure: 'monitor RSS per container', target: '< 2 MiB' }, async (row) => {
        await measureMonitors(daemon, dockerd, row);
      });
    }
    // The other sections, each measuring its own area against the same daemons.
    const sections: Array<[Section, string, () => Promise<Row[]> | Row[]]> = [
      ['build', 'build figures', () => buildFigures(daemon.host, dockerd?.host, IMAGE, RUNS, WARMUPS)],
      ['exec', 'exec figures', () => execFigures(daemon.host, dockerd?.host, IMAGE, RUNS, WARMUPS)],
      ['data', 'data figures', () => dataFigures(daemon.host, dockerd?.host, IMAGE, RUNS, WARMUPS)],
      ['compose', 'compose figures', () => composeFigures(daemon.host, dockerd?.host, IMAGE, RUNS, WARMUPS)],
      ['stats', 'stats figures', () => statsFigures(daemon.host, dockerd?.host, IMAGE, RUNS, WARMUPS)],
      ['network', 'network figures', () => networkFigures(daemon.host, dockerd?.host, IMAGE, RUNS, WARMUPS)],
      ['registry', 'registry figures', () => registryFigures(RUNS)],
      // Each run moves 256 MiB twice: five are plenty for a median.
      ['overlay', 'overlay figures (two netns nodes, etcd)', () => overlayFigures(Math.min(RUNS, 5))],
      ['scheduler', 'scheduler figures (simulated nodes)', () => schedulerFigures(RUNS)],
      ['cluster', 'cluster manager figures', () => clusterFigures(RUNS)],
      ['services', 'services figures (3 nodes, etcd, manager)', () => servicesFigures(RUNS)],
    ];
    for (const [section, label, measure] of sections) {
      if (!runs(section)) continue;
      process.stderr.write(`bench: ${label} ...\n`);
      rows.push(...(await measure()));
    }
  } catch (e) {
    process.stderr.write(`bench: aborted: ${e instanceof Error ? e.message : String(e)}\n`);
    problems.push(firstLine(e));
  } finally {
    if (dockerd) problems.push(...(await dockerd.cleanup()));
    if (d) await d.stop().catch((e: Error) => problems.push(e.message));
  }

  process.stdout.write(`\nBerth benchmarks: median of ${RUNS} runs after ${WARMUPS} warm-ups${dockerd ? ', dockerd alongside' : ''}\n\n`);
  process.stdout.write(renderTable(rows) + '\n');
  if (problems.length) process.stdout.write(`\nproblems:\n  ${problems.join('\n  ')}\n`);
  const failed = rows.some((r) => r.note?.startsWith('failed')) || problems.length > 0;
  return failed ? 1 : 0;
}

/** Process names of berthd's monitors: its own berth-monitor, or conmon when configured. */
const MONITOR_NAMES = ['berth-monitor', 'conmon'];

/** Runs sleepers and reads their monitors' memory: berthd's monitor (whichever runs), the containerd shim for dockerd. */
async function measureMonitors(daemon: TestDaemon, dockerd: Dockerd | undefined, row: Row): Promise<void> {
  const ids: string[] = [];
  const dockerdIds: string[] = [];
  try {
    for (let i = 0; i < MONITORED; i++) {
      const r = await daemon.berth(['run', '-d', IMAGE, 'sleep', '300']);
      if (r.code !== 0) throw new Error(describeResult('run -d sleep', r));
      ids.push(r.stdout.trim());
    }
    await sleep(500); // let the monitors settle after start-up
    const rss: number[] = [];
    const pss: number[] = [];
    const names = new Set<string>();
    for (const id of ids) {
      const monitors = processesMentioning(id).filter((p) => MONITOR_NAMES.includes(processName(p.pid) ?? ''));
      if (monitors.length !== 1) throw new Error(`expected one monitor for ${id.slice(0, 12)}, found ${monitors.length}`);
      names.add(processName(monitors[0]!.pid)!);
      rss.push(rssBytes(monitors[0]!.pid));
      const p = pssBytes(monitors[0]!.pid);
      if (p !== undefined) pss.push(p);
    }
    const rssMedian = median(rss);
    row.berthd = mib(rssMedian);
    row.met = rssMedian < 2 * MiB;
    const which = [...names].join('+');
    row.note = pss.length ? `${which}; PSS (shared pages split): ${mib(median(pss))}` : which;

    if (dockerd) {
      for (let i = 0; i < MONITORED; i++) {
        const [id] = await dockerd.createContainers(`${IMAGE}:latest`, 1, ['sleep', '300']);
        dockerdIds.push(id!);
        await dockerd.startContainer(id!);
      }
      await sleep(500);
      const shimRss = dockerdIds.flatMap((id) => dockerd.shimPids(id)).map(rssBytes);
      if (shimRss.length) {
        row.dockerd = `${mib(median(shimRss))} (shim)`;
        row.ratio = ratio(rssMedian, median(shimRss));
      }
    }
  } finally {
    for (const id of ids) await daemon.api('DELETE', `/containers/${id}?force=1`);
    if (dockerd) await dockerd.removeContainers(dockerdIds);
  }
}

process.exitCode = await main();
