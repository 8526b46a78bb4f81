/**
 * `--change` instructions for import and commit: a subset of Dockerfile instructions that
 * only edit the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME,
 * STOPSIGNAL, ONBUILD, HEALTHCHECK), applied in order like the builder would.
 */
import { posix } from 'node:path';
import { invalidParameter } from '../util/errors.js';
import type { ImageContainerConfig } from './types.js';

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const VALID_CHANGE_COMMANDS = new Set(['cmd', 'entrypoint', 'env', 'expose', 'label', 'user', 'workdir', 'volume', 'stopsignal', 'onbuild', 'healthcheck']);

const SIGNALS = [
  'ABRT', 'ALRM', 'BUS', 'CHLD', 'CLD', 'CONT', 'FPE', 'HUP', 'ILL', 'INT', 'IO', 'IOT', 'KILL', 'PIPE', 'POLL', 'PROF', 'PWR',
  'QUIT', 'SEGV', 'STKFLT', 'STOP', 'SYS', 'TERM', 'TRAP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'USR1', 'USR2', 'VTALRM', 'WINCH', 'XCPU', 'XFSZ',
];

/** One instruction: keyword lowercased, the rest of the line as written. */
export interface ChangeInstruction {
  keyword: string;
  args: string;
}

/** Splits change strings into instructions, honouring `\` line continuations and comments. */
export function parseChangeLines(changes: readonly string[]): ChangeInstruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of changes.join('\n').split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (pending === '' && /^\s*#/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\\\s*$/, '');
      continue;
    }
    logical.push(pending + line);
    pending = '';
  }
  if (pending !== '') logical.push(pending);
  const result: ChangeInstruction[] = [];
  for (const line of logical) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const match = /^(\S+)\s*([\s\S]*)$/.exec(trimmed)!;
    result.push({ keyword: match[1]!.toLowerCase(), args: match[2]!.trim() });
  }
  return result;
}

/**
 * Splits on whitespace outside quotes (escaped whitespace stays in the word), keeping quotes
 * and escapes in the words so they can be expanded after. The Dockerfile builder splits its
 * instructions' arguments with this too, with the file's escape character.
 */
export function splitWords(text: string, escape = '\\'): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === undefined && /\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
      continue;
    }
    inWord = true;
    current += c;
    if (c === escape && quote !== "'" && i + 1 < text.length) {
      current += text[++i];
      continue;
    }
    if (quote === undefined && (c === '"' || c === "'")) quote = c;
    else if (c === quote) quote = undefined;
  }
  if (quote !== undefined) {
    throw invalidParameter(`unexpected end of statement while looking for matching ${quote === '"' ? 'double' : 'single'}-quote in ${JSON.stringify(text)}`);
  }
  if (inWord) words.push(current);
  return words;
}

function lookupEnv(env: readonly string[], name: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const entry = env[i]!;
    const eq = entry.indexOf('=');
    if ((eq === -1 ? entry : entry.slice(0, eq)) === name) return eq === -1 ? '' : entry.slice(eq + 1);
  }
  return undefined;
}

/**
 * Removes quotes and escapes and expands $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}
 * from `env`, as the Dockerfile word processor does (single quotes stay literal).
 */
export function processWord(word: string, env: readonly string[]): string {
  let out = '';
  let i = 0;
  const expand = (): string => {
    const next = word[i + 1];
    if (next === '{') {
      const close = word.indexOf('}', i + 2);
      if (close === -1) throw invalidParameter(`missing '}' in ${JSON.stringify(word)}`);
      const body = word.slice(i + 2, close);
      i = close + 1;
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(body);
      if (!m) throw invalidParameter(`unsupported modifier in \${${body}}`);
      const value = lookupEnv(env, m[1]!);
      if (m[2] === '-') return value === undefined || value === '' ? processWord(m[3]!, env) : value;
      if (m[2] === '+') return value === undefined || value === '' ? '' : processWord(m[3]!, env);
      return value ?? '';
    }
    const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1));
    if (!m) {
      i++;
      return '$';
    }
    i += 1 + m[0].length;
    return lookupEnv(env, m[0]) ?? '';
  };
  while (i < word.length) {
    const c = word[i]!;
    if (c === "'") {
      const close = word.indexOf("'", i + 1);
      if (close === -1) throw invalidParameter(`unexpected end of statement while looking for matching single-quote in ${JSON.stringify(word)}`);
      out += word.slice(i + 1, close);
      i = close + 1;
    } else if (c === '"') {
      i++;
      for (;;) {
        if (i >= word.length) throw invalidParameter(`unexpected end of statement while looking for matching double-quote in ${JSON.stringify(word)}`);
        const d = word[i]!;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < word.length && '"\\$`'.includes(word[i + 1]!)) {
          out += word[i + 1];
          i += 2;
        } else if (d === '$') {
          out += expand();
        } else {
          out += d;
          i++;
        }
      }
    } else if (c === '\\' && i + 1 < word.length) {
      out += word[i + 1];
      i += 2;
    } else if (c === '$') {
      out += expand();
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** KEY=VALUE pairs (ENV, LABEL), or the legacy single `KEY VALUE` form. */
function parseKeyValues(keyword: string, args: string, env: readonly string[]): Array<[string, string]> {
  if (args === '') throw invalidParameter(`${keyword.toUpperCase()} requires at least one argument`);
  const words = splitWords(args);
  if (!words[0]!.includes('=')) {
    const legacy = /^(\S+)\s+([\s\S]+)$/.exec(args);
    if (!legacy) throw invalidParameter(`${keyword.toUpperCase()} must have two arguments`);
    return [[processWord(legacy[1]!, env), processWord(legacy[2]!, env)]];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq <= 0) throw invalidParameter(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    return [processWord(word.slice(0, eq), env), processWord(word.slice(eq + 1), env)];
  });
}

/** CMD/ENTRYPOINT/etc.: a JSON array of strings is exec form, anything else shell form. */
function parseCommandLine(args: string): { exec: string[] } | { shell: string } {
  if (args.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(args);
      if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) return { exec: parsed as string[] };
    } catch {
      // not JSON: docker falls back to the shell form
    }
  }
  return { shell: args };
}

function commandLine(args: string, config: ImageContainerConfig): string[] {
  const parsed = parseCommandLine(args);
  if ('exec' in parsed) return parsed.exec;
  return [...(config.Shell && config.Shell.length > 0 ? config.Shell : DEFAULT_SHELL), parsed.shell];
}

function parsePorts(words: string[]): string[] {
  const ports: string[] = [];
  for (const spec of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/([A-Za-z]+))?$/.exec(spec);
    if (!m) throw invalidParameter(`invalid containerPort: ${spec}`);
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw invalidParameter(`invalid proto: ${proto}`);
    const start = Number(m[1]);
    const end = m[2] !== undefined ? Number(m[2]) : start;
    if (start > 65535 || end > 65535 || end < start) throw invalidParameter(`invalid port range: ${spec}`);
    for (let p = start; p <= end; p++) ports.push(`${p}/${proto}`);
  }
  return ports;
}

function validateSignal(value: string): string {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n < 1 || n > 64) throw invalidParameter(`Invalid signal: ${value}`);
    return value;
  }
  const name = value.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.includes(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name)) return value;
  throw invalidParameter(`Invalid signal: ${value}`);
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds. */
export function parseGoDuration(text: string): number {
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  if (text === '0') return 0;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (consumed !== text.length || text === '') throw invalidParameter(`time: invalid duration ${JSON.stringify(text)}`);
  return Math.round(total);
}

function parseHealthcheck(args: string): NonNullable<ImageContainerConfig['Healthcheck']> {
  let rest = args;
  const flags: Record<string, string> = {};
  for (let m = /^--([a-z-]+)=(\S*)\s*/.exec(rest); m; m = /^--([a-z-]+)=(\S*)\s*/.exec(rest)) {
    flags[m[1]!] = m[2]!;
    rest = rest.slice(m[0].length);
  }
  const type = /^(\S+)\s*([\s\S]*)$/.exec(rest);
  if (!type) throw invalidParameter('HEALTHCHECK requires an argument');
  const kind = type[1]!.toUpperCase();
  if (kind === 'NONE') {
    if (type[2] !== '' || Object.keys(flags).length > 0) throw invalidParameter('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  if (kind !== 'CMD') throw invalidParameter(`Unknown type "${kind}" in HEALTHCHECK (try CMD)`);
  const parsed = parseCommandLine(type[2]!);
  const test = 'exec' in parsed ? ['CMD', ...parsed.exec] : ['CMD-SHELL', parsed.shell];
  const check: NonNullable<ImageContainerConfig['Healthcheck']> = { Test: test };
  for (const [flag, value] of Object.entries(flags)) {
    switch (flag) {
      case 'interval':
        check.Interval = parseGoDuration(value);
        break;
      case 'timeout':
        check.Timeout = parseGoDuration(value);
        break;
      case 'start-period':
        check.StartPeriod = parseGoDuration(value);
        break;
      case 'retries':
        if (!/^\d+$/.test(value)) throw invalidParameter(`invalid retries value ${JSON.stringify(value)}`);
        check.Retries = Number(value);
        break;
      default:
        throw invalidParameter(`Unknown flag: ${flag}`);
    }
  }
  return check;
}

/**
 * Applies `changes` to a copy of `base` and returns it. An instruction that is not allowed
 * here is an invalidParameter error naming it, worded as docker words it.
 */
export function applyChanges(base: ImageContainerConfig, changes: readonly string[]): ImageContainerConfig {
  const config: ImageContainerConfig = structuredClone(base);
  let cmdSet = false;
  for (const { keyword, args } of parseChangeLines(changes)) {
    if (!VALID_CHANGE_COMMANDS.has(keyword)) throw invalidParameter(`${keyword} is not a valid change command`);
    const env = config.Env ?? [];
    switch (keyword) {
      case 'cmd':
        config.Cmd = commandLine(args, config);
        cmdSet = true;
        break;
      case 'entrypoint':
        config.Entrypoint = commandLine(args, config);
        // A new entrypoint invalidates an inherited CMD, unless these changes set one.
        if (!cmdSet) config.Cmd = null;
        break;
      case 'env': {
        const next = [...env];
        for (const [key, value] of parseKeyValues(keyword, args, next)) {
          const index = next.findIndex((e) => e === key || e.startsWith(`${key}=`));
          if (index === -1) next.push(`${key}=${value}`);
          else next[index] = `${key}=${value}`;
        }
        config.Env = next;
        break;
      }
      case 'label': {
        const labels = { ...(config.Labels ?? {}) };
        for (const [key, value] of parseKeyValues(keyword, args, env)) {
          if (key === '') throw invalidParameter('LABEL names must not be empty');
          labels[key] = value;
        }
        config.Labels = labels;
        break;
      }
      case 'expose': {
        const words = splitWords(args).map((w) => processWord(w, env));
        if (words.length === 0) throw invalidParameter('EXPOSE requires at least one argument');
        const exposed = { ...(config.ExposedPorts ?? {}) };
        for (const port of parsePorts(words)) exposed[port] = {};
        config.ExposedPorts = exposed;
        break;
      }
      case 'user': {
        const user = processWord(args, env);
        if (user === '') throw invalidParameter('USER requires exactly one argument');
        config.User = user;
        break;
      }
      case 'workdir': {
        const dir = processWord(args, env);
        if (dir === '') throw invalidParameter('WORKDIR requires exactly one argument');
        config.WorkingDir = dir.startsWith('/') ? posix.normalize(dir) : posix.join('/', config.WorkingDir ?? '', dir);
        if (config.WorkingDir.length > 1) config.WorkingDir = config.WorkingDir.replace(/\/+$/, '');
        break;
      }
      case 'volume': {
        const parsed = parseCommandLine(args);
        const paths = 'exec' in parsed ? parsed.exec : splitWords(args).map((w) => processWord(w, env));
        if (paths.length === 0) throw invalidParameter('VOLUME requires at least one argument');
        const volumes = { ...(config.Volumes ?? {}) };
        for (const path of paths) {
          const trimmed = path.trim();
          if (trimmed === '') throw invalidParameter('VOLUME specified can not be an empty string');
          volumes[trimmed] = {};
        }
        config.Volumes = volumes;
        break;
      }
      case 'stopsignal':
        config.StopSignal = validateSignal(processWord(args, env));
        break;
      case 'onbuild': {
        const trigger = (/^\S+/.exec(args)?.[0] ?? '').toUpperCase();
        if (trigger === '') throw invalidParameter('ONBUILD requires at least one argument');
        if (trigger === 'ONBUILD') throw invalidParameter("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (trigger === 'FROM' || trigger === 'MAINTAINER') throw invalidParameter(`${trigger} isn't allowed as an ONBUILD trigger`);
        config.OnBuild = [...(config.OnBuild ?? []), args];
        break;
      }
      case 'healthcheck':
        config.Healthcheck = parseHealthcheck(args);
        break;
    }
  }
  return config;
}
