/**
 * Finds every path under a directory that carries one extended attribute, with a single
 * getfattr run: spawning one process per directory would make a walk of a large upper dir slow.
 */
import { execTool } from './exec.js';
import { systemError } from '../util/errors.js';

/** getfattr escapes unusual bytes in names as backslash-octal (and "\\" as itself). */
function unescapeGetfattrPath(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (c === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Absolute paths below (and including) `root` whose attribute `name` has exactly `value`.
 * Symlinks are never followed.
 */
export async function pathsWithXattr(root: string, name: string, value: Buffer): Promise<Set<string>> {
  const pattern = `^${name.replace(/[.+*?^$()[\]{}|\\]/g, '\\$&')}$`;
  const result = await execTool('getfattr', ['-R', '-P', '-h', '-d', '--absolute-names', '-e', 'hex', '-m', pattern, '--', root]);
  // getfattr exits non-zero when some entry vanished meanwhile; its stdout is still valid.
  if (result.code !== 0 && result.stdout === '' && result.stderr.trim() !== '') {
    if (!/No such file/i.test(result.stderr)) throw systemError(`getfattr ${root}: ${result.stderr.trim()}`);
  }
  const wanted = `${name}=0x${value.toString('hex')}`;
  const found = new Set<string>();
  let current: string | undefined;
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith('# file: ')) current = unescapeGetfattrPath(line.slice('# file: '.length));
    else if (current !== undefined && line === wanted) found.add(current);
  }
  return found;
}
