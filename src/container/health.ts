/**
 * HEALTHCHECK: runs the container's check command inside it every Interval, with dockerd's
 * rules: a check taking longer than Timeout fails with exit -1; Retries consecutive failures
 * make the container unhealthy; failures during StartPeriod don't count; one success makes it
 * healthy. State.Health keeps the last five results; each change of status is an event
 * ("health_status: healthy").
 */
import type { ContainerRecord } from './model.js';

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** Config.Healthcheck as the API carries it (durations in nanoseconds, 0 = default). */
export interface HealthConfig {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
  StartInterval?: number;
}

export interface ProbeResult {
  exitCode: number;
  output: string;
  timedOut: boolean;
}

/** Runs argv inside the running container, killing it after timeoutMs. */
export type Probe = (id: string, argv: string[], env: string[], timeoutMs: number) => Promise<ProbeResult>;

export const DEFAULT_INTERVAL_MS = 30_000;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT_BYTES = 4096;

export interface ProbePlan {
  argv: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

const nsToMs = (ns: number | undefined, fallback: number): number => (ns && ns > 0 ? Math.max(1, Math.round(ns / 1e6)) : fallback);

/** What to run and how often; undefined when the container has no (or a disabled) check. */
export function probePlan(config: HealthConfig | undefined): ProbePlan | undefined {
  const test = config?.Test;
  if (!test || test.length === 0 || test[0] === 'NONE') return undefined;
  let argv: string[];
  if (test[0] === 'CMD-SHELL') argv = ['/bin/sh', '-c', test.slice(1).join(' ')];
  else if (test[0] === 'CMD') argv = test.slice(1);
  else return undefined;
  if (argv.length === 0) return undefined;
  return {
    argv,
    intervalMs: nsToMs(config?.Interval, DEFAULT_INTERVAL_MS),
    timeoutMs: nsToMs(config?.Timeout, DEFAULT_TIMEOUT_MS),
    retries: config?.Retries && config.Retries > 0 ? config.Retries : DEFAULT_RETRIES,
    startPeriodMs: nsToMs(config?.StartPeriod, 0),
  };
}

/** Applies one probe result to the health state (pure); returns the new state. */
export function applyResult(
  state: HealthState,
  plan: ProbePlan,
  entry: HealthLogEntry,
  inStartPeriod: boolean,
): HealthState {
  const Log = [...state.Log, entry].slice(-MAX_LOG_ENTRIES);
  if (entry.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log };
  if (inStartPeriod && state.Status === 'starting') return { ...state, Log };
  const FailingStreak = state.FailingStreak + 1;
  return { Status: FailingStreak >= plan.retries ? 'unhealthy' : state.Status, FailingStreak, Log };
}

export function truncateOutput(output: string): string {
  const bytes = Buffer.from(output);
  return bytes.length <= MAX_OUTPUT_BYTES ? output : bytes.subarray(0, MAX_OUTPUT_BYTES).toString('utf8');
}

export interface HealthDeps {
  probe: Probe;
  /** Persist the record after its health changed. */
  save: (record: ContainerRecord) => Promise<void>;
  /** Called when the status changes (for the health_status event). */
  changed: (record: ContainerRecord, status: HealthStatus) => void;
  debug: (message: string) => void;
}

/** One loop per running container that has a healthcheck. */
export class HealthMonitor {
  private readonly loops = new Map<string, { timer?: NodeJS.Timeout; stopped: boolean }>();

  constructor(private readonly deps: HealthDeps) {}

  /** Starts checking a container that just started (health goes back to "starting"). */
  start(record: ContainerRecord, options: { fresh: boolean } = { fresh: true }): void {
    this.stop(record.id);
    const plan = probePlan(record.config.Healthcheck as HealthConfig | undefined);
    if (!plan) {
      delete record.state.health;
      return;
    }
    if (options.fresh || !record.state.health) record.state.health = { Status: 'starting', FailingStreak: 0, Log: [] };
    const loop: { timer?: NodeJS.Timeout; stopped: boolean } = { stopped: false };
    this.loops.set(record.id, loop);
    const startedAt = Date.parse(record.state.startedAt);
    const tick = async (): Promise<void> => {
      if (loop.stopped) return;
      // A frozen container can't run the check; docker skips it rather than count a timeout.
      if (record.state.status === 'paused') {
        loop.timer = setTimeout(() => void tick(), plan.intervalMs);
        return;
      }
      const start = new Date();
      let result: ProbeResult;
      try {
        result = await this.deps.probe(record.id, plan.argv, record.config.Env ?? [], plan.timeoutMs);
      } catch (err) {
        result = { exitCode: -1, output: err instanceof Error ? err.message : String(err), timedOut: false };
      }
      if (loop.stopped) return;
      const entry: HealthLogEntry = {
        Start: start.toISOString(),
        End: new Date().toISOString(),
        ExitCode: result.timedOut ? -1 : result.exitCode,
        Output: result.timedOut ? `Health check exceeded timeout (${plan.timeoutMs / 1000}s)` : truncateOutput(result.output),
      };
      const previous = record.state.health ?? { Status: 'starting' as const, FailingStreak: 0, Log: [] };
      const next = applyResult(previous, plan, entry, start.getTime() - startedAt < plan.startPeriodMs);
      record.state.health = next;
      await this.deps.save(record).catch((err) => this.deps.debug(`health save ${record.id}: ${String(err)}`));
      if (next.Status !== previous.Status) this.deps.changed(record, next.Status);
      if (!loop.stopped) loop.timer = setTimeout(() => void tick(), plan.intervalMs);
    };
    loop.timer = setTimeout(() => void tick(), plan.intervalMs);
  }

  stop(id: string): void {
    const loop = this.loops.get(id);
    if (!loop) return;
    loop.stopped = true;
    if (loop.timer) clearTimeout(loop.timer);
    this.loops.delete(id);
  }

  close(): void {
    for (const id of [...this.loops.keys()]) this.stop(id);
  }
}
