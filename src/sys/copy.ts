/** Tree copies that keep owners, modes, times, links and xattrs (volume copy-up). */
import { execToolChecked } from './exec.js';

/** Copies the contents of directory `from` into existing directory `to` (cp -a, no symlink following). */
export async function copyDirContents(from: string, to: string): Promise<void> {
  await execToolChecked('cp', ['-a', '--no-dereference', '--', `${from}/.`, `${to}/`]);
}
