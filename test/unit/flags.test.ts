import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, formatFlagUsages, parseFlags, parseGoDuration, type FlagSpec } from '../../src/cli/flags.js';

const specs: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: 'Detach' },
  { name: 'interactive', short: 'i', type: 'bool', help: 'Interactive' },
  { name: 'tty', short: 't', type: 'bool', help: 'TTY' },
  { name: 'env', short: 'e', type: 'stringArray', help: 'Env' },
  { name: 'name', type: 'string', help: 'Name' },
  { name: 'last', short: 'n', type: 'int', help: 'Last', default: -1 },
  { name: 'hostname', short: 'h', type: 'string', help: 'Host' },
  { name: 'interval', type: 'duration', help: 'Interval' },
];

test('bundled short booleans', () => {
  const p = parseFlags(['-dit', 'alpine'], specs);
  assert.equal(p.bool('detach'), true);
  assert.equal(p.bool('interactive'), true);
  assert.equal(p.bool('tty'), true);
  assert.deepEqual(p.args, ['alpine']);
});

test('short values: separate, attached, with =, and at the end of a bundle', () => {
  const p = parseFlags(['-e', 'A=1', '-eB=2', '-e=C=3', '-deD=4'], specs);
  assert.deepEqual(p.list('env'), ['A=1', 'B=2', 'C=3', 'D=4']);
  assert.equal(p.bool('detach'), true);
});

test('long values with = and as the next word; repeated into arrays', () => {
  const p = parseFlags(['--env=X=1', '--env', 'Y=2', '--name', 'web', '--name=db'], specs);
  assert.deepEqual(p.list('env'), ['X=1', 'Y=2']);
  assert.equal(p.string('name'), 'db');
  assert.ok(p.changed.has('name'));
});

test('booleans accept =false / =true', () => {
  const p = parseFlags(['--detach=false', '-t=true'], specs);
  assert.equal(p.bool('detach'), false);
  assert.equal(p.bool('tty'), true);
  assert.throws(() => parseFlags(['--detach=maybe'], specs), /invalid argument "maybe" for "-d, --detach" flag/);
});

test('ints and defaults', () => {
  assert.equal(parseFlags([], specs).int('last'), -1);
  assert.equal(parseFlags(['-n', '3'], specs).int('last'), 3);
  assert.equal(parseFlags(['-n5'], specs).int('last'), 5);
  assert.throws(() => parseFlags(['-n', 'x'], specs), /invalid argument "x" for "-n, --last" flag: strconv.ParseInt/);
});

test('durations parse as Go durations', () => {
  assert.equal(parseFlags(['--interval', '1m30s'], specs).values.get('interval'), 90);
  assert.equal(parseGoDuration('500ms'), 0.5);
  assert.equal(parseGoDuration('2h'), 7200);
  assert.ok(Number.isNaN(parseGoDuration('10')));
});

test('-- ends flags', () => {
  const p = parseFlags(['-d', '--', '-e', 'x'], specs);
  assert.deepEqual(p.args, ['-e', 'x']);
  assert.deepEqual(p.list('env'), []);
});

test('stop at the first positional: the rest is the container command', () => {
  const p = parseFlags(['-d', 'alpine', 'sh', '-c', 'echo -n hi', '--name', 'x'], specs, { stopAtPositional: true });
  assert.deepEqual(p.args, ['alpine', 'sh', '-c', 'echo -n hi', '--name', 'x']);
  assert.equal(p.string('name'), undefined);
});

test('interspersed flags by default', () => {
  const p = parseFlags(['a', '-d', 'b'], specs);
  assert.deepEqual(p.args, ['a', 'b']);
  assert.equal(p.bool('detach'), true);
});

test('unknown flags and missing values use pflag wording', () => {
  assert.throws(() => parseFlags(['--foo'], specs), (e: unknown) => e instanceof FlagError && e.message === 'unknown flag: --foo');
  assert.throws(() => parseFlags(['-dx'], specs), /^FlagError: unknown shorthand flag: 'x' in -dx$/);
  assert.throws(() => parseFlags(['--name'], specs), /flag needs an argument: --name/);
  assert.throws(() => parseFlags(['-e'], specs), /flag needs an argument: 'e' in -e/);
});

test('--help is always there; -h only when the command does not use it', () => {
  assert.equal(parseFlags(['--help'], specs).help, true);
  assert.equal(parseFlags(['-h', 'box'], specs).string('hostname'), 'box');
  assert.equal(parseFlags(['-h'], [specs[0] as FlagSpec]).help, true);
});

test('help layout aligns like pflag', () => {
  const text = formatFlagUsages([
    { name: 'all', short: 'a', type: 'bool', help: 'Show all' },
    { name: 'filter', short: 'f', type: 'stringArray', typeName: 'filter', help: 'Filter output' },
    { name: 'format', type: 'string', help: 'Format' },
    { name: 'last', short: 'n', type: 'int', help: 'Show n last', default: -1 },
  ]);
  assert.equal(
    text,
    ['  -a, --all             Show all', '  -f, --filter filter   Filter output', '      --format string   Format', '  -n, --last int        Show n last (default -1)'].join('\n'),
  );
});
