import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTemplate, TemplateError } from '../../src/cli/render/template.js';
import { HeaderMap, parseFormat, renderList, FormatError } from '../../src/cli/render/formatter.js';

const run = (tpl: string, data: unknown): string => parseTemplate(tpl).execute(data);

const container = {
  Id: 'abc',
  State: { Status: 'running', Pid: 42, Running: true },
  Config: { Env: ['A=1', 'B=2'], Labels: { 'com.example': 'yes', tier: 'web' }, Cmd: null },
  Names: ['/web'],
};

test('fields, nested fields and literal text', () => {
  assert.equal(run('id={{.Id}} {{.State.Status}}/{{.State.Pid}}', container), 'id=abc running/42');
  assert.equal(run('{{.State.Running}}', container), 'true');
});

test('missing map keys print <no value>; nil prints <nil>', () => {
  assert.equal(run('{{.Nope}}', container), '<no value>');
  assert.equal(run('{{.Config.Cmd}}', container), '<nil>');
});

test('json of the whole value and of a field', () => {
  assert.equal(run('{{json .State}}', container), '{"Status":"running","Pid":42,"Running":true}');
  assert.equal(run('{{json .Config.Env}}', container), '["A=1","B=2"]');
  assert.equal(run('{{json .Config.Labels}}', container), '{"com.example":"yes","tier":"web"}');
});

test('maps and slices print like Go', () => {
  assert.equal(run('{{.Config.Env}}', container), '[A=1 B=2]');
  assert.equal(run('{{.Config.Labels}}', container), 'map[com.example:yes tier:web]');
});

test('range over slices and maps, with variables', () => {
  assert.equal(run('{{range .Config.Env}}[{{.}}]{{end}}', container), '[A=1][B=2]');
  assert.equal(run('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}', container), 'com.example=yes;tier=web;');
  assert.equal(run('{{range .Missing}}x{{else}}empty{{end}}', container), 'empty');
});

test('if / else if / else, with comparisons', () => {
  assert.equal(run('{{if .State.Running}}up{{else}}down{{end}}', container), 'up');
  assert.equal(run('{{if eq .State.Status "exited"}}E{{else if eq .State.Status "running"}}R{{else}}?{{end}}', container), 'R');
  assert.equal(run('{{if not .Config.Cmd}}none{{end}}', container), 'none');
  assert.equal(run('{{with .State}}{{.Pid}}{{end}}', container), '42');
});

test('index, join, lower/upper/title, split, println, printf, len, pipelines', () => {
  assert.equal(run('{{index .Config.Labels "com.example"}}', container), 'yes');
  assert.equal(run('{{index .Config.Env 1}}', container), 'B=2');
  assert.equal(run('{{join .Config.Env ","}}', container), 'A=1,B=2');
  assert.equal(run('{{upper .State.Status}} {{.State.Status | title}} {{lower "ABC"}}', container), 'RUNNING Running abc');
  assert.equal(run('{{index (split "a:b" ":") 1}}', container), 'b');
  assert.equal(run('{{println .Id}}', container), 'abc\n');
  assert.equal(run('{{printf "%s-%d" .Id 7}}', container), 'abc-7');
  assert.equal(run('{{len .Config.Env}}', container), '2');
});

test('methods with arguments on context objects (ps .Label)', () => {
  class Ctx {
    Label(k: string): string {
      return k === 'a' ? 'A' : '';
    }
    ID(): string {
      return 'id1';
    }
  }
  assert.equal(run('{{.ID}} {{.Label "a"}}', new Ctx()), 'id1 A');
  assert.throws(() => run('{{.Foo}}', new Ctx()), /can't evaluate field Foo in type \*Ctx/);
});

test('trim markers and comments', () => {
  assert.equal(run('a  {{- .Id -}}  b{{/* note */}}', container), 'aabcb');
});

test('parse errors', () => {
  assert.throws(() => parseTemplate('{{.Id'), (e: unknown) => e instanceof TemplateError && /unclosed action/.test(e.message));
  assert.throws(() => parseTemplate('{{nosuch .Id}}'), /function "nosuch" not defined/);
  assert.throws(() => parseTemplate('{{if .Id}}x'), /unexpected EOF/);
  assert.throws(() => parseFormat('{{.Id', ''), (e: unknown) => e instanceof FormatError && e.message.startsWith('template parsing error: template: :1: unclosed action'));
});

test('table format: header row from header names, tabwriter alignment', () => {
  const headers = new HeaderMap([
    ['ID', 'CONTAINER ID'],
    ['Names', 'NAMES'],
  ]);
  const rows = [
    { ID: 'aaaaaaaaaaaa', Names: 'web' },
    { ID: 'bbbbbbbbbbbb', Names: 'database' },
  ];
  assert.equal(
    renderList('table {{.ID}}\\t{{.Names}}', '', rows, headers),
    'CONTAINER ID   NAMES\naaaaaaaaaaaa   web\nbbbbbbbbbbbb   database\n',
  );
  assert.equal(renderList('{{.ID}}:{{.Names}}', '', rows, headers), 'aaaaaaaaaaaa:web\nbbbbbbbbbbbb:database\n');
  assert.equal(renderList('table {{.Names}}\\t{{.Label "x"}}', '', [], headers), 'NAMES     LABEL\n');
  assert.equal(renderList('json', '', [{ a: 1 }], headers), '{"a":1}\n');
});
