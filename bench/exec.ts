/**
 * Exec figures: `exec NAME true` round trip (create the instance, hijacked start, the process
 * runs and exits, inspect for the code) through the berth CLI and the docker CLI against
 * berthd, and the docker CLI against dockerd when one answers. Target: berthd at most 1/3 of
 * dockerd's time.
 */
import { apiRequest } from '../test/helpers/daemon.js';
import { berthBin, dockerBin } from '../test/helpers/paths.js';
import { median, timeCommand } from './measure.js';
import { ms, type Row } from './report.js';

const NAME = `berth-bench-exec-${process.pid}`;

async function startSleeper(socket: string, image: string): Promise<string> {
  const created = await apiRequest(socket, 'POST', `/containers/create?name=${NAME}`, { Image: image, Cmd: ['sleep', '3600'] });
  if (created.status !== 201) throw new Error(`create ${NAME} -> ${created.status}: ${created.text}`);
  const id = (created.json as { Id: string }).Id;
  const started = await apiRequest(socket, 'POST', `/containers/${id}/start`);
  if (started.status !== 204) throw new Error(`start ${NAME} -> ${started.status}: ${started.text}`);
  return id;
}

async function removeSleeper(socket: string, id: string | undefined): Promise<void> {
  if (id) await apiRequest(socket, 'DELETE', `/containers/${id}?force=1`);
}

export async function execFigures(berthdHost: string, dockerdHost: string | undefined, image: string, runs: number, warmups: number): Promise<Row[]> {
  const rows: Row[] = [];
  const berthdSocket = berthdHost.replace(/^unix:\/\//, '');
  const dockerdSocket = dockerdHost?.replace(/^unix:\/\//, '');
  const env = (name: 'BERTH_HOST' | 'DOCKER_HOST', host: string): NodeJS.ProcessEnv => ({ ...process.env, [name]: host, DOCKER_CLI_HINTS: 'false' });
  let berthId: string | undefined;
  let dockerdId: string | undefined;
  try {
    berthId = await startSleeper(berthdSocket, image);
    let dockerdTime: number | undefined;
    if (dockerdHost && dockerdSocket) {
      try {
        dockerdId = await startSleeper(dockerdSocket, image);
        dockerdTime = median(await timeCommand({ file: dockerBin, args: ['exec', NAME, 'true'], options: { env: env('DOCKER_HOST', dockerdHost) } }, runs, warmups));
      } catch (e) {
        process.stderr.write(`bench: dockerd exec failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
      }
    }
    for (const cli of ['berth', 'docker'] as const) {
      const row: Row = { figure: `exec ${NAME.slice(0, 17)}.. true (${cli} CLI)`, target: "<= 0.33x dockerd's" };
      try {
        const t = median(
          await timeCommand(
            cli === 'berth'
              ? { file: berthBin, args: ['exec', NAME, 'true'], options: { env: env('BERTH_HOST', berthdHost) } }
              : { file: dockerBin, args: ['exec', NAME, 'true'], options: { env: env('DOCKER_HOST', berthdHost) } },
            runs,
            warmups,
          ),
        );
        row.berthd = ms(t);
        if (dockerdTime !== undefined) {
          row.dockerd = ms(dockerdTime);
          row.ratio = `${(t / dockerdTime).toFixed(2)}x`;
          row.met = t <= dockerdTime / 3;
        } else {
          row.note = 'no dockerd to compare with';
        }
      } catch (e) {
        row.note = `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
      }
      rows.push(row);
    }
  } finally {
    await removeSleeper(berthdSocket, berthId).catch(() => undefined);
    if (dockerdSocket) await removeSleeper(dockerdSocket, dockerdId).catch(() => undefined);
  }
  return rows;
}
