/**
 * Network figures (the networking issue's):
 * - what network set-up adds to `run --rm IMAGE true`: default bridge vs --network none;
 * - throughput of 100 MB sent from the host through a published port on 127.0.0.1 (iptables
 *   DNAT) vs straight to the container's address, target within 10% of direct.
 * The docker CLI drives both daemons; traffic stays on loopback and the daemon's own bridge.
 */
import net from 'node:net';
import { describeResult, run, sleep } from '../test/helpers/exec.js';
import { dockerBin } from '../test/helpers/paths.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';

const PAYLOAD = 100 * 1024 * 1024;
const SINK = 'berth-bench-net-sink';

async function docker(host: string, args: string[]): Promise<string> {
  const r = await run(dockerBin, args, { env: { ...process.env, DOCKER_HOST: host, DOCKER_CLI_HINTS: 'false' }, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(describeResult(`docker ${args.join(' ')}`, r));
  return r.stdout.trim();
}

async function timedRuns(count: number, work: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await work();
    out.push(performance.now() - start);
  }
  return out;
}

/** Sends PAYLOAD bytes and resolves when the sink has closed the connection (all read). */
function send(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const socket = net.connect({ host, port });
    let sent = 0;
    const pump = (): void => {
      while (sent < PAYLOAD) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      socket.end();
    };
    socket.once('connect', pump);
    socket.on('data', () => undefined);
    socket.once('close', (hadError) => (hadError ? reject(new Error(`send to ${host}:${port} failed`)) : resolve()));
    socket.once('error', reject);
    socket.setTimeout(60_000, () => socket.destroy(new Error('timeout')));
  });
}

interface NetFigures {
  runBridge: number;
  runNone: number;
  published: number;
  direct: number;
}

async function measure(host: string, image: string, runs: number, warmups: number): Promise<NetFigures> {
  const total = runs + warmups;
  const drop = (xs: number[]): number => median(xs.slice(warmups));
  const runBridge = drop(await timedRuns(total, () => docker(host, ['run', '--rm', image, 'true'])));
  const runNone = drop(await timedRuns(total, () => docker(host, ['run', '--rm', '--network', 'none', image, 'true'])));
  await docker(host, ['rm', '-f', SINK]).catch(() => undefined);
  // A sink that reads everything and closes; restarted for each connection.
  await docker(host, ['run', '-d', '--name', SINK, '-p', '127.0.0.1::5001', image, 'sh', '-c', 'while true; do nc -l -p 5001 -e sh -c "cat > /dev/null"; done']);
  try {
    const port = Number(/:(\d+)$/.exec(await docker(host, ['port', SINK, '5001/tcp']))?.[1]);
    const ip = await docker(host, ['inspect', '-f', '{{.NetworkSettings.IPAddress}}', SINK]);
    await sleep(300);
    const count = Math.min(total, 7);
    const through = async (h: string, p: number): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < count; i++) {
        const start = performance.now();
        await send(h, p);
        times.push(performance.now() - start);
        await sleep(100); // the sink's loop starts the next listener
      }
      return median(times.slice(1));
    };
    const published = await through('127.0.0.1', port);
    const direct = await through(ip, 5001);
    return { runBridge, runNone, published, direct };
  } finally {
    await docker(host, ['rm', '-f', SINK]).catch(() => undefined);
  }
}

const mbps = (msValue: number): string => `${((PAYLOAD / (1024 * 1024)) / (msValue / 1000)).toFixed(0)} MiB/s`;

export async function networkFigures(berthHost: string, dockerdHost: string | undefined, image: string, runs: number, warmups: number): Promise<Row[]> {
  const ours = await measure(berthHost, image, runs, warmups);
  const theirs = dockerdHost ? await measure(dockerdHost, image, runs, warmups).catch(() => undefined) : undefined;
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
  const setup = ours.runBridge - ours.runNone;
  const rows: Row[] = [
    { figure: 'run --rm, default bridge (docker CLI)', berthd: ms(ours.runBridge), ...(theirs ? { dockerd: ms(theirs.runBridge), ratio: ratio(ours.runBridge, theirs.runBridge) } : {}) },
    { figure: 'run --rm, --network none (docker CLI)', berthd: ms(ours.runNone), ...(theirs ? { dockerd: ms(theirs.runNone), ratio: ratio(ours.runNone, theirs.runNone) } : {}) },
    { figure: 'network set-up added to run --rm', berthd: ms(setup), ...(theirs ? { dockerd: ms(theirs.runBridge - theirs.runNone) } : {}) },
    {
      figure: '100 MB to a published port on 127.0.0.1',
      berthd: `${ms(ours.published)} (${mbps(ours.published)})`,
      ...(theirs ? { dockerd: `${ms(theirs.published)} (${mbps(theirs.published)})`, ratio: ratio(ours.published, theirs.published) } : {}),
    },
    {
      figure: '100 MB straight to the container address',
      berthd: `${ms(ours.direct)} (${mbps(ours.direct)})`,
      target: 'published within 10% of direct',
      met: ours.published <= ours.direct * 1.1,
      note: `published/direct ${ratio(ours.published, ours.direct)}`,
    },
  ];
  return rows;
}
