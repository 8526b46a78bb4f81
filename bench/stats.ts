/**
 * Stats figures: `stats --no-stream` over 50 running containers, through the berth CLI and the
 * docker CLI against berthd, and the docker CLI against dockerd when one answers. Target:
 * no slower than dockerd.
 */
import { apiRequest } from '../test/helpers/daemon.js';
import { berthBin, dockerBin } from '../test/helpers/paths.js';
import { median, timeCommand } from './measure.js';
import { ms, type Row } from './report.js';

const COUNT = 50;
const PREFIX = `berth-bench-stats-${process.pid}`;

async function startSleepers(socket: string, image: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < COUNT; i++) {
    const created = await apiRequest(socket, 'POST', `/containers/create?name=${PREFIX}-${i}`, { Image: image, Cmd: ['sleep', '3600'] });
    if (created.status !== 201) throw new Error(`create -> ${created.status}: ${created.text}`);
    const id = (created.json as { Id: string }).Id;
    ids.push(id);
    const started = await apiRequest(socket, 'POST', `/containers/${id}/start`);
    if (started.status !== 204) throw new Error(`start -> ${started.status}: ${started.text}`);
  }
  return ids;
}

async function removeAll(socket: string, ids: string[]): Promise<void> {
  for (const id of ids) await apiRequest(socket, 'DELETE', `/containers/${id}?force=1`).catch(() => undefined);
}

export async function statsFigures(berthdHost: string, dockerdHost: string | undefined, image: string, runs: number, warmups: number): Promise<Row[]> {
  const rows: Row[] = [];
  const berthdSocket = berthdHost.replace(/^unix:\/\//, '');
  const dockerdSocket = dockerdHost?.replace(/^unix:\/\//, '');
  const env = (name: 'BERTH_HOST' | 'DOCKER_HOST', host: string): NodeJS.ProcessEnv => ({ ...process.env, [name]: host, DOCKER_CLI_HINTS: 'false' });
  // The same 50 names on both daemons, so a developer's own containers on dockerd don't count.
  const args = ['stats', '--no-stream', ...Array.from({ length: COUNT }, (_, i) => `${PREFIX}-${i}`)];
  let berthIds: string[] = [];
  let dockerdIds: string[] = [];
  try {
    berthIds = await startSleepers(berthdSocket, image);
    let dockerdTime: number | undefined;
    if (dockerdHost && dockerdSocket) {
      try {
        dockerdIds = await startSleepers(dockerdSocket, image);
        dockerdTime = median(await timeCommand({ file: dockerBin, args, options: { env: env('DOCKER_HOST', dockerdHost) } }, runs, warmups));
      } catch (e) {
        process.stderr.write(`bench: dockerd stats failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
      }
    }
    for (const cli of ['berth', 'docker'] as const) {
      const row: Row = { figure: `stats --no-stream, ${COUNT} running (${cli} CLI)`, target: "<= 1x dockerd's" };
      try {
        const t = median(
          await timeCommand(
            cli === 'berth'
              ? { file: berthBin, args, options: { env: env('BERTH_HOST', berthdHost) } }
              : { file: dockerBin, args, options: { env: env('DOCKER_HOST', berthdHost) } },
            runs,
            warmups,
          ),
        );
        row.berthd = ms(t);
        if (dockerdTime !== undefined) {
          row.dockerd = ms(dockerdTime);
          row.ratio = `${(t / dockerdTime).toFixed(2)}x`;
          row.met = t <= dockerdTime;
        } else {
          row.note = 'no dockerd to compare with';
        }
      } catch (e) {
        row.note = `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
      }
      rows.push(row);
    }
  } finally {
    await removeAll(berthdSocket, berthIds);
    if (dockerdSocket) await removeAll(dockerdSocket, dockerdIds);
  }
  return rows;
}
