/**
 * A parser for docker's (pflag's) command-line syntax: bundled shorts (-dit), attached short
 * values (-eFOO, -e=FOO), --long=value and --long value, repeatable list flags, --bool=false,
 * and `--` to end flags. run/create/exec stop at the first positional so the container's own
 * arguments are never read as berth flags.
 */
import { compareText } from '../util/compare.js';

export type FlagType = 'string' | 'bool' | 'stringArray' | 'int' | 'duration';
export type FlagValue = string | boolean | string[] | number;

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  help: string;
  /** The type word shown in --help ("list", "filter"); defaults from `type`. */
  typeName?: string;
  default?: string | boolean | number;
  hidden?: boolean;
}

/** A command-line error in docker's sense: exit status 125 and a "See '... --help'." hint. */
export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

export class ParsedArgs {
  readonly values = new Map<string, FlagValue>();
  readonly args: string[] = [];
  /** Names of flags given explicitly, so "unset" and "set to the default" differ. */
  readonly changed = new Set<string>();
  help = false;

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }
  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
  int(name: string): number | undefined {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : undefined;
  }
}

export interface ParseOptions {
  /** Stop parsing flags at the first positional (pflag's SetInterspersed(false)). */
  stopAtPositional?: boolean;
}

const HELP_FLAG: FlagSpec = { name: 'help', type: 'bool', help: 'Print usage', hidden: true };

/** Seconds in a Go duration string ("1m30s", "500ms", "2h"); NaN if malformed. */
export function parseGoDuration(text: string): number {
  if (text === '0') return 0;
  const units: Record<string, number> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let body = text;
  let sign = 1;
  if (body.startsWith('-') || body.startsWith('+')) {
    sign = body.startsWith('-') ? -1 : 1;
    body = body.slice(1);
  }
  if (!body) return NaN;
  let total = 0;
  let pos = 0;
  while (pos < body.length) {
    re.lastIndex = pos;
    const m = re.exec(body);
    if (!m) return NaN;
    total += Number(m[1]) * (units[m[2] as string] as number);
    pos = re.lastIndex;
  }
  return sign * total;
}

function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

function assign(out: ParsedArgs, spec: FlagSpec, raw: string): void {
  out.changed.add(spec.name);
  switch (spec.type) {
    case 'bool': {
      const v = parseBool(raw);
      if (v === undefined) throw new FlagError(`invalid argument "${raw}" for "${flagLabel(spec)}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`);
      out.values.set(spec.name, v);
      return;
    }
    case 'int': {
      if (!/^[+-]?\d+$/.test(raw)) throw new FlagError(`invalid argument "${raw}" for "${flagLabel(spec)}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`);
      out.values.set(spec.name, Number(raw));
      return;
    }
    case 'duration': {
      const secs = parseGoDuration(raw);
      if (Number.isNaN(secs)) throw new FlagError(`invalid argument "${raw}" for "${flagLabel(spec)}" flag: time: invalid duration "${raw}"`);
      out.values.set(spec.name, secs);
      return;
    }
    case 'stringArray': {
      const prev = out.values.get(spec.name);
      out.values.set(spec.name, Array.isArray(prev) ? [...prev, raw] : [raw]);
      return;
    }
    case 'string':
      out.values.set(spec.name, raw);
  }
}

function parseBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
  return undefined;
}

/** Parses argv (without the command words) against the command's flag specs. */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions = {}): ParsedArgs {
  const out = new ParsedArgs();
  const all = specs.some((s) => s.name === 'help') ? specs : [...specs, HELP_FLAG];
  const byName = new Map(all.map((s) => [s.name, s]));
  const byShort = new Map(all.filter((s) => s.short).map((s) => [s.short as string, s]));
  // cobra gives --help the -h shorthand unless the command uses -h itself (run's --hostname).
  if (!byShort.has('h')) byShort.set('h', HELP_FLAG);
  for (const s of all) {
    if (s.default !== undefined) out.values.set(s.name, s.default);
  }

  let i = 0;
  while (i < argv.length) {
    const arg = argv[i++] as string;
    if (arg === '--') {
      out.args.push(...argv.slice(i));
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      const spec = byName.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (spec.type === 'bool') {
        assign(out, spec, eq >= 0 ? arg.slice(eq + 1) : 'true');
      } else if (eq >= 0) {
        assign(out, spec, arg.slice(eq + 1));
      } else {
        if (i >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
        assign(out, spec, argv[i++] as string);
      }
      if (spec === HELP_FLAG || spec.name === 'help') out.help = out.bool('help');
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // A bundle: bools take no value; the first non-bool takes the rest of the word, or the next word.
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j] as string;
        const spec = byShort.get(c);
        if (!spec) throw new FlagError(`unknown shorthand flag: '${c}' in ${arg}`);
        if (spec === HELP_FLAG) {
          out.help = true;
          continue;
        }
        if (spec.type === 'bool') {
          if (arg[j + 1] === '=') {
            assign(out, spec, arg.slice(j + 2));
            break;
          }
          assign(out, spec, 'true');
          continue;
        }
        let value = arg.slice(j + 1);
        if (value.startsWith('=')) value = value.slice(1);
        else if (value === '') {
          if (i >= argv.length) throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
          value = argv[i++] as string;
        }
        assign(out, spec, value);
        break;
      }
      continue;
    }
    out.args.push(arg);
    if (opts.stopAtPositional) {
      out.args.push(...argv.slice(i));
      break;
    }
  }
  return out;
}

function typeWord(spec: FlagSpec): string {
  if (spec.typeName !== undefined) return spec.typeName;
  switch (spec.type) {
    case 'bool':
      return '';
    case 'stringArray':
      return 'list';
    default:
      return spec.type;
  }
}

/** pflag's FlagUsages layout: "  -a, --all" / "      --format string", help aligned 3 spaces past the widest. */
export function formatFlagUsages(specs: readonly FlagSpec[]): string {
  const rows = specs
    .filter((s) => !s.hidden)
    .map((s) => {
      const word = typeWord(s);
      const left = `${s.short ? `  -${s.short}, ` : '      '}--${s.name}${word ? ` ${word}` : ''}`;
      let help = s.help;
      if (s.default !== undefined && s.default !== false && s.default !== '' && s.type !== 'bool') {
        help += s.type === 'string' ? ` (default "${s.default}")` : ` (default ${s.default})`;
      } else if (s.type === 'bool' && s.default === true) {
        help += ' (default true)';
      }
      return { left, help };
    });
  const width = Math.max(0, ...rows.map((r) => r.left.length));
  const indent = ' '.repeat(width + 3);
  return rows.map((r) => `${r.left.padEnd(width)}   ${r.help.split('\n').join(`\n${indent}`)}`).join('\n');
}

/**
 * Orders flags by name for help output, by code unit (compareText): localeCompare would load
 * ICU's collator on every run of the command (~9 ms of `berth run`), for ASCII flag names.
 */
export function byName(a: FlagSpec, b: FlagSpec): number {
  return compareText(a.name, b.name);
}
