/**
 * Registry figures: blob upload (100 MB monolithic, and in 5 MB chunks) and download
 * throughput of `berth registry serve`, next to Debian's docker-registry (the reference
 * implementation) in the same run when it is installed; and a 100 MB image pushed to and
 * pulled from berth's registry through berthd, and through dockerd when one answers on
 * /var/run/docker.sock (never started here); the pull figure is the median of several cold
 * pulls (the push one run: a second push would find the blob already there). Targets:
 * upload >= 1.5x the reference registry's throughput, download at least as fast; pull at
 * least as fast as dockerd.
 *
 * Run alone: node $BERTH_DIST/bench/registry.js (BENCH_RUNS=3 for a quick look).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { hasReferenceRegistry, startBerthRegistry, startReferenceRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { ustarFileHeader, ustarPadding } from '../test/helpers/tar.js';
import { median } from './measure.js';
import { probeDockerd, type Dockerd } from './dockerd.js';
import { renderTable, ms, type Row } from './report.js';

const MB = 1_000_000;
const BLOB = 100 * MB;
const CHUNK = 5 * MB;

function send(addr: string, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; bytes: number }> {
  const [host, port] = addr.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path, headers: { ...headers, ...(body ? { 'Content-Length': String(body.length) } : { 'Content-Length': '0' }) } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function timed(work: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Throughput {
  monolithic: number;
  chunked: number;
  download: number;
}

/** Median milliseconds for each operation against one registry. */
async function measureRegistry(reg: TestRegistry, blob: Buffer, digest: string, runs: number): Promise<Throughput> {
  const mono: number[] = [];
  const chunked: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Monolithic as both registries support it: open a session, PUT the whole blob with its digest.
    mono.push(await timed(async () => {
      const start = await send(reg.addr, 'POST', `/v2/bench/mono${i}/blobs/uploads/`);
      const url = new URL(String(start.headers.location), `http://${reg.addr}`);
      url.searchParams.set('digest', digest);
      const r = await send(reg.addr, 'PUT', url.pathname + url.search, blob, { 'Content-Type': 'application/octet-stream' });
      if (r.status !== 201) throw new Error(`monolithic upload -> ${r.status}`);
    }));
    chunked.push(await timed(async () => {
      const start = await send(reg.addr, 'POST', `/v2/bench/chunk${i}/blobs/uploads/`);
      let location = String(start.headers.location);
      for (let off = 0; off < blob.length; off += CHUNK) {
        const part = blob.subarray(off, Math.min(off + CHUNK, blob.length));
        const r = await send(reg.addr, 'PATCH', new URL(location, `http://${reg.addr}`).pathname + new URL(location, `http://${reg.addr}`).search, part, {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${off}-${off + part.length - 1}`,
        });
        if (r.status !== 202) throw new Error(`PATCH -> ${r.status}`);
        location = String(r.headers.location);
      }
      const url = new URL(location, `http://${reg.addr}`);
      url.searchParams.set('digest', digest);
      const done = await send(reg.addr, 'PUT', url.pathname + url.search);
      if (done.status !== 201) throw new Error(`PUT -> ${done.status}`);
    }));
    down.push(await timed(async () => {
      const r = await send(reg.addr, 'GET', `/v2/bench/mono${i}/blobs/${digest}`);
      if (r.status !== 200 || r.bytes !== blob.length) throw new Error(`download -> ${r.status}, ${r.bytes} bytes`);
    }));
  }
  return { monolithic: median(mono), chunked: median(chunked), download: median(down) };
}

const mbps = (msValue: number): string => `${((BLOB / MB) / (msValue / 1000)).toFixed(0)} MB/s`;

/** A rootfs tar holding one 100 MB file of random bytes (so gzip cannot shrink it). */
function bigRootfsTar(): Buffer {
  return Buffer.concat([ustarFileHeader('data.bin', BLOB), randomBytes(BLOB), ustarPadding(BLOB), Buffer.alloc(1024)]);
}

/** The dockerd column of a push/pull row, or a note that none answered. */
function withDockerd(row: Row, mine: number, theirs: number | undefined): Row {
  if (theirs === undefined) return { ...row, dockerd: 'no dockerd' };
  return { ...row, dockerd: `${ms(theirs)} (${mbps(theirs)})`, ratio: `${(mine / theirs).toFixed(2)}x` };
}

/**
 * A single cold pull swings by a few hundred ms with the load on a shared machine, so the
 * figure is the median of `runs` cold pulls, each after an rmi that removes layers and blobs.
 */
async function medianPull(runs: number, rmi: () => Promise<void>, pull: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await rmi();
    times.push(await timed(pull));
  }
  process.stderr.write(`bench: registry: pull runs ${times.map((t) => t.toFixed(0)).join(', ')} ms\n`);
  return median(times);
}

/**
 * The same 100 MB image through a dockerd (when one answers): imported, pushed to berth's
 * registry under its own tag, removed and pulled back. Only what we added is removed.
 */
async function dockerdPushPull(reg: TestRegistry, tar: Buffer, pulls: number): Promise<{ push: number; pull: number } | undefined> {
  const dockerd: Dockerd | undefined = await probeDockerd();
  if (!dockerd) {
    process.stderr.write('bench: registry: no dockerd at /var/run/docker.sock, push/pull through berthd only\n');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-dockerd-'));
  const name = `${reg.addr}/bench/big:dockerd`;
  try {
    writeFileSync(join(dir, 'big.tar'), tar);
    await dockerd.importImage(join(dir, 'big.tar'), name);
    const push = await timed(async () => {
      const r = await dockerd.docker(['push', name]);
      if (r.code !== 0) throw new Error(`dockerd push failed: ${r.stderr}`);
    });
    const pull = await medianPull(pulls, async () => {
      const rmi = await dockerd.docker(['rmi', name]);
      if (rmi.code !== 0) throw new Error(`dockerd rmi failed: ${rmi.stderr}`);
    }, async () => {
      const r = await dockerd.docker(['pull', name]);
      if (r.code !== 0) throw new Error(`dockerd pull failed: ${r.stderr}`);
    });
    return { push, pull };
  } finally {
    const problems = await dockerd.cleanup();
    if (problems.length) process.stderr.write(`bench: registry: dockerd cleanup: ${problems.join('; ')}\n`);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function registryFigures(runs: number): Promise<Row[]> {
  const n = Math.max(1, Math.min(runs, 5));
  const blob = randomBytes(BLOB);
  const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
  const rows: Row[] = [];
  const ours = await startBerthRegistry(['-q']);
  let reference: TestRegistry | undefined;
  try {
    if (hasReferenceRegistry()) reference = await startReferenceRegistry();
    const a = await measureRegistry(ours, blob, digest, n);
    const b = reference ? await measureRegistry(reference, blob, digest, n) : undefined;
    const row = (figure: string, mine: number, theirs: number | undefined, factor: number): Row => {
      const r: Row = { figure, berthd: `${ms(mine)} (${mbps(mine)})`, target: factor > 1 ? `>= ${factor}x reference MB/s` : '>= reference MB/s' };
      if (theirs !== undefined) {
        r.dockerd = `${ms(theirs)} (${mbps(theirs)})`;
        r.ratio = `${(theirs / mine).toFixed(2)}x`;
        r.met = theirs / mine >= factor;
        r.note = 'DOCKERD column: Debian docker-registry; RATIO: berth throughput / reference throughput';
      }
      return r;
    };
    rows.push(row('registry upload 100 MB, monolithic', a.monolithic, b?.monolithic, 1.5));
    rows.push(row('registry upload 100 MB, 5 MB chunks', a.chunked, b?.chunked, 1.5));
    rows.push(row('registry download 100 MB', a.download, b?.download, 1));

    // Through berthd: a 100 MB image pushed to berth's registry, then pulled back after rmi.
    const tar = bigRootfsTar();
    const theirs = await dockerdPushPull(ours, tar, n);
    const d = await startDaemon();
    try {
      const name = `${ours.addr}/bench/big:1`;
      const imp = await d.api('POST', `/images/create?fromSrc=-&repo=${encodeURIComponent(`${ours.addr}/bench/big`)}&tag=1`, tar, { headers: { 'Content-Type': 'application/x-tar' }, timeoutMs: 300_000 });
      if (imp.status !== 200) throw new Error(`import -> ${imp.status}`);
      const push = await timed(async () => {
        const r = await d.berth(['push', name], { timeoutMs: 600_000, env: { DOCKER_CONFIG: d.dir } });
        if (r.code !== 0) throw new Error(`push failed: ${r.stderr}`);
      });
      rows.push(withDockerd({ figure: 'push 100 MB image through berthd', berthd: `${ms(push)} (${mbps(push)})`, note: 'one run: a second push finds the blob and skips it' }, push, theirs?.push));
      const pull = await medianPull(n, async () => {
        const rmi = await d.berth(['rmi', name]);
        if (rmi.code !== 0) throw new Error(`rmi failed: ${rmi.stderr}`);
      }, async () => {
        const r = await d.berth(['pull', name], { timeoutMs: 600_000, env: { DOCKER_CONFIG: d.dir } });
        if (r.code !== 0) throw new Error(`pull failed: ${r.stderr}`);
      });
      const note = `median of ${n} cold pulls (rmi, then pull; both daemons alike): download, verify, unpack`;
      const pullRow = withDockerd({ figure: 'pull 100 MB image through berthd', berthd: `${ms(pull)} (${mbps(pull)})`, note, target: '<= dockerd time' }, pull, theirs?.pull);
      if (theirs) pullRow.met = pull <= theirs.pull;
      rows.push(pullRow);
    } finally {
      await d.stop();
    }
  } finally {
    await Promise.allSettled([ours.stop(), reference?.stop()]);
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
  const rows = await registryFigures(runs);
  process.stdout.write(`\nRegistry benchmarks: median of ${Math.min(runs, 5)} runs\n\n${renderTable(rows)}\n`);
}
