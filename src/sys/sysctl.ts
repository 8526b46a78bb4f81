/** Kernel settings under /proc/sys. Writes from berthd's process apply to the host namespace. */
import { readFile, writeFile } from 'node:fs/promises';
import { execInNetns } from './netns.js';

const path = (key: string): string => `/proc/sys/${key.replace(/\./g, '/')}`;

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(path(key), 'utf8')).trim();
}

/** Writes only when the value differs, so an unchanged setting is never rewritten. */
export async function ensureSysctl(key: string, value: string): Promise<void> {
  if ((await readSysctl(key).catch(() => '')) === value) return;
  await writeFile(path(key), value);
}

/** /proc/sys/net shows the namespace of the process reading it, hence nsenter. */
export async function setSysctlInNetns(netns: string, key: string, value: string): Promise<void> {
  await execInNetns(netns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
}
