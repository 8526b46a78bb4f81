import { readFileSync } from 'node:fs';

export interface RlimitValue {
  /** Infinity stands for "unlimited". */
  soft: number;
  hard: number;
}

/** /proc/PID/limits row labels -> OCI rlimit type names. */
const LIMIT_LABELS: ReadonlyArray<readonly [string, string]> = [
  ['Max cpu time', 'RLIMIT_CPU'],
  ['Max file size', 'RLIMIT_FSIZE'],
  ['Max data size', 'RLIMIT_DATA'],
  ['Max stack size', 'RLIMIT_STACK'],
  ['Max core file size', 'RLIMIT_CORE'],
  ['Max resident set', 'RLIMIT_RSS'],
  ['Max processes', 'RLIMIT_NPROC'],
  ['Max open files', 'RLIMIT_NOFILE'],
  ['Max locked memory', 'RLIMIT_MEMLOCK'],
  ['Max address space', 'RLIMIT_AS'],
  ['Max file locks', 'RLIMIT_LOCKS'],
  ['Max pending signals', 'RLIMIT_SIGPENDING'],
  ['Max msgqueue size', 'RLIMIT_MSGQUEUE'],
  ['Max nice priority', 'RLIMIT_NICE'],
  ['Max realtime priority', 'RLIMIT_RTPRIO'],
  ['Max realtime timeout', 'RLIMIT_RTTIME'],
];

function parseLimit(value: string): number {
  return value === 'unlimited' ? Infinity : Number(value);
}

/** Parses the text of /proc/PID/limits into OCI-named rlimits. */
export function parseProcLimits(text: string): Record<string, RlimitValue> {
  const limits: Record<string, RlimitValue> = {};
  for (const line of text.split('\n')) {
    const entry = LIMIT_LABELS.find(([label]) => line.startsWith(label));
    if (!entry) continue;
    const fields = line.slice(entry[0].length).trim().split(/\s+/);
    if (fields.length < 2) continue;
    limits[entry[1]] = { soft: parseLimit(fields[0]!), hard: parseLimit(fields[1]!) };
  }
  return limits;
}

/**
 * The daemon's own rlimits. Containers inherit them through conmon and runc, and without
 * CAP_SYS_RESOURCE in the host namespace nothing can raise a hard limit above these, so the
 * daemon validates --ulimit against them and the spec builder clamps its defaults to them.
 */
export function readHostRlimits(): Record<string, RlimitValue> {
  return parseProcLimits(readFileSync('/proc/self/limits', 'utf8'));
}

/** Accepts docker's short names ("nofile") as well as OCI names ("RLIMIT_NOFILE"). */
export function normalizeRlimitType(type: string): string {
  const upper = type.trim().toUpperCase();
  return upper.startsWith('RLIMIT_') ? upper : `RLIMIT_${upper}`;
}

/** dockerd on a systemd host runs with LimitNOFILE=1048576 and its containers inherit that. */
export const DOCKER_DEFAULT_NOFILE = 1048576;
