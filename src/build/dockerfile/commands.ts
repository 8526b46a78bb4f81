/**
 * What the instructions mean before anything runs: flags, exec vs shell form, key=value
 * lists, and the split into build stages. Everything a Dockerfile can get wrong without
 * knowing the images or the context is checked here, so a bad Dockerfile fails before the
 * first step runs and leaves nothing behind.
 */
import { dockerfileError, parseDockerfile, type Dockerfile, type EscapeChar, type Instruction } from './parser.js';
import { splitRawWords } from './words.js';
import { isBerthError } from '../../util/errors.js';

export const KNOWN_INSTRUCTIONS = new Set([
  'FROM', 'RUN', 'CMD', 'LABEL', 'MAINTAINER', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL',
]);

type FlagKind = 'string' | 'bool';

/** The flags each instruction accepts; anything else is "Unknown flag". */
const ALLOWED_FLAGS: Record<string, Record<string, FlagKind>> = {
  FROM: { platform: 'string' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'bool' },
  ADD: { chown: 'string', chmod: 'string', link: 'bool', checksum: 'string', 'keep-git-dir': 'bool' },
  RUN: { network: 'string' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

export type Flags = Map<string, string | true>;

export interface FlagSplit {
  flags: Flags;
  /** The arguments after the flags, as written. */
  rest: string;
}

/** Reads leading `--name=value` / `--name` words off an instruction. */
export function splitFlags(instruction: Instruction): FlagSplit {
  const allowed = ALLOWED_FLAGS[instruction.keyword] ?? {};
  const flags: Flags = new Map();
  let rest = instruction.args;
  for (;;) {
    const m = /^--([A-Za-z][A-Za-z0-9-]*)(?:=("[^"]*"|'[^']*'|\S*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    const name = m[1]!;
    const kind = allowed[name];
    if (kind === undefined) throw dockerfileError(instruction.line, `Unknown flag: ${name}`);
    let value: string | true = true;
    if (m[2] !== undefined) value = m[2].replace(/^(["'])([\s\S]*)\1$/, '$2');
    if (kind === 'string' && value === true) throw dockerfileError(instruction.line, `Missing a value on flag: ${name}`);
    if (kind === 'bool' && value !== true && value !== 'true' && value !== 'false') {
      throw dockerfileError(instruction.line, `expecting boolean value for flag ${name}, not: ${value}`);
    }
    if (flags.has(name)) throw dockerfileError(instruction.line, `Duplicate flag specified: ${name}`);
    flags.set(name, kind === 'bool' ? (value === 'false' ? 'false' : true) : value);
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}

export type CommandLine = { form: 'exec'; args: string[] } | { form: 'shell'; text: string };

/** A JSON array of strings is the exec form; anything else (even broken JSON) is the shell form. */
export function commandLine(text: string): CommandLine {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed) && parsed.every((p) => typeof p === 'string')) return { form: 'exec', args: parsed as string[] };
    } catch {
      // docker falls back to the shell form for text that is not a JSON string array
    }
  }
  return { form: 'shell', text: trimmed };
}

/** KEY=VALUE words, or the legacy `KEY value with spaces` form (ENV, LABEL); raw, unexpanded. */
export function keyValueWords(instruction: Instruction, text: string, escape: EscapeChar): Array<{ key: string; value: string; legacy: boolean }> {
  const name = instruction.keyword;
  if (text === '') throw dockerfileError(instruction.line, `${name} requires at least one argument`);
  const words = wordsAt(instruction, text, escape);
  if (!words[0]!.includes('=')) {
    const legacy = /^(\S+)\s+([\s\S]+)$/.exec(text);
    if (!legacy) throw dockerfileError(instruction.line, `${name} must have two arguments`);
    return [{ key: legacy[1]!, value: legacy[2]!, legacy: true }];
  }
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq <= 0) throw dockerfileError(instruction.line, `Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
    return { key: word.slice(0, eq), value: word.slice(eq + 1), legacy: false };
  });
}

/** splitRawWords with the instruction's line on a quoting error. */
export function wordsAt(instruction: Instruction, text: string, escape: EscapeChar): string[] {
  try {
    return splitRawWords(text, escape);
  } catch (err) {
    if (isBerthError(err)) throw dockerfileError(instruction.line, err.message);
    throw err;
  }
}

export interface Stage {
  index: number;
  /** Lower-cased `AS` name, if any. */
  name?: string;
  /** The FROM argument as written (may hold ${ARG}s from before the first FROM). */
  base: string;
  platform?: string;
  from: Instruction;
  steps: Instruction[];
}

export interface BuildPlan {
  dockerfile: Dockerfile;
  /** ARGs before the first FROM: usable in FROM lines, and re-declarable inside stages. */
  metaArgs: Instruction[];
  stages: Stage[];
}

const STAGE_NAME_RE = /^[a-z][a-z0-9._-]*$/;

/** COPY/ADD sources and destination, raw: JSON form or words (a heredoc marker counts as a source). */
export function copyArguments(instruction: Instruction, rest: string, escape: EscapeChar): string[] {
  const parsed = commandLine(rest);
  return parsed.form === 'exec' ? parsed.args : wordsAt(instruction, rest, escape);
}

function checkInstruction(instruction: Instruction, escape: EscapeChar): void {
  const { keyword, line } = instruction;
  if (!KNOWN_INSTRUCTIONS.has(keyword)) throw dockerfileError(line, `unknown instruction: ${instruction.original.split(/\s/)[0]}`);
  // Flags are checked now so a typo fails before anything runs.
  const { rest } = splitFlags(instruction);
  const needsArgs = !['CMD', 'ENTRYPOINT', 'HEALTHCHECK'].includes(keyword);
  if (needsArgs && rest === '' && instruction.heredocs.length === 0) throw dockerfileError(line, `${keyword} requires at least one argument`);
  switch (keyword) {
    case 'COPY':
    case 'ADD':
      if (copyArguments(instruction, rest, escape).length < 2) {
        throw dockerfileError(line, `${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      }
      break;
    case 'ONBUILD': {
      const trigger = (/^\S+/.exec(rest)?.[0] ?? '').toUpperCase();
      if (trigger === 'ONBUILD') throw dockerfileError(line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'FROM' || trigger === 'MAINTAINER') throw dockerfileError(line, `${trigger} isn't allowed as an ONBUILD trigger`);
      if (!KNOWN_INSTRUCTIONS.has(trigger)) throw dockerfileError(line, `unknown instruction: ${trigger}`);
      break;
    }
    case 'SHELL': {
      const parsed = commandLine(rest);
      if (parsed.form !== 'exec' || parsed.args.length === 0) throw dockerfileError(line, 'SHELL requires the arguments to be in JSON form');
      break;
    }
    case 'ENV':
    case 'LABEL':
      keyValueWords(instruction, rest, escape);
      break;
    case 'ARG':
    case 'USER':
    case 'WORKDIR':
    case 'STOPSIGNAL':
      wordsAt(instruction, rest, escape);
      break;
    default:
      break;
  }
}

function parseFrom(instruction: Instruction, escape: EscapeChar): { base: string; name?: string; platform?: string } {
  const { flags, rest } = splitFlags(instruction);
  const words = wordsAt(instruction, rest, escape);
  if (words.length !== 1 && !(words.length === 3 && words[1]!.toUpperCase() === 'AS')) {
    throw dockerfileError(instruction.line, 'FROM requires either one or three arguments');
  }
  const out: { base: string; name?: string; platform?: string } = { base: words[0]! };
  if (words.length === 3) {
    const name = words[2]!.toLowerCase();
    if (!STAGE_NAME_RE.test(name)) throw dockerfileError(instruction.line, `invalid name for build stage: ${JSON.stringify(words[2])}, name can't start with a number or contain symbols`);
    out.name = name;
  }
  const platform = flags.get('platform');
  if (typeof platform === 'string') out.platform = platform;
  return out;
}

/** Parses and checks a whole Dockerfile into stages. */
export function planBuild(text: string): BuildPlan {
  const dockerfile = parseDockerfile(text);
  const { instructions, escape } = dockerfile;
  const metaArgs: Instruction[] = [];
  const stages: Stage[] = [];
  const names = new Set<string>();
  for (const instruction of instructions) {
    checkInstruction(instruction, escape);
    if (instruction.keyword === 'FROM') {
      const from = parseFrom(instruction, escape);
      if (from.name !== undefined) {
        if (names.has(from.name)) throw dockerfileError(instruction.line, `duplicate name ${from.name}`);
        names.add(from.name);
      }
      stages.push({ index: stages.length, ...from, from: instruction, steps: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (current) {
      current.steps.push(instruction);
    } else if (instruction.keyword === 'ARG') {
      metaArgs.push(instruction);
    } else {
      throw dockerfileError(instruction.line, `no build stage in current context: the first instruction must be FROM (only ARG may come before it), found ${instruction.keyword}`);
    }
  }
  if (stages.length === 0) throw dockerfileError(Math.max(1, instructions[instructions.length - 1]?.line ?? 1), 'no build stage in current context: the Dockerfile has no FROM instruction');
  return { dockerfile, metaArgs, stages };
}
