/**
 * Go's text/tabwriter as docker configures it (minwidth 10, tabwidth 1, padding 3, space
 * padding, no flags): tab-terminated cells are padded so columns align; a column's width is
 * decided per "column block" (consecutive lines that have that cell), and a line without tabs
 * ends every block, exactly as Go does, so `--format` strings render like docker's.
 */
export interface TabOptions {
  minWidth: number;
  padding: number;
}

export const DOCKER_TABS: TabOptions = { minWidth: 10, padding: 3 };

const runeLength = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

export function tabwrite(text: string, opts: TabOptions = DOCKER_TABS): string {
  const out: string[] = [];
  const endsWithNewline = text.endsWith('\n');
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  let block: string[][] = [];
  const flush = (): void => {
    if (block.length) out.push(formatBlock(block, opts));
    block = [];
  };
  for (const cells of lines) {
    block.push(cells);
    if (cells.length === 1) flush();
  }
  flush();
  const joined = out.join('\n');
  return endsWithNewline || text === '' ? (text === '' ? '' : `${joined}\n`) : joined;
}

function formatBlock(lines: string[][], opts: TabOptions): string {
  const rendered: string[] = lines.map(() => '');
  const widths: number[] = [];

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const cells = lines[i] as string[];
      let s = '';
      cells.forEach((cell, j) => {
        const w = widths[j];
        s += j < cells.length - 1 && w !== undefined ? cell + ' '.repeat(Math.max(0, w - runeLength(cell))) : cell;
      });
      rendered[i] = s;
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= (lines[cur] as string[]).length - 1) continue;
      writeLines(start, cur);
      start = cur;
      let width = opts.minWidth;
      let end = cur;
      for (; end < line1; end++) {
        const cells = lines[end] as string[];
        if (column >= cells.length - 1) break;
        width = Math.max(width, runeLength(cells[column] as string) + opts.padding);
      }
      widths.push(width);
      format(start, end);
      widths.pop();
      start = end;
      cur = end - 1;
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return rendered.join('\n');
}
