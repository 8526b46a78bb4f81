/**
 * iptables wrappers. Rules are applied with `iptables-restore --noflush`, one process per
 * change: declaring one of berth's own chains in the input flushes just that chain, so berth
 * rewrites its chains wholesale and never touches a rule it didn't make. Jumps from the
 * built-in chains are checked (-C) before being inserted, and deleted one by one.
 */
import { execTool, execToolChecked } from './exec.js';
import { execInNetns } from './netns.js';

export type Table = 'filter' | 'nat';

/** A table's worth of input for iptables-restore: chains to (re)declare and rules to append. */
export interface TableRules {
  table: Table;
  chains: string[];
  rules: string[][];
}

function quote(arg: string): string {
  return /^[\w.:/,!=+-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

export function restoreInput(tables: TableRules[]): string {
  let out = '';
  for (const t of tables) {
    out += `*${t.table}\n`;
    for (const chain of t.chains) out += `:${chain} - [0:0]\n`;
    for (const rule of t.rules) out += `${rule.map(quote).join(' ')}\n`;
    out += 'COMMIT\n';
  }
  return out;
}

/** Rewrites the given chains (creating them if missing) and appends their rules. */
export async function restoreChains(tables: TableRules[], netns?: string): Promise<void> {
  const input = restoreInput(tables);
  if (netns) await execInNetns(netns, 'iptables-restore', ['--noflush'], input);
  else await execToolChecked('iptables-restore', ['--noflush'], { input });
}

/** Inserts a rule at the top of a built-in chain unless it is already there. */
export async function ensureJump(table: Table, chain: string, rule: string[]): Promise<void> {
  const check = await execTool('iptables', ['-w', '-t', table, '-C', chain, ...rule]);
  if (check.code === 0) return;
  await execToolChecked('iptables', ['-w', '-t', table, '-I', chain, '1', ...rule]);
}

/** Deletes every copy of a rule from a chain; missing rules or chains are fine. */
export async function deleteRule(table: Table, chain: string, rule: string[]): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const r = await execTool('iptables', ['-w', '-t', table, '-D', chain, ...rule]);
    if (r.code !== 0) return;
  }
}

/** Flushes and deletes one of berth's chains if it exists. */
export async function deleteChain(table: Table, chain: string): Promise<void> {
  const exists = await execTool('iptables', ['-w', '-t', table, '-S', chain]);
  if (exists.code !== 0) return;
  await execTool('iptables', ['-w', '-t', table, '-F', chain]);
  await execTool('iptables', ['-w', '-t', table, '-X', chain]);
}

/** ensureJump inside a container's namespace (its tables start empty). */
export async function ensureJumpInNetns(netns: string, table: Table, chain: string, rule: string[]): Promise<void> {
  try {
    await execInNetns(netns, 'iptables', ['-w', '-t', table, '-C', chain, ...rule]);
  } catch {
    await execInNetns(netns, 'iptables', ['-w', '-t', table, '-I', chain, '1', ...rule]);
  }
}
