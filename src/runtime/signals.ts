import { invalidParameter } from '../util/errors.js';

/** Linux signal numbers (x86_64, arm64 and most others share these). */
const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10,
  SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CLD: 17, CONT: 18,
  STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27,
  WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31, UNUSED: 31,
};

const RTMIN = 34;
const RTMAX = 64;

/**
 * Accepts what `docker kill -s` accepts: "SIGTERM", "TERM", "term", "15", 15, "RTMIN+3".
 * Anything else is the caller's mistake, reported with docker's message.
 */
export function parseSignal(signal: string | number): number {
  const invalid = () => invalidParameter(`Invalid signal: ${signal}`);
  if (typeof signal === 'number') {
    if (!Number.isInteger(signal) || signal < 1 || signal > RTMAX) throw invalid();
    return signal;
  }
  const text = signal.trim();
  if (/^\d+$/.test(text)) return parseSignal(Number(text));
  const name = text.toUpperCase().replace(/^SIG/, '');
  const known = SIGNALS[name];
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const base = rt[1] === 'MIN' ? RTMIN : RTMAX;
    const offset = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === '-' ? -1 : 1);
    const value = base + offset;
    if (value >= RTMIN && value <= RTMAX) return value;
  }
  throw invalid();
}
