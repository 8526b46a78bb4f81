/** The benchmark table: one row per figure, berthd next to dockerd, and the target. */

export interface Row {
  figure: string;
  berthd?: string;
  dockerd?: string;
  ratio?: string;
  target?: string;
  /** true = target met, false = missed, undefined = no target or no figure. */
  met?: boolean;
  note?: string;
}

export function renderTable(rows: Row[]): string {
  const headers = ['FIGURE', 'BERTHD', 'DOCKERD', 'RATIO', 'TARGET', 'MET'];
  const cells = rows.map((r) => [r.figure, r.berthd ?? '-', r.dockerd ?? '-', r.ratio ?? '-', r.target ?? '-', r.met === undefined ? '-' : r.met ? 'yes' : 'NO']);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((v, i) => v.padEnd(widths[i]!)).join('   ').trimEnd();
  const out = [line(headers), ...cells.map(line)];
  const notes = rows.filter((r) => r.note).map((r) => `  ${r.figure}: ${r.note}`);
  if (notes.length) out.push('', 'notes:', ...notes);
  return out.join('\n');
}

export const ms = (v: number): string => `${v.toFixed(1)} ms`;
export const mib = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
