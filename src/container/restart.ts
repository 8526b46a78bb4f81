/**
 * Restart policies with dockerd's rules: `no`, `on-failure[:N]`, `always`, `unless-stopped`;
 * a back-off that starts at 100 ms and doubles on each restart (at most a minute), and goes
 * back to 100 ms once a run lasted 10 s. Decisions are pure; the scheduler only holds timers.
 */
import type { ContainerRecord, RestartPolicy } from './model.js';

export const INITIAL_BACKOFF_MS = 100;
export const MAX_BACKOFF_MS = 60_000;
/** A run at least this long counts as healthy: the back-off starts over. */
export const BACKOFF_RESET_AFTER_MS = 10_000;

export interface ExitFacts {
  exitCode: number;
  /** A user asked for this stop (stop, kill, rm -f). */
  stoppedByUser: boolean;
  /** Restarts so far (docker's RestartCount). */
  restartCount: number;
}

/** Whether a container that just exited should be started again (while the daemon runs). */
export function shouldRestartAfterExit(policy: RestartPolicy | undefined, exit: ExitFacts): boolean {
  if (!policy || exit.stoppedByUser) return false;
  switch (policy.Name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exit.exitCode !== 0 && (policy.MaximumRetryCount === 0 || exit.restartCount < policy.MaximumRetryCount);
    default:
      return false;
  }
}

/**
 * Whether the daemon starts a container that isn't running when the daemon itself starts.
 * As dockerd: `always` comes back even after a manual stop, `unless-stopped` only if it wasn't
 * stopped by a user, `on-failure` if it failed (or died with the daemon) with retries left.
 */
export function shouldRestartOnDaemonStart(record: ContainerRecord): boolean {
  const policy = record.hostConfig.RestartPolicy;
  if (!policy || record.state.startedAt === '0001-01-01T00:00:00Z') return false;
  switch (policy.Name) {
    case 'always':
      return true;
    case 'unless-stopped':
      return !record.state.stoppedByUser;
    case 'on-failure':
      return shouldRestartAfterExit(policy, { exitCode: record.state.exitCode, stoppedByUser: record.state.stoppedByUser, restartCount: record.restartCount });
    default:
      return false;
  }
}

/** The next back-off after a run that lasted `ranForMs`, given the previous one (0 = none yet). */
export function nextBackoff(previousMs: number, ranForMs: number): number {
  if (previousMs === 0 || ranForMs >= BACKOFF_RESET_AFTER_MS) return INITIAL_BACKOFF_MS;
  return Math.min(previousMs * 2, MAX_BACKOFF_MS);
}

/** Pending restarts and each container's current back-off. */
export class RestartScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly backoff = new Map<string, number>();

  /** Schedules `run` after the container's next back-off; returns that delay. */
  schedule(id: string, ranForMs: number, run: () => void): number {
    this.cancel(id);
    const delay = nextBackoff(this.backoff.get(id) ?? 0, ranForMs);
    this.backoff.set(id, delay);
    const timer = setTimeout(() => {
      this.timers.delete(id);
      run();
    }, delay);
    this.timers.set(id, timer);
    return delay;
  }

  /** True if a restart was pending (and is now cancelled). */
  cancel(id: string): boolean {
    const timer = this.timers.get(id);
    if (!timer) return false;
    clearTimeout(timer);
    this.timers.delete(id);
    return true;
  }

  /** A manual start or a removal forgets the back-off. */
  reset(id: string): void {
    this.cancel(id);
    this.backoff.delete(id);
  }

  pending(id: string): boolean {
    return this.timers.has(id);
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }
}
