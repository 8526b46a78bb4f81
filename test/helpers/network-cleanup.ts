/**
 * Removes what a test daemon's networking may have left on the host after a crash or a failed
 * test: bridges whose alias names the daemon (berth:<tag>), and iptables chains suffixed with
 * its tag plus the jumps to them. The tag is berthd's instance tag: the first 8 hex digits of
 * sha256(exec-root) (src/network/service.ts instanceTag). Veths die with their namespaces,
 * which are bind mounts under the temp dir (unmounted by cleanupDir).
 */
import { createHash } from 'node:crypto';
import { run } from './exec.js';

export function daemonTag(execRoot: string): string {
  return createHash('sha256').update(execRoot).digest('hex').slice(0, 8);
}

export async function berthLinks(execRoot: string): Promise<string[]> {
  const r = await run('ip', ['-j', 'link', 'show']);
  const links = JSON.parse(r.stdout || '[]') as Array<{ ifname: string; ifalias?: string }>;
  return links.filter((l) => l.ifalias === `berth:${daemonTag(execRoot)}`).map((l) => l.ifname);
}

/** Every iptables line (iptables -S form, filter and nat) that mentions the daemon's tag. */
export async function berthRules(execRoot: string): Promise<string[]> {
  const tag = daemonTag(execRoot);
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    const r = await run('iptables', ['-w', '-t', table, '-S']);
    out.push(...r.stdout.split('\n').filter((l) => l.includes(`-${tag}`)).map((l) => `${table}: ${l}`));
  }
  return out;
}

export async function cleanupNetwork(execRoot: string): Promise<string[]> {
  const problems: string[] = [];
  const tag = daemonTag(execRoot);
  for (const table of ['filter', 'nat']) {
    const r = await run('iptables', ['-w', '-t', table, '-S']);
    const lines = r.stdout.split('\n');
    for (const line of lines) {
      const m = /^-A (\S+) (.*-j (BERTH-\S+-[0-9a-f]{8}))$/.exec(line);
      if (m && !m[1]!.startsWith('BERTH-') && m[3]!.endsWith(`-${tag}`)) {
        await run('iptables', ['-w', '-t', table, '-D', m[1]!, ...m[2]!.split(' ')]);
      }
    }
    for (const line of lines) {
      const m = /^-N (BERTH-\S+)$/.exec(line);
      if (m && m[1]!.endsWith(`-${tag}`)) {
        await run('iptables', ['-w', '-t', table, '-F', m[1]!]);
        const x = await run('iptables', ['-w', '-t', table, '-X', m[1]!]);
        if (x.code !== 0) problems.push(`iptables -t ${table} -X ${m[1]}: ${x.stderr.trim()}`);
      }
    }
  }
  for (const name of await berthLinks(execRoot)) {
    const r = await run('ip', ['link', 'del', 'dev', name]);
    if (r.code !== 0) problems.push(`ip link del ${name}: ${r.stderr.trim()}`);
  }
  return problems;
}
