import type { ResolvedUser } from './types.js';
import { readFileInRoot } from './rootfs-path.js';
import { systemError } from '../util/errors.js';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const MAX_ID = 2 ** 31 - 1;

function parseId(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

function checkRange(id: number): number {
  if (id > MAX_ID) throw systemError(`uids and gids must be in range 0-${MAX_ID}`);
  return id;
}

/** Lines that don't parse are skipped, like libc and runc do. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f.length < 7 || uid === undefined || gid === undefined) continue;
    entries.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return entries;
}

export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const gid = parseId(f[2] ?? '');
    if (f.length < 4 || gid === undefined) continue;
    entries.push({ name: f[0]!, gid, members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return entries;
}

/** A group given by name or number; a number needs no entry. */
function lookupGroup(groups: GroupEntry[], arg: string): number | undefined {
  const numeric = parseId(arg);
  const entry = groups.find((g) => g.name === arg || (numeric !== undefined && g.gid === numeric));
  if (entry) return entry.gid;
  return numeric === undefined ? undefined : checkRange(numeric);
}

/**
 * Resolves a docker user string ("", "name", "uid", "uid:gid", "name:group", ...) against the
 * image's /etc/passwd and /etc/group, with the rules runc's user package applies:
 * - the user part matches a passwd name or uid; an unknown number is used as is (gid 0, home /);
 * - an explicit group sets the gid and no supplementary groups; otherwise the supplementary
 *   groups are those listing the user by name;
 * - `groupAdd` (--group-add) names or numbers are appended.
 * Failures throw a `system` BerthError with docker's message: dockerd resolves users when it
 * builds the spec at start, so `docker start` answers 500 and `docker run` exits 125.
 */
export async function resolveUser(rootfs: string, userSpec: string, groupAdd: string[] = []): Promise<ResolvedUser> {
  const colon = userSpec.indexOf(':');
  const userArg = (colon === -1 ? userSpec : userSpec.slice(0, colon)) || '0';
  const groupArg = colon === -1 ? '' : userSpec.slice(colon + 1);

  const passwd = parsePasswd((await readFileInRoot(rootfs, '/etc/passwd')) ?? '');
  const groups = parseGroup((await readFileInRoot(rootfs, '/etc/group')) ?? '');

  const uidArg = parseId(userArg);
  const entry = passwd.find((p) => p.name === userArg || (uidArg !== undefined && p.uid === uidArg));
  if (!entry && uidArg === undefined) {
    throw systemError(`unable to find user ${userArg}: no matching entries in passwd file`);
  }
  const uid = entry ? entry.uid : checkRange(uidArg!);
  let gid = entry ? entry.gid : 0;
  const home = entry?.home || '/';
  let additionalGids: number[] = [];

  if (groupArg !== '') {
    const found = lookupGroup(groups, groupArg);
    if (found === undefined) throw systemError(`unable to find group ${groupArg}: no matching entries in group file`);
    gid = found;
  } else if (entry) {
    additionalGids = groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid);
  }

  for (const extra of groupAdd) {
    const found = lookupGroup(groups, extra);
    if (found === undefined) throw systemError(`Unable to find group ${extra}: no matching entries in group file`);
    additionalGids.push(found);
  }
  return { uid, gid, additionalGids: [...new Set(additionalGids)], home };
}
