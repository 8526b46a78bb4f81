/**
 * The Dockerfile parser, word expansion, build planning and .dockerignore matching: pure
 * functions, checked against what the Dockerfile reference and docker's pattern rules say.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseDockerfile } from '../../src/build/dockerfile/parser.js';
import { commandLine, planBuild, splitFlags } from '../../src/build/dockerfile/commands.js';
import { envLookup, expandWord, splitRawWords } from '../../src/build/dockerfile/words.js';
import { IgnoreMatcher } from '../../src/build/ignore.js';
import { contextEntryPath } from '../../src/build/context.js';
import { stepKey } from '../../src/build/cache.js';

const vars = envLookup(['A=apple', 'EMPTY=', 'SP=two words']);

describe('Dockerfile parser', () => {
  it('reads directives only at the top and honours a backtick escape', () => {
    const df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN echo a `\n  b\n# escape=\\\n');
    assert.equal(df.escape, '`');
    assert.equal(df.syntax, 'docker/dockerfile:1');
    assert.deepEqual(df.instructions.map((i) => [i.keyword, i.args, i.line]), [
      ['FROM', 'busybox', 3],
      ['RUN', 'echo a   b', 4],
    ]);
  });

  it('treats a directive after a comment or instruction as a comment', () => {
    const df = parseDockerfile('# hello\n# escape=`\nFROM x\n');
    assert.equal(df.escape, '\\');
    assert.throws(() => parseDockerfile('# escape=x\nFROM a'), /line 1: invalid escape token 'x'/);
    assert.throws(() => parseDockerfile('# escape=`\n# escape=`\nFROM a'), /line 2: only one escape parser directive/);
  });

  it('joins continuations, drops comment lines inside them, keeps keywords case-insensitive', () => {
    const df = parseDockerfile('from busybox AS Build\nrun echo one \\\n# a comment inside\n    two \\\n\n    three\n\n  copy a b\n');
    assert.deepEqual(df.instructions.map((i) => i.keyword), ['FROM', 'RUN', 'COPY']);
    assert.equal(df.instructions[1]!.args, 'echo one     two     three');
    assert.equal(df.instructions[2]!.line, 8);
    assert.equal(df.instructions[0]!.original, 'from busybox AS Build');
    assert.equal(df.warnings.length, 1, 'an empty continuation line is warned about');
  });

  it('reads here-documents for RUN and COPY (quoted delimiters, <<- strips tabs)', () => {
    const df = parseDockerfile('FROM a\nRUN <<EOF\necho $HOME\nEOF\nCOPY <<-"X" <<Y /dest/\n\tliteral $A\n\tX\nsecond\nY\nCMD x\n');
    const [, run, copy, cmd] = df.instructions;
    assert.deepEqual(run!.heredocs, [{ name: 'EOF', content: 'echo $HOME\n', expand: true, stripTabs: false }]);
    assert.deepEqual(copy!.heredocs.map((h) => [h.name, h.content, h.expand]), [['X', 'literal $A\n', false], ['Y', 'second\n', true]]);
    assert.equal(cmd!.line, 10);
    assert.throws(() => parseDockerfile('FROM a\nRUN <<EOF\necho\n'), /line 2: unterminated heredoc/);
  });

  it('tells the exec form from the shell form', () => {
    assert.deepEqual(commandLine('["echo", "a b"]'), { form: 'exec', args: ['echo', 'a b'] });
    assert.deepEqual(commandLine("['echo']"), { form: 'shell', text: "['echo']" });
    assert.deepEqual(commandLine('[1, 2]'), { form: 'shell', text: '[1, 2]' });
    assert.deepEqual(commandLine('echo hi'), { form: 'shell', text: 'echo hi' });
  });

  it('reads flags and refuses unknown ones with the line', () => {
    const [, copy] = parseDockerfile('FROM a\nCOPY --from=build --chown=1:2 --chmod=755 a b\n').instructions;
    const { flags, rest } = splitFlags(copy!);
    assert.equal(flags.get('from'), 'build');
    assert.equal(flags.get('chown'), '1:2');
    assert.equal(rest, 'a b');
    assert.throws(() => planBuild('FROM a\nCOPY --frob=1 a b\n'), /line 2: Unknown flag: frob/);
  });
});

describe('Dockerfile words', () => {
  it('substitutes $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word} and the unset-only forms', () => {
    assert.equal(expandWord('$A-${A}', vars), 'apple-apple');
    assert.equal(expandWord('${NOPE:-def}|${EMPTY:-def}|${EMPTY-def}', vars), 'def|def|');
    assert.equal(expandWord('${A:+alt}|${NOPE:+alt}|${EMPTY+alt}', vars), 'alt||alt');
    assert.equal(expandWord('${NOPE:-${A}}', vars), 'apple');
    assert.equal(expandWord('$1$', vars), '$1$');
  });

  it('removes quotes: single quotes literal, double quotes expand, escapes', () => {
    assert.equal(expandWord(`'$A'"$A"\\$A`, vars), '$Aapple$A');
    assert.equal(expandWord('"a\\"b\\n"', vars), 'a"b\\n');
    assert.equal(expandWord('`$A', vars, '`'), '$A');
    assert.deepEqual(splitRawWords('a "b c" d\\ e'), ['a', '"b c"', 'd\\ e']);
    assert.throws(() => splitRawWords('a "b'), /matching double-quote/);
    assert.throws(() => expandWord("'x", vars), /matching single-quote/);
  });
});

describe('build plans', () => {
  it('allows ARG before the first FROM and splits stages with names', () => {
    const plan = planBuild('ARG BASE=busybox\nFROM ${BASE} AS Builder\nRUN x\nFROM --platform=linux/amd64 scratch\nCOPY --from=builder /a /a\n');
    assert.equal(plan.metaArgs.length, 1);
    assert.deepEqual(plan.stages.map((s) => [s.name, s.base, s.platform, s.steps.length]), [
      ['builder', '${BASE}', undefined, 1],
      [undefined, 'scratch', 'linux/amd64', 1],
    ]);
  });

  it('names the line for unknown instructions, a missing FROM and bad FROM lines', () => {
    assert.throws(() => planBuild('FROM a\n\nFROBNICATE x\n'), /Dockerfile parse error on line 3: unknown instruction: FROBNICATE/);
    assert.throws(() => planBuild('# c\nRUN echo\n'), /line 2: no build stage in current context/);
    assert.throws(() => planBuild('ARG A\n'), /no FROM instruction/);
    assert.throws(() => planBuild('FROM a b\n'), /line 1: FROM requires either one or three arguments/);
    assert.throws(() => planBuild('FROM a AS x\nFROM b AS X\n'), /line 2: duplicate name x/);
    assert.throws(() => planBuild('FROM a\nCOPY onlyone\n'), /line 2: COPY requires at least two arguments/);
    assert.throws(() => planBuild('FROM a\nENV A="unterminated\n'), /line 2: unexpected end of statement while looking for matching double-quote/);
    assert.throws(() => planBuild('FROM a\nONBUILD FROM b\n'), /line 2: FROM isn't allowed as an ONBUILD trigger/);
    assert.throws(() => planBuild('FROM a\nSHELL sh -c\n'), /line 2: SHELL requires the arguments to be in JSON form/);
  });
});

describe('.dockerignore', () => {
  const m = IgnoreMatcher.fromText('# comment\n*.log\n/build\n**/tmp\n!important.log\ndocs/*.md\n!docs/keep.md\nsecret?\n[ab].txt\n');

  it('follows filepath.Match, ** and ! exceptions, last match wins', () => {
    assert.equal(m.ignores('x.log'), true);
    assert.equal(m.ignores('important.log'), false);
    assert.equal(m.ignores('sub/x.log'), false, '* does not cross a /');
    assert.equal(m.ignores('build'), true);
    assert.equal(m.ignores('build/deep/file'), true, 'below an excluded directory');
    assert.equal(m.ignores('tmp'), true);
    assert.equal(m.ignores('a/b/tmp/x'), true);
    assert.equal(m.ignores('docs/a.md'), true);
    assert.equal(m.ignores('docs/keep.md'), false);
    assert.equal(m.ignores('secret1'), true);
    assert.equal(m.ignores('secret12'), false);
    assert.equal(m.ignores('a.txt'), true);
    assert.equal(m.ignores('c.txt'), false);
    assert.equal(m.ignores('src/main.ts'), false);
  });
});

describe('context and cache helpers', () => {
  it('refuses context tar entries that leave the context', () => {
    assert.equal(contextEntryPath('./a/b/'), 'a/b');
    assert.throws(() => contextEntryPath('../etc/passwd'), /outside the context/);
    assert.throws(() => contextEntryPath('a/../../x'), /outside the context/);
    assert.throws(() => contextEntryPath('/etc/passwd'), /absolute path/);
  });

  it('keys a step by parent, instruction and content checksum', () => {
    const k = stepKey('sha256:p', 'RUN x', 'c1');
    assert.equal(k, stepKey('sha256:p', 'RUN x', 'c1'));
    assert.notEqual(k, stepKey('sha256:q', 'RUN x', 'c1'));
    assert.notEqual(k, stepKey('sha256:p', 'RUN y', 'c1'));
    assert.notEqual(k, stepKey('sha256:p', 'RUN x', 'c2'));
  });
});
