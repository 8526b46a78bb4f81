/**
 * Capped exponential back-off for talking to a store that may be down: retries come quickly
 * after a blip and settle at `maxMs` during an outage, so nothing spins or gives up.
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { initialMs: 250, maxMs: 8_000 };

export class Backoff {
  private attempt = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs;
    this.maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs;
  }

  /** The next delay: doubling from initialMs, capped, with up to 20% jitter so agents spread out. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.2));
  }

  reset(): void {
    this.attempt = 0;
  }

  get failures(): number {
    return this.attempt;
  }
}

/** A sleep that a stop signal cuts short. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * One read of a store, run one at a time: a trigger while it runs makes it run once more
 * afterwards (so what it delivers is never older than the last trigger), and a failure is
 * reported and retried with back-off until a run succeeds or the signal aborts.
 */
export class CoalescedRetry {
  private running = false;
  private dirty = false;

  constructor(
    private readonly run: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
    private readonly signal: AbortSignal,
    private readonly backoff: BackoffOptions = {},
  ) {}

  get busy(): boolean {
    return this.running;
  }

  /** Asks for one more run after the current one (or the next trigger). */
  markDirty(): void {
    this.dirty = true;
  }

  async trigger(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = true;
    const backoff = new Backoff(this.backoff);
    try {
      do {
        this.dirty = false;
        try {
          await this.run();
          backoff.reset();
        } catch (err) {
          if (this.signal.aborted) return;
          this.onError(err);
          this.dirty = true;
          await delay(backoff.next(), this.signal);
        }
      } while (this.dirty && !this.signal.aborted);
    } finally {
      this.running = false;
    }
  }
}
