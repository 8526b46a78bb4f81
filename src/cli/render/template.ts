/**
 * A subset of Go's text/template, enough for docker's --format: fields and chains
 * ({{.State.Status}}), methods with arguments ({{.Label "k"}}), variables, pipelines,
 * parenthesised calls, if/else if/else, range (with $i, $v :=), with, comments, trim
 * markers ({{- -}}), and docker's function map (json, join, split, lower, upper, title,
 * truncate, pad, println) plus Go's builtins (index, len, print, printf, eq, ne, lt, le, gt,
 * ge, and, or, not). Error texts follow Go's where practical.
 */

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

/** Missing map keys print as Go does. */
export const NO_VALUE = Symbol('no value');

/** Values with their own JSON shape (docker's formatter contexts marshal their methods). */
export interface JsonShaped {
  toJSON(): unknown;
}

type Term =
  | { t: 'dot'; fields: string[] }
  | { t: 'var'; name: string; fields: string[] }
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'bool'; v: boolean }
  | { t: 'nil' }
  | { t: 'fn'; name: string }
  | { t: 'sub'; pipe: Pipeline; fields: string[] };

interface Pipeline {
  decl: string[];
  cmds: Term[][];
  src: string;
}

type Node =
  | { k: 'text'; text: string }
  | { k: 'action'; pipe: Pipeline; line: number }
  | { k: 'if' | 'with'; pipe: Pipeline; body: Node[]; alt: Node[] | null; line: number }
  | { k: 'range'; pipe: Pipeline; body: Node[]; alt: Node[] | null; line: number };

export type TemplateFunc = (...args: unknown[]) => unknown;

// ---------------------------------------------------------------- lexing actions

type Tok = { k: 'str' | 'num' | 'ident' | 'field' | 'var' | 'bool' | 'nil' | 'dot'; v: string } | { k: '(' | ')' | '|' | ':=' | '=' | ','; v: string };

function lexAction(src: string, line: number): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const fail = (msg: string): never => {
    throw new TemplateError(`template: :${line}: ${msg}`);
  };
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== '"') {
        if (src[j] === '\\') {
          const e = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0' };
          if (e === undefined || map[e] === undefined) fail(`invalid syntax`);
          s += map[e as string];
          j += 2;
        } else s += src[j++];
      }
      if (j >= src.length) fail('unterminated quoted string');
      toks.push({ k: 'str', v: s });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) fail('unterminated raw quoted string');
      toks.push({ k: 'str', v: src.slice(i + 1, j) });
      i = j + 1;
      continue;
    }
    if (c === '(' || c === ')' || c === '|' || c === ',') {
      toks.push({ k: c, v: c });
      i++;
      continue;
    }
    if (c === ':' && src[i + 1] === '=') {
      toks.push({ k: ':=', v: ':=' });
      i += 2;
      continue;
    }
    if (c === '=') {
      toks.push({ k: '=', v: '=' });
      i++;
      continue;
    }
    const word = /^(?:\$[A-Za-z0-9_]*|\.[A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*|[-+]?[0-9][0-9a-fA-FxXoObB._]*(?:[eE][-+]?\d+)?)/.exec(src.slice(i));
    if (!word) fail(`unexpected "${c}" in operand`);
    const w = (word as RegExpExecArray)[0];
    i += w.length;
    if (w.startsWith('$')) toks.push({ k: 'var', v: w });
    else if (w === '.') toks.push({ k: 'dot', v: w });
    else if (w.startsWith('.')) toks.push({ k: 'field', v: w.slice(1) });
    else if (w === 'true' || w === 'false') toks.push({ k: 'bool', v: w });
    else if (w === 'nil') toks.push({ k: 'nil', v: w });
    else if (/^[-+]?[0-9]/.test(w)) toks.push({ k: 'num', v: w });
    else toks.push({ k: 'ident', v: w });
  }
  return toks;
}

// ---------------------------------------------------------------- parsing

class ActionParser {
  private pos = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly line: number,
    private readonly funcs: Record<string, TemplateFunc>,
    private readonly src: string,
  ) {}

  fail(msg: string): never {
    throw new TemplateError(`template: :${this.line}: ${msg}`);
  }

  peek(): Tok | undefined {
    return this.toks[this.pos];
  }

  pipeline(stopAtParen: boolean): Pipeline {
    const decl: string[] = [];
    // "$x :=" or "$i, $v :=" declarations.
    const save = this.pos;
    const vars: string[] = [];
    while (this.peek()?.k === 'var') {
      vars.push((this.toks[this.pos++] as Tok).v);
      if (this.peek()?.k === ',') {
        this.pos++;
        continue;
      }
      break;
    }
    if (vars.length && (this.peek()?.k === ':=' || this.peek()?.k === '=')) {
      this.pos++;
      decl.push(...vars);
    } else this.pos = save;

    const cmds: Term[][] = [];
    let cmd: Term[] = [];
    for (;;) {
      const t = this.peek();
      if (!t || (stopAtParen && t.k === ')')) break;
      if (t.k === '|') {
        if (!cmd.length) this.fail('missing command');
        cmds.push(cmd);
        cmd = [];
        this.pos++;
        continue;
      }
      cmd.push(this.term());
    }
    if (cmd.length) cmds.push(cmd);
    else if (cmds.length) this.fail('missing command');
    return { decl, cmds, src: this.src };
  }

  private fieldsAfter(): string[] {
    const fields: string[] = [];
    while (this.peek()?.k === 'field') fields.push((this.toks[this.pos++] as Tok).v);
    return fields;
  }

  term(): Term {
    const t = this.toks[this.pos++] as Tok;
    switch (t.k) {
      case 'dot':
        return { t: 'dot', fields: [] };
      case 'field':
        return { t: 'dot', fields: [t.v, ...this.fieldsAfter()] };
      case 'var': {
        return { t: 'var', name: t.v, fields: this.fieldsAfter() };
      }
      case 'str':
        return { t: 'str', v: t.v };
      case 'num': {
        const n = Number(t.v.replace(/_/g, ''));
        if (Number.isNaN(n)) this.fail(`bad number syntax: "${t.v}"`);
        return { t: 'num', v: n };
      }
      case 'bool':
        return { t: 'bool', v: t.v === 'true' };
      case 'nil':
        return { t: 'nil' };
      case 'ident':
        if (!(t.v in this.funcs)) this.fail(`function "${t.v}" not defined`);
        return { t: 'fn', name: t.v };
      case '(': {
        const pipe = this.pipeline(true);
        if (this.peek()?.k !== ')') this.fail('unclosed left paren');
        this.pos++;
        return { t: 'sub', pipe, fields: this.fieldsAfter() };
      }
      default:
        return this.fail(`unexpected "${t.v}" in operand`);
    }
  }
}

interface RawAction {
  src: string;
  line: number;
}

function tokenizeTemplate(text: string): Array<string | RawAction> {
  const parts: Array<string | RawAction> = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      parts.push(text.slice(i));
      break;
    }
    let lit = text.slice(i, open);
    let start = open + 2;
    if (text[start] === '-' && /\s/.test(text[start + 1] ?? '')) {
      lit = lit.replace(/\s+$/, '');
      start += 1;
    }
    parts.push(lit);
    line += (text.slice(i, open).match(/\n/g) ?? []).length;
    let close = -1;
    // "}}" inside a quoted string does not close the action.
    let q: string | null = null;
    for (let j = start; j < text.length - 1; j++) {
      const ch = text[j];
      if (q) {
        if (ch === '\\' && q === '"') j++;
        else if (ch === q) q = null;
      } else if (ch === '"' || ch === '`') q = ch;
      else if (ch === '}' && text[j + 1] === '}') {
        close = j;
        break;
      }
    }
    if (close < 0) throw new TemplateError(`template: :${line}: unclosed action`);
    let body = text.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(text.slice(next)) as RegExpExecArray;
      line += (m[0].match(/\n/g) ?? []).length;
      next += m[0].length;
    }
    parts.push({ src: body.trim(), line });
    line += (body.match(/\n/g) ?? []).length;
    i = next;
  }
  return parts;
}

function parseNodes(parts: Array<string | RawAction>, funcs: Record<string, TemplateFunc>): Node[] {
  let idx = 0;
  // Returns the nodes up to (not including) a terminating {{else...}} / {{end}}.
  const list = (inBlock: boolean): { nodes: Node[]; term: 'end' | 'else' | 'elseif' | null; elsePipe?: Pipeline } => {
    const nodes: Node[] = [];
    while (idx < parts.length) {
      const p = parts[idx++] as string | RawAction;
      if (typeof p === 'string') {
        if (p) nodes.push({ k: 'text', text: p });
        continue;
      }
      if (p.src.startsWith('/*')) {
        if (!p.src.endsWith('*/')) throw new TemplateError(`template: :${p.line}: unclosed comment`);
        continue;
      }
      const toks = lexAction(p.src, p.line);
      const head = toks[0];
      if (!head) throw new TemplateError(`template: :${p.line}: missing value for command`);
      const keyword = head.k === 'ident' ? head.v : '';
      if (keyword === 'end' || keyword === 'else') {
        if (!inBlock) throw new TemplateError(`template: :${p.line}: unexpected {{${keyword}}}`);
        if (keyword === 'end') return { nodes, term: 'end' };
        if (toks[1]?.k === 'ident' && toks[1].v === 'if') {
          const ap = new ActionParser(toks.slice(2), p.line, funcs, p.src);
          return { nodes, term: 'elseif', elsePipe: ap.pipeline(false) };
        }
        return { nodes, term: 'else' };
      }
      if (keyword === 'if' || keyword === 'range' || keyword === 'with') {
        const ap = new ActionParser(toks.slice(1), p.line, funcs, p.src);
        const pipe = ap.pipeline(false);
        if (!pipe.cmds.length) throw new TemplateError(`template: :${p.line}: missing value for ${keyword}`);
        nodes.push(block(keyword, pipe, p.line));
        continue;
      }
      if (keyword === 'define' || keyword === 'template' || keyword === 'block' || keyword === 'break' || keyword === 'continue') {
        throw new TemplateError(`template: :${p.line}: {{${keyword}}} is not supported`);
      }
      const ap = new ActionParser(toks, p.line, funcs, p.src);
      nodes.push({ k: 'action', pipe: ap.pipeline(false), line: p.line });
    }
    if (inBlock) throw new TemplateError(`template: :${parts.length}: unexpected EOF`);
    return { nodes, term: null };
  };
  const block = (k: 'if' | 'range' | 'with', pipe: Pipeline, line: number): Node => {
    const r = list(true);
    let alt: Node[] | null = null;
    if (r.term === 'else') {
      const e = list(true);
      if (e.term !== 'end') throw new TemplateError(`template: :${line}: expected end; found else`);
      alt = e.nodes;
    } else if (r.term === 'elseif') {
      // {{else if x}} is sugar for {{else}}{{if x}}...{{end}} sharing the outer {{end}}.
      alt = [block('if', r.elsePipe as Pipeline, line)];
    }
    return { k, pipe, body: r.nodes, alt, line };
  };
  return list(false).nodes;
}

// ---------------------------------------------------------------- values

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function typeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  if (isPlainObject(v)) return 'map[string]interface {}';
  if (typeof v === 'object') return `*${(v as object).constructor.name}`;
  return typeof v;
}

export function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isPlainObject(v)) return Object.keys(v).length > 0;
  return true;
}

/** Go's %v rendering of a value. */
export function goString(v: unknown): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v).replace(/e([+-])(\d)$/, 'e$10$2');
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return `[${v.map(goString).join(' ')}]`;
  if (v instanceof Map) return `map[${[...v.keys()].sort().map((k) => `${k}:${goString(v.get(k))}`).join(' ')}]`;
  if (isPlainObject(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k])}`).join(' ')}]`;
  if (typeof v === 'object' && typeof (v as { toString?: unknown }).toString === 'function') {
    const s = String(v);
    if (s !== '[object Object]') return s;
    return goString((v as Partial<JsonShaped>).toJSON?.() ?? {});
  }
  return String(v);
}

function toJsonValue(v: unknown): unknown {
  return v === NO_VALUE ? null : v;
}

/** docker's `json` template function: no HTML escaping, no trailing newline. */
export function jsonString(v: unknown): string {
  return JSON.stringify(toJsonValue(v)) ?? 'null';
}

function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}

function sprintf(fmt: string, args: unknown[]): string {
  let n = 0;
  return fmt.replace(/%([-+# 0]*)(\d*)(?:\.(\d+))?([vsdqtfgx%])/g, (_m, _flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    if (verb === 'q') s = goQuote(goString(a));
    else if (verb === 'd') s = String(Math.trunc(Number(a)));
    else if (verb === 'f') s = Number(a).toFixed(prec === undefined ? 6 : Number(prec));
    else if (verb === 'x') s = typeof a === 'number' ? a.toString(16) : Buffer.from(goString(a)).toString('hex');
    else s = goString(a);
    if (verb === 's' && prec !== undefined) s = [...s].slice(0, Number(prec)).join('');
    return width ? (_flags.includes('-') ? s.padEnd(Number(width)) : s.padStart(Number(width))) : s;
  });
}

function compare(op: string, a: unknown, b: unknown): boolean {
  const x = a === NO_VALUE ? undefined : a;
  const y = b === NO_VALUE ? undefined : b;
  if (op === 'eq') return x === y;
  if (op === 'ne') return x !== y;
  if (typeof x !== typeof y || (typeof x !== 'number' && typeof x !== 'string')) {
    throw new TemplateError(`error calling ${op}: incompatible types for comparison`);
  }
  const [p, q] = [x as number | string, y as number | string];
  return op === 'lt' ? p < q : op === 'le' ? p <= q : op === 'gt' ? p > q : p >= q;
}

function indexInto(v: unknown, key: unknown): unknown {
  if (v === null || v === undefined || v === NO_VALUE) throw new TemplateError('error calling index: index of untyped nil');
  if (Array.isArray(v) || typeof v === 'string') {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= v.length) throw new TemplateError(`error calling index: index out of range: ${goString(key)}`);
    return Array.isArray(v) ? v[i] : v.charCodeAt(i);
  }
  if (v instanceof Map) return v.has(key) ? v.get(key) : NO_VALUE;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.prototype.hasOwnProperty.call(o, String(key)) ? o[String(key)] : isPlainObject(v) ? NO_VALUE : undefined;
  }
  throw new TemplateError(`error calling index: can't index item of type ${typeName(v)}`);
}

function title(s: string): string {
  return s.replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase());
}

const DOCKER_FUNCS: Record<string, TemplateFunc> = {
  json: (v) => jsonString(v),
  split: (s, sep) => goString(s).split(goString(sep)),
  join: (a, sep) => (Array.isArray(a) ? a.map(goString) : [goString(a)]).join(goString(sep)),
  title: (s) => title(goString(s)),
  lower: (s) => goString(s).toLowerCase(),
  upper: (s) => goString(s).toUpperCase(),
  pad: (s, l, r) => `${' '.repeat(Number(l))}${goString(s)}${' '.repeat(Number(r))}`,
  truncate: (s, n) => [...goString(s)].slice(0, Number(n)).join(''),
  println: (...a) => `${a.map(goString).join(' ')}\n`,
  print: (...a) => a.map((x, i) => (i > 0 && typeof x !== 'string' && typeof a[i - 1] !== 'string' ? ' ' : '') + goString(x)).join(''),
  printf: (fmt, ...a) => sprintf(goString(fmt), a),
  len: (v) => {
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v instanceof Map) return v.size;
    if (isPlainObject(v)) return Object.keys(v).length;
    throw new TemplateError(`error calling len: len of type ${typeName(v)}`);
  },
  index: (v, ...keys) => keys.reduce((acc, k) => indexInto(acc, k), v),
  not: (v) => !truthy(v),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
  eq: (a, ...bs) => bs.some((b) => compare('eq', a, b)),
  ne: (a, b) => compare('ne', a, b),
  lt: (a, b) => compare('lt', a, b),
  le: (a, b) => compare('le', a, b),
  gt: (a, b) => compare('gt', a, b),
  ge: (a, b) => compare('ge', a, b),
};

// ---------------------------------------------------------------- execution

class Exec {
  private out = '';
  private vars: Array<[string, unknown]> = [];

  constructor(private readonly funcs: Record<string, TemplateFunc>) {}

  fail(line: number, src: string, msg: string): never {
    throw new TemplateError(`template: :${line}: executing "" at <${src}>: ${msg}`);
  }

  run(nodes: Node[], dot: unknown): string {
    this.vars = [['$', dot]];
    this.walk(nodes, dot);
    return this.out;
  }

  private walk(nodes: Node[], dot: unknown): void {
    for (const n of nodes) {
      switch (n.k) {
        case 'text':
          this.out += n.text;
          break;
        case 'action': {
          const mark = this.vars.length;
          const v = this.pipe(n.pipe, dot, n.line);
          if (!n.pipe.decl.length) this.out += goString(v);
          // Declarations persist to the end of the enclosing block (Go scoping, simplified).
          else void mark;
          break;
        }
        case 'if':
        case 'with': {
          const mark = this.vars.length;
          const v = this.pipe(n.pipe, dot, n.line);
          if (truthy(v)) this.walk(n.body, n.k === 'with' ? v : dot);
          else if (n.alt) this.walk(n.alt, dot);
          this.vars.length = mark;
          break;
        }
        case 'range': {
          const mark = this.vars.length;
          const decl = n.pipe.decl;
          const v = this.pipe({ ...n.pipe, decl: [] }, dot, n.line);
          const entries: Array<[unknown, unknown]> = [];
          if (Array.isArray(v)) v.forEach((x, i) => entries.push([i, x]));
          else if (v instanceof Map) [...v.keys()].sort().forEach((k) => entries.push([k, v.get(k)]));
          else if (isPlainObject(v)) Object.keys(v).sort().forEach((k) => entries.push([k, v[k]]));
          else if (typeof v === 'number') for (let i = 0; i < v; i++) entries.push([i, i]);
          else if (v !== null && v !== undefined && v !== NO_VALUE) this.fail(n.line, n.pipe.src, `range can't iterate over ${goString(v)}`);
          if (!entries.length) {
            if (n.alt) this.walk(n.alt, dot);
          } else {
            for (const [k, x] of entries) {
              if (decl.length === 1) this.vars.push([decl[0] as string, x]);
              else if (decl.length >= 2) this.vars.push([decl[0] as string, k], [decl[1] as string, x]);
              this.walk(n.body, x);
              this.vars.length = mark;
            }
          }
          this.vars.length = mark;
          break;
        }
      }
    }
  }

  private pipe(p: Pipeline, dot: unknown, line: number): unknown {
    let value: unknown = undefined;
    let piped = false;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, line, p.src, piped ? [value] : []);
      piped = true;
    }
    if (p.decl.length) this.vars.push([p.decl[p.decl.length - 1] as string, value]);
    return value;
  }

  private lookupVar(name: string, line: number, src: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const [n, v] = this.vars[i] as [string, unknown];
      if (n === name) return v;
    }
    return this.fail(line, src, `undefined variable: ${name}`);
  }

  private command(cmd: Term[], dot: unknown, line: number, src: string, extra: unknown[]): unknown {
    const [head, ...rest] = cmd as [Term, ...Term[]];
    const args = (): unknown[] => [...rest.map((t) => this.term(t, dot, line, src, [])), ...extra];
    if (head.t === 'fn') {
      const fn = this.funcs[head.name] as TemplateFunc;
      try {
        return fn(...args());
      } catch (err) {
        if (err instanceof TemplateError && err.message.startsWith('template:')) throw err;
        return this.fail(line, src, err instanceof Error ? err.message : String(err));
      }
    }
    if (rest.length || extra.length) {
      if (head.t === 'dot' || head.t === 'var' || head.t === 'sub') return this.term(head, dot, line, src, args());
      this.fail(line, src, `can't give argument to non-function ${src}`);
    }
    return this.term(head, dot, line, src, []);
  }

  private term(t: Term, dot: unknown, line: number, src: string, callArgs: unknown[]): unknown {
    switch (t.t) {
      case 'str':
        return t.v;
      case 'num':
        return t.v;
      case 'bool':
        return t.v;
      case 'nil':
        return null;
      case 'fn':
        return (this.funcs[t.name] as TemplateFunc)();
      case 'dot':
        return this.fields(dot, t.fields, line, src, callArgs);
      case 'var':
        return this.fields(this.lookupVar(t.name, line, src), t.fields, line, src, callArgs);
      case 'sub':
        return this.fields(this.pipe(t.pipe, dot, line), t.fields, line, src, callArgs);
    }
  }

  private fields(base: unknown, names: string[], line: number, src: string, callArgs: unknown[]): unknown {
    let v = base;
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      v = this.field(v, name, line, src, last ? callArgs : []);
    });
    if (!names.length && callArgs.length) this.fail(line, src, `can't give argument to non-function ${src}`);
    return v;
  }

  private field(v: unknown, name: string, line: number, src: string, args: unknown[]): unknown {
    if (v === NO_VALUE || v === undefined) return NO_VALUE;
    if (v === null) return this.fail(line, src, `nil pointer evaluating interface {}.${name}`);
    if (v instanceof Map) return v.has(name) ? v.get(name) : NO_VALUE;
    if (typeof v !== 'object') this.fail(line, src, `can't evaluate field ${name} in type ${typeName(v)}`);
    const obj = v as Record<string, unknown>;
    if (isPlainObject(v)) {
      if (args.length) this.fail(line, src, `${name} has arguments but cannot be invoked as function`);
      return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : NO_VALUE;
    }
    const member = obj[name];
    if (typeof member === 'function') {
      try {
        return (member as TemplateFunc).apply(v, args);
      } catch (err) {
        return this.fail(line, src, `error calling ${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (member === undefined && !(name in obj)) this.fail(line, src, `can't evaluate field ${name} in type ${typeName(v)}`);
    if (args.length) this.fail(line, src, `${name} is not a method but has arguments`);
    return member;
  }
}

export interface Template {
  execute(data: unknown): string;
}

/** Parses a template; errors are TemplateErrors with Go-style messages. */
export function parseTemplate(text: string, extraFuncs: Record<string, TemplateFunc> = {}): Template {
  const funcs = { ...DOCKER_FUNCS, ...extraFuncs };
  const nodes = parseNodes(tokenizeTemplate(text), funcs);
  return { execute: (data) => new Exec(funcs).run(nodes, data) };
}
