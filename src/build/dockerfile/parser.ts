/**
 * Dockerfile text -> instructions, following the Dockerfile reference: parser directives
 * (`# syntax=`, `# escape=`) at the very top, comments, line continuations with the escape
 * character, case-insensitive keywords, and here-documents for RUN, COPY and ADD.
 *
 * This stage only finds the instructions and their text; what each one means (flags,
 * exec/shell form, variables) is decided in commands.ts and at dispatch time.
 */
import { invalidParameter, type BerthError } from '../../util/errors.js';

export type EscapeChar = '\\' | '`';

export interface Heredoc {
  /** The delimiter word, e.g. EOF. */
  name: string;
  /** The body, each line ending in "\n" (tabs already stripped for `<<-`). */
  content: string;
  /** False when the delimiter was quoted: the body is taken literally. */
  expand: boolean;
  /** True for `<<-`. */
  stripTabs: boolean;
}

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, ... */
  keyword: string;
  /** Everything after the keyword, continuation lines joined, trimmed. */
  args: string;
  /** The instruction as docker prints it in "Step N/M : ..." (keyword as written). */
  original: string;
  /** 1-based line number of the instruction's first line. */
  line: number;
  heredocs: Heredoc[];
}

export interface Dockerfile {
  escape: EscapeChar;
  syntax?: string;
  instructions: Instruction[];
  /** Non-fatal remarks (empty continuation lines), printed as docker does. */
  warnings: string[];
}

/** A Dockerfile problem: a 400 whose message names the line, as docker's parser reports it. */
export function dockerfileError(line: number, message: string): BerthError {
  return invalidParameter(`Dockerfile parse error on line ${line}: ${message}`);
}

const DIRECTIVE_RE = /^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$/;
const KNOWN_DIRECTIVES = new Set(['syntax', 'escape', 'check']);
const HEREDOC_KEYWORDS = new Set(['RUN', 'COPY', 'ADD']);
/** `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`; never a here-string (`<<<`). */
const HEREDOC_RE = /(?<!<)<<(-?)(?:"([^"\s]+)"|'([^'\s]+)'|([A-Za-z0-9_][A-Za-z0-9_.-]*))/g;

function isBlank(line: string): boolean {
  return line.trim() === '';
}

function isComment(line: string): boolean {
  return line.trimStart().startsWith('#');
}

/** The line without a trailing escape (and the whitespace after it), or undefined if none. */
function continued(line: string, escape: EscapeChar): string | undefined {
  const trimmed = line.replace(/[ \t]+$/, '');
  if (!trimmed.endsWith(escape)) return undefined;
  return trimmed.slice(0, -1);
}

export interface HeredocMarker {
  name: string;
  expand: boolean;
  stripTabs: boolean;
  /** Where the marker sits in the instruction's args, so commands can remove it. */
  index: number;
  length: number;
}

/** Finds heredoc markers in an instruction's text, in order. */
export function findHeredocMarkers(text: string): HeredocMarker[] {
  const markers: HeredocMarker[] = [];
  for (const m of text.matchAll(HEREDOC_RE)) {
    const quoted = m[2] ?? m[3];
    markers.push({ name: quoted ?? m[4]!, expand: quoted === undefined, stripTabs: m[1] === '-', index: m.index!, length: m[0].length });
  }
  return markers;
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let escape: EscapeChar = '\\';
  let syntax: string | undefined;
  const seen = new Set<string>();
  let i = 0;
  // Directives: only at the very top, before any blank line, comment or instruction.
  for (; i < lines.length; i++) {
    const m = DIRECTIVE_RE.exec(lines[i]!);
    if (!m || !KNOWN_DIRECTIVES.has(m[1]!.toLowerCase())) break;
    const name = m[1]!.toLowerCase();
    if (seen.has(name)) throw dockerfileError(i + 1, `only one ${name} parser directive can be used`);
    seen.add(name);
    if (name === 'escape') {
      if (m[2] !== '\\' && m[2] !== '`') throw dockerfileError(i + 1, `invalid escape token '${m[2]}' does not match \` or \\`);
      escape = m[2];
    } else if (name === 'syntax') {
      syntax = m[2];
    }
  }

  const instructions: Instruction[] = [];
  const warnings: string[] = [];
  while (i < lines.length) {
    const first = lines[i]!;
    if (isBlank(first) || isComment(first)) {
      i++;
      continue;
    }
    const startLine = i + 1;
    let logical = '';
    let current: string | undefined = first;
    i++;
    // Join continuation lines; comment lines inside an instruction are dropped, as are empty
    // ones (docker warns about those).
    for (;;) {
      const head = continued(current, escape);
      if (head === undefined) {
        logical += current;
        break;
      }
      logical += head;
      let next: string | undefined;
      while (i < lines.length) {
        const candidate = lines[i]!;
        i++;
        if (isComment(candidate)) continue;
        if (isBlank(candidate)) {
          warnings.push(`[WARNING]: Empty continuation line found in instruction on line ${startLine}; empty continuation lines will become errors in a future release`);
          continue;
        }
        next = candidate;
        break;
      }
      if (next === undefined) break;
      current = next;
    }
    const m = /^\s*(\S+)(?:\s+([\s\S]*))?$/.exec(logical);
    if (!m) continue;
    const word = m[1]!;
    const keyword = word.toUpperCase();
    const args = (m[2] ?? '').trim();
    const heredocs: Heredoc[] = [];
    if (HEREDOC_KEYWORDS.has(keyword)) {
      for (const marker of findHeredocMarkers(args)) {
        const body: string[] = [];
        let closed = false;
        while (i < lines.length) {
          const raw = lines[i]!;
          i++;
          const candidate = marker.stripTabs ? raw.replace(/^\t+/, '') : raw;
          if (candidate === marker.name) {
            closed = true;
            break;
          }
          body.push(candidate);
        }
        if (!closed) throw dockerfileError(startLine, `unterminated heredoc: no line "${marker.name}" closes the here-document started here`);
        heredocs.push({ name: marker.name, content: body.map((l) => `${l}\n`).join(''), expand: marker.expand, stripTabs: marker.stripTabs });
      }
    }
    instructions.push({ keyword, args, original: args === '' ? word : `${word} ${args}`, line: startLine, heredocs });
  }
  return { escape, syntax, instructions, warnings };
}
