/**
 * Overlay throughput: the same TCP transfer between two nodes (network namespaces on a test-made
 * bridge, each running a berthd with a real etcd as cluster store), once between containers over
 * the overlay (veth -> bridge -> vxlan -> underlay -> vxlan -> bridge -> veth) and once between
 * the nodes themselves over the underlay. Sender and sink are small node programs started with
 * nsenter in the containers' (or nodes') network namespaces, so both paths run the same code and
 * only the network differs. busybox nc would be the obvious tool, but Debian's busybox-static nc
 * stops after the first few KiB of a piped stream, so it can't carry a transfer.
 *
 * No dockerd figure: dockerd's classic overlay needs a cluster store and a daemon per node too,
 * which the single developer dockerd this suite compares against doesn't have.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../test/helpers/daemon.js';
import { startEtcd, type TestEtcd } from '../test/helpers/etcd.js';
import { createUnderlay, type UnderlayLab } from '../test/helpers/overlay-lab.js';
import { importBusybox } from '../test/helpers/images.js';
import { describeResult, run, sleep } from '../test/helpers/exec.js';
import { terminate } from '../test/helpers/cleanup.js';
import { median } from './measure.js';
import { ms, type Row } from './report.js';

const PAYLOAD_MIB = Number(process.env.BENCH_OVERLAY_MIB ?? 256);
const PORT = 5201;

const SINK = `
const net = require('node:net');
net.createServer((s) => { s.on('data', () => {}); s.on('end', () => s.end()); }).listen(${PORT}, process.argv[1], () => console.log('ready'));
`;

const SENDER = `
const net = require('node:net');
const [host, mib] = [process.argv[1], Number(process.argv[2])];
const chunk = Buffer.alloc(1 << 20, 0x61);
const start = process.hrtime.bigint();
const s = net.connect(${PORT}, host);
let sent = 0;
const pump = () => { while (sent < mib) { sent++; if (!s.write(chunk)) return void s.once('drain', pump); } s.end(); };
s.once('connect', pump);
s.on('data', () => {});
s.once('close', (err) => { if (err) process.exit(1); console.log(Number(process.hrtime.bigint() - start) / 1e6); });
s.once('error', (e) => { console.error(e.message); process.exit(1); });
`;

function startSink(netnsPath: string, listenIp: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', SINK, listenIp], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout!.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`sink exited (${code}): ${err}`)));
  });
}

async function sendOnce(netnsPath: string, target: string): Promise<number> {
  const r = await run('nsenter', [`--net=${netnsPath}`, process.execPath, '-e', SENDER, target, String(PAYLOAD_MIB)], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(describeResult('sender', r));
  return Number(r.stdout.trim());
}

/** Alternating runs, so a busy moment on the shared machine hits both paths alike. */
async function alternate(runs: number, first: () => Promise<number>, second: () => Promise<number>): Promise<[number, number]> {
  await first(); // warm-up: ARP/FDB, conntrack, node's own start-up
  await second();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(await first());
    b.push(await second());
  }
  return [median(a), median(b)];
}

const mibps = (msValue: number): string => `${((PAYLOAD_MIB * 1000) / msValue).toFixed(0)} MiB/s`;

export async function overlayFigures(runs: number): Promise<Row[]> {
  let lab: UnderlayLab | undefined;
  let etcd: TestEtcd | undefined;
  const nodes: TestDaemon[] = [];
  const sinks: ChildProcess[] = [];
  try {
    lab = await createUnderlay(2);
    etcd = await startEtcd({ clientHost: lab.hostIp });
    for (const node of lab.nodes) {
      const d = await startDaemon({ netns: node.netns, args: ['--cluster-store', etcd.url('bench'), '--cluster-advertise', `${node.ip}:2376`, '--dns', '127.0.0.1'] });
      nodes.push(d);
      await importBusybox(d);
    }
    const [a, b] = nodes as [TestDaemon, TestDaemon];
    const octet = lab.subnet.split('.')[2];
    const mk = await a.berth(['network', 'create', '-d', 'overlay', '--subnet', `10.214.${octet}.0/24`, 'benchnet']);
    if (mk.code !== 0) throw new Error(describeResult('network create', mk));
    const sandbox = async (d: TestDaemon, name: string): Promise<{ path: string; ip: string }> => {
      const r = await d.berth(['run', '-d', '--name', name, '--network', 'benchnet', 'busybox', 'sleep', '3600']);
      if (r.code !== 0) throw new Error(describeResult('run', r));
      const info = (await d.api('GET', `/containers/${name}/json`)).json as { NetworkSettings: { SandboxKey: string; Networks: Record<string, { IPAddress: string }> } };
      return { path: info.NetworkSettings.SandboxKey, ip: info.NetworkSettings.Networks['benchnet']!.IPAddress };
    };
    const ca = await sandbox(a, 'bench-a');
    const cb = await sandbox(b, 'bench-b');
    const nodeA = `/run/netns/${lab.nodes[0]!.netns}`;
    const nodeB = `/run/netns/${lab.nodes[1]!.netns}`;
    sinks.push(await startSink(cb.path, cb.ip));
    sinks.push(await startSink(nodeB, lab.nodes[1]!.ip));
    await sleep(100);
    const [overlay, underlay] = await alternate(
      runs,
      () => sendOnce(ca.path, cb.ip),
      () => sendOnce(nodeA, lab!.nodes[1]!.ip),
    );
    return [
      { figure: `${PAYLOAD_MIB} MiB container->container across nodes, overlay (VXLAN)`, berthd: `${ms(overlay)} (${mibps(overlay)})`, note: 'no dockerd figure: classic overlay needs a cluster store and a daemon per node' },
      { figure: `${PAYLOAD_MIB} MiB node->node, underlay`, berthd: `${ms(underlay)} (${mibps(underlay)})`, ratio: `${(overlay / underlay).toFixed(2)}x`, note: `overlay/underlay time ${(overlay / underlay).toFixed(2)}x (MTU 1450 vs 1500, encapsulation, two extra bridges)` },
    ];
  } finally {
    for (const s of sinks) if (s.pid) await terminate(s.pid, 2_000);
    for (const d of nodes) {
      await d.berth(['rm', '-f', 'bench-a', 'bench-b']).catch(() => undefined);
      await d.stop().catch((e: Error) => process.stderr.write(`bench overlay: ${e.message}\n`));
    }
    await etcd?.stop();
    const problems = (await lab?.stop()) ?? [];
    if (problems.length) process.stderr.write(`bench overlay cleanup: ${problems.join('; ')}\n`);
  }
}

/** `node .dist/bench/overlay.js`: this figure alone. */
if (process.argv[1]?.endsWith('/bench/overlay.js')) {
  const { renderTable } = await import('./report.js');
  overlayFigures(Math.max(1, Number(process.env.BENCH_RUNS ?? 5)))
    .then((rows) => process.stdout.write(renderTable(rows) + '\n'))
    .catch((e: unknown) => {
      process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
      process.exitCode = 1;
    });
}
