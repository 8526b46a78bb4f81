/**
 * Manager high availability: every manager started with --replication campaigns through the
 * discovery store's election; the winner is the primary and serves, the others are backups that
 * forward API calls to it. A backup whose campaign succeeds (the primary's lease expired) starts
 * serving at once: its node registry has been kept warm all along.
 */
import type { Election } from '../types.js';
import { errorMessage } from '../../util/errors.js';

export type Role = 'primary' | 'replica';

export class Replication {
  role: Role = 'replica';
  /** The primary's advertised address as the election reports it. */
  primary: string | undefined;
  private stopObserve?: () => void;
  private stopped = false;

  constructor(
    private readonly election: Election,
    private readonly advertise: string,
    private readonly log: (message: string) => void,
  ) {}

  start(): void {
    this.stopObserve = this.election.observe((leader) => {
      if (leader === this.primary) return;
      this.primary = leader;
      if (leader && leader !== this.advertise) {
        this.log(`primary is ${leader}; this manager is a replica`);
        // A primary whose lease lapsed (etcd unreachable past the TTL) was replaced: it must stop
        // serving at once, or two primaries would act on the cluster, and stand again.
        if (this.role === 'primary') {
          this.role = 'replica';
          this.log('lost the primary role (lease expired); campaigning again');
          void this.campaign();
        }
      } else if (!leader) this.log('no primary at the moment');
    });
    void this.campaign();
  }

  /** Campaigns until elected; store errors are retried with back-off (etcd may come back). */
  private async campaign(): Promise<void> {
    let delay = 500;
    while (!this.stopped) {
      try {
        await this.election.campaign(this.advertise);
        if (this.stopped) return;
        this.role = 'primary';
        this.primary = this.advertise;
        this.log(`elected primary (${this.advertise})`);
        return;
      } catch (err) {
        if (this.stopped) return;
        this.log(`election: ${errorMessage(err)}; retrying in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopObserve?.();
    await this.election.resign().catch(() => undefined);
  }
}
