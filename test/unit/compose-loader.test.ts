import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ComposeError } from '../../src/compose/errors.js';
import { parseEnvFile } from '../../src/compose/envfile.js';
import { interpolateString } from '../../src/compose/interpolate.js';
import { configHash } from '../../src/compose/labels.js';
import { loadProject, normalizeProjectName } from '../../src/compose/loader.js';
import { mergeDocuments } from '../../src/compose/merge.js';
import { planUp, type ActualContainer } from '../../src/compose/planner.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temp project dir named `name` holding the given files. */
function project(files: Record<string, string>, name = 'My App.1'): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-compose-unit-'));
  dirs.push(root);
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return dir;
}

const load = (dir: string, opts: Parameters<typeof loadProject>[0] = {}) => loadProject({ cwd: dir, env: {}, ...opts }).project;

describe('interpolation', () => {
  const env: Record<string, string> = { SET: 'v', EMPTY: '' };
  const i = (s: string): string => interpolateString(s, (n) => env[n]);
  test('all operators', () => {
    assert.equal(i('$SET ${SET} $$SET $$'), 'v v $SET $');
    assert.equal(i('${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}'), 'd d  d');
    assert.equal(i('${SET:+x} ${EMPTY:+x} ${EMPTY+x} ${UNSET+x}'), 'x  x ');
    assert.equal(i('${UNSET:-${SET}}'), 'v');
    assert.equal(i('${SET:?boom}'), 'v');
    assert.throws(() => i('${UNSET:?needs a value}'), /required variable UNSET is missing a value: needs a value/);
    assert.throws(() => i('${EMPTY:?x}'), /EMPTY/);
    assert.equal(i('${EMPTY?x}'), '');
    assert.throws(() => i('${UNSET?x}'), /UNSET/);
    assert.throws(() => i('${SET'), /missing closing brace/);
    assert.throws(() => i('${1A}'), /invalid interpolation format/);
  });
  test('.env dialect', () => {
    const vars = parseEnvFile('# c\nA=1\nexport B="x\\ny"\nC=\'$A\'\nD=${A}2 # comment\nE=\n', '.env');
    assert.deepEqual(vars, { A: '1', B: 'x\ny', C: '$A', D: '12', E: '' });
  });
});

describe('loader', () => {
  test('project name from the directory, normalised; -p, COMPOSE_PROJECT_NAME and name: win in that order', () => {
    const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n' });
    assert.equal(load(dir).name, 'myapp1');
    assert.equal(normalizeProjectName('-_Foo.Bar'), 'foobar');
    assert.equal(load(dir, { env: { COMPOSE_PROJECT_NAME: 'fromenv' } }).name, 'fromenv');
    assert.equal(load(dir, { projectName: 'flag', env: { COMPOSE_PROJECT_NAME: 'fromenv' } }).name, 'flag');
    assert.throws(() => load(dir, { projectName: 'Bad Name' }), /invalid project name/);
  });

  test('.env, --env-file and the shell environment feed interpolation; the shell wins', () => {
    const dir = project({
      'compose.yaml': 'services:\n  web:\n    image: "busybox:${TAG:-latest}"\n    environment:\n      - FROM_SHELL\n      - GREETING=${GREETING}\n',
      '.env': 'TAG=1.36\nGREETING=hello\n',
      'other.env': 'TAG=other\n',
    });
    const p = load(dir, { env: { FROM_SHELL: 's', GREETING: 'shell' } });
    assert.equal(p.services.web?.image, 'busybox:1.36');
    assert.deepEqual(p.services.web?.environment, { FROM_SHELL: 's', GREETING: 'shell' });
    assert.equal(load(dir, { envFiles: [join(dir, 'other.env')] }).services.web?.image, 'busybox:other');
  });

  test('interpolation errors name the file and the key', () => {
    const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: "${IMAGE:?set IMAGE}"\n' });
    assert.throws(() => load(dir), (e: unknown) => e instanceof ComposeError && /compose\.yaml: services\.web\.image: required variable IMAGE is missing a value: set IMAGE/.test(e.message));
  });

  test('schema errors name the file, the service and the key', () => {
    const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    portz: ["80"]\n  db:\n    image: busybox\n    restart: 5\n' });
    assert.throws(() => load(dir), /compose\.yaml: services\.web: additional property "portz" is not allowed/);
    const dir2 = project({ 'compose.yaml': 'services:\n  db:\n    image: busybox\n    depends_on:\n      web:\n        condition: sometimes\n  web:\n    image: busybox\n' });
    assert.throws(() => load(dir2), /services\.db\.depends_on\.web\.condition: must be one of/);
    const dir3 = project({ 'compose.yaml': 'servicez: {}\n' });
    assert.throws(() => load(dir3), /compose\.yaml: servicez: additional property is not allowed at the top level/);
    // oneOf: a value of none of the allowed types names the useful ones, not "must be null".
    const dir4 = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    command: true\n' });
    assert.throws(() => load(dir4), /compose\.yaml: services\.web\.command: must be string or array$/);
    // ...and a value of the right type reports what is wrong inside it.
    const dir5 = project({ 'compose.yaml': 'services:\n  web:\n    image: busybox\n    command: ["echo", {a: 1}]\n' });
    assert.throws(() => load(dir5), /compose\.yaml: services\.web\.command\[1\]: must be string$/);
  });

  test('several -f files merge by the spec rules', () => {
    const dir = project({
      'a.yaml': 'services:\n  web:\n    image: busybox\n    command: ["sh", "-c", "one"]\n    environment: {A: "1", B: "1"}\n    ports: ["8080:80"]\n    volumes: ["data:/data", "/h:/x"]\nvolumes:\n  data: {}\n',
      'b.yaml': 'services:\n  web:\n    command: echo two\n    environment: ["B=2", "C=3"]\n    ports: ["9090:90"]\n    volumes: ["/other:/x:ro"]\n',
    });
    const web = load(dir, { files: ['a.yaml', 'b.yaml'] }).services.web;
    assert.deepEqual(web?.command, ['echo', 'two']);
    assert.deepEqual(web?.environment, { A: '1', B: '2', C: '3' });
    assert.deepEqual(web?.ports.map((p) => `${p.published}:${p.target}`), ['8080:80', '9090:90']);
    assert.deepEqual(web?.volumes.map((v) => `${v.type}:${v.source}:${v.target}:${v.read_only}`), ['volume:data:/data:false', 'bind:/other:/x:true']);
    assert.deepEqual(mergeDocuments({ x: { a: [1] } }, { x: { a: [1, 2] } }), { x: { a: [1, 2] } });
  });

  test('extends (same file and another file), include, and paths relative to their file', () => {
    const dir = project({
      'compose.yaml': [
        'include:',
        '  - sub/inc.yaml',
        'services:',
        '  base:',
        '    image: busybox',
        '    environment: {LEVEL: base}',
        '  web:',
        '    extends: base',
        '    environment: {OWN: "1"}',
        '  other:',
        '    extends: {file: lib/common.yaml, service: tmpl}',
        '',
      ].join('\n'),
      'lib/common.yaml': 'services:\n  tmpl:\n    image: busybox:tmpl\n    volumes: ["./data:/data"]\n',
      'sub/inc.yaml': 'services:\n  included:\n    image: busybox:inc\n    env_file: inc.env\n',
      'sub/inc.env': 'X=from-inc\n',
    });
    const p = load(dir);
    assert.deepEqual(p.services.web?.environment, { LEVEL: 'base', OWN: '1' });
    assert.equal(p.services.other?.image, 'busybox:tmpl');
    assert.equal(p.services.other?.volumes[0]?.source, join(dir, 'lib/data'));
    assert.deepEqual(p.services.included?.environment, { X: 'from-inc' });
  });

  test('profiles: COMPOSE_PROFILES, --profile, and services named on the command line', () => {
    const dir = project({ 'compose.yaml': 'services:\n  app:\n    image: busybox\n  debug:\n    image: busybox\n    profiles: [debug]\n  tools:\n    image: busybox\n    profiles: [tools]\n    depends_on: [helper]\n  helper:\n    image: busybox\n    profiles: [tools]\n' });
    assert.deepEqual(Object.keys(load(dir).services).sort(), ['app']);
    assert.deepEqual(Object.keys(load(dir, { env: { COMPOSE_PROFILES: 'debug' } }).services).sort(), ['app', 'debug']);
    assert.deepEqual(Object.keys(load(dir, { profiles: ['tools'] }).services).sort(), ['app', 'helper', 'tools']);
    assert.deepEqual(Object.keys(load(dir, { services: ['tools'] }).services).sort(), ['app', 'helper', 'tools']);
  });

  test('depends_on: unknown services and cycles are errors', () => {
    const unknown = project({ 'compose.yaml': 'services:\n  a:\n    image: busybox\n    depends_on: [nope]\n' });
    assert.throws(() => load(unknown), /services\.a\.depends_on: service "a" depends on undefined service "nope"/);
    const cycle = project({ 'compose.yaml': 'services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on:\n      c: {condition: service_healthy}\n  c:\n    image: busybox\n    depends_on: [a]\n' });
    assert.throws(() => load(cycle), /dependency cycle between services: a -> b -> c -> a/);
  });

  test('short and long syntax normalise alike; defaults are spelled out', () => {
    const dir = project({
      'compose.yaml': [
        'services:',
        '  web:',
        '    image: busybox',
        '    ports: ["127.0.0.1:8080:80/udp", "3000-3001:4000-4001", {target: 81, published: "8081"}]',
        '    volumes: ["/anon", {type: tmpfs, target: /t, tmpfs: {size: 1m}}]',
        '    healthcheck: {test: "wget -q -O- localhost", interval: 1s, retries: 3}',
        '    deploy: {replicas: 2, resources: {limits: {memory: 64m, cpus: "0.5"}}}',
        '    stop_grace_period: 1m30s',
        '    secrets: [token]',
        'secrets:',
        '  token: {file: ./token.txt}',
        '',
      ].join('\n'),
    });
    const web = load(dir).services.web;
    assert.deepEqual(web?.ports, [
      { target: 80, published: '8080', host_ip: '127.0.0.1', protocol: 'udp', mode: 'ingress' },
      { target: 4000, published: '3000', protocol: 'tcp', mode: 'ingress' },
      { target: 4001, published: '3001', protocol: 'tcp', mode: 'ingress' },
      { target: 81, published: '8081', protocol: 'tcp', mode: 'ingress' },
    ]);
    assert.deepEqual(web?.volumes[1], { type: 'tmpfs', target: '/t', read_only: false, tmpfs: { size: 1048576 } });
    assert.deepEqual(web?.healthcheck?.test, ['CMD-SHELL', 'wget -q -O- localhost']);
    assert.equal(web?.replicas, 2);
    assert.deepEqual(web?.limits, { memory: 64 * 1024 * 1024, cpus: 0.5 });
    assert.equal(web?.stop_grace_period, 90);
    assert.deepEqual(web?.secrets, [{ source: 'token', target: '/run/secrets/token', file: join(dir, 'token.txt') }]);
    assert.deepEqual(Object.keys(web?.networks ?? {}), ['default']);
  });
});

describe('planner', () => {
  const dir = project({ 'compose.yaml': 'services:\n  db:\n    image: busybox\n  web:\n    image: busybox\n    depends_on: [db]\n    deploy: {replicas: 2}\n' });
  const p = load(dir);
  const actual = (service: string, number: number, hash: string, state = 'running'): ActualContainer => ({ id: `${service}${number}`, name: `x-${service}-${number}`, service, number, hash, state, oneoff: false, imageId: '' });
  const hashes = { db: configHash(p.services.db as never), web: configHash(p.services.web as never) };

  test('fresh project: creates in dependency order', () => {
    const plan = planUp(p, []);
    assert.deepEqual(plan.levels.map((l) => l.map((s) => `${s.service}:${s.actions.map((a) => a.kind).join('+')}`)), [['db:create'], ['web:create+create']]);
  });
  test('nothing changed: every container kept; a stopped one started', () => {
    const plan = planUp(p, [actual('db', 1, hashes.db, 'exited'), actual('web', 1, hashes.web), actual('web', 2, hashes.web)]);
    assert.deepEqual(plan.levels.flat().flatMap((s) => s.actions.map((a) => a.kind)), ['start', 'keep', 'keep']);
  });
  test('changed hash recreates only that service; scale down removes the highest numbers; orphans found', () => {
    const plan = planUp(p, [actual('db', 1, 'old'), actual('web', 1, hashes.web), actual('web', 2, hashes.web), actual('gone', 1, 'h')], { scale: { web: 1 } });
    assert.deepEqual(plan.levels.flat().flatMap((s) => s.actions.map((a) => `${s.service}:${a.kind}`)), ['db:recreate', 'web:remove', 'web:keep']);
    assert.deepEqual(plan.orphans.map((o) => o.service), ['gone']);
  });
});
