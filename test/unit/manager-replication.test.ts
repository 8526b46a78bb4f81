/**
 * The manager's replication role against a scripted election: elected managers serve, and a
 * primary that sees another primary (its lease lapsed) steps down at once and stands again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Replication } from '../../src/cluster/manager/replication.js';
import type { Election } from '../../src/cluster/types.js';

class ScriptedElection implements Election {
  campaigns = 0;
  private win: (() => void) | undefined;
  private listener: ((leader: string | undefined) => void) | undefined;
  campaign(): Promise<void> {
    this.campaigns++;
    return new Promise((resolve) => (this.win = resolve));
  }
  async leader(): Promise<string | undefined> {
    return undefined;
  }
  observe(onChange: (leader: string | undefined) => void): () => void {
    this.listener = onChange;
    return () => (this.listener = undefined);
  }
  async resign(): Promise<void> {}
  elect(): void {
    this.win?.();
  }
  announce(leader: string | undefined): void {
    this.listener?.(leader);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a primary that sees another primary becomes a replica and campaigns again', async () => {
  const election = new ScriptedElection();
  const logs: string[] = [];
  const replication = new Replication(election, '10.0.0.1:4000', (m) => logs.push(m));
  replication.start();
  await tick();
  assert.equal(replication.role, 'replica');
  assert.equal(election.campaigns, 1);

  election.elect();
  await tick();
  election.announce('10.0.0.1:4000');
  assert.equal(replication.role, 'primary');

  election.announce('10.0.0.2:4000');
  assert.equal(replication.role, 'replica', 'stepped down');
  assert.equal(replication.primary, '10.0.0.2:4000');
  await tick();
  assert.equal(election.campaigns, 2, 'stands again');
  assert.ok(logs.some((l) => /lost the primary role/.test(l)), logs.join('\n'));

  election.elect();
  await tick();
  assert.equal(replication.role, 'primary');
  await replication.stop();
});

test('a replica that sees the primary change stays a replica without a second campaign', async () => {
  const election = new ScriptedElection();
  const replication = new Replication(election, '10.0.0.3:4000', () => undefined);
  replication.start();
  await tick();
  election.announce('10.0.0.1:4000');
  election.announce('10.0.0.2:4000');
  await tick();
  assert.equal(replication.role, 'replica');
  assert.equal(election.campaigns, 1);
  await replication.stop();
});
