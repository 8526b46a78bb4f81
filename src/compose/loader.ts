/**
 * Loads a project the way docker compose does: find the files (-f, COMPOSE_FILE, or the default
 * names in the working directory and its parents, plus the override file), read .env / --env-file,
 * then for each file: parse YAML, interpolate, validate against the schema, make paths absolute,
 * pull in `include`s; merge the files; resolve `extends`; pick the project name and profiles;
 * normalise. Nothing touches the daemon.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ComposeError } from './errors.js';
import { readEnvFile } from './envfile.js';
import { interpolateTree, type Lookup } from './interpolate.js';
import { mergeDocuments, mergeService, type Doc } from './merge.js';
import type { Project } from './model.js';
import { normalizeProject } from './normalize.js';
import { validateAgainstSchema } from './validate.js';

export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
const OVERRIDE_FILES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

export interface LoadOptions {
  files?: string[];
  projectDirectory?: string;
  projectName?: string;
  envFiles?: string[];
  profiles?: string[];
  /** Services named on the command line (they run whatever their profiles). */
  services?: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedProject {
  project: Project;
  /** The variables interpolation saw: the process environment over the .env file. */
  env: Record<string, string>;
}

const isMap = (v: unknown): v is Doc => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Lower case, only [a-z0-9_-], starting with a letter or digit: compose's NormalizeProjectName. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

export function checkProjectName(name: string, from: string): string {
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(name)) {
    throw new ComposeError(`invalid project name "${name}" (from ${from}): it must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit`);
  }
  return name;
}

/** The default file in `dir` or the nearest parent that has one, with its override file. */
export function findDefaultFiles(cwd: string): string[] {
  let dir = resolve(cwd);
  for (;;) {
    const found = DEFAULT_FILES.map((f) => resolve(dir, f)).find((p) => existsSync(p));
    if (found) {
      const override = OVERRIDE_FILES.map((f) => resolve(dir, f)).find((p) => existsSync(p));
      return override ? [found, override] : [found];
    }
    const parent = dirname(dir);
    if (parent === dir) throw new ComposeError(`no configuration file provided: not found (looked for ${DEFAULT_FILES.join(', ')} in ${resolve(cwd)} and its parents)`);
    dir = parent;
  }
}

function readYaml(file: string): Doc {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ComposeError(`cannot read compose file: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { file });
  }
  const doc = parseDocument(text, { merge: true, prettyErrors: true });
  const err = doc.errors[0];
  if (err) throw new ComposeError(`invalid YAML: ${err.message.split('\n')[0]}`, { file });
  const value: unknown = doc.toJS({ maxAliasCount: 1000 });
  if (value === null || value === undefined) throw new ComposeError('the file is empty', { file });
  if (!isMap(value)) throw new ComposeError('the top level must be a mapping', { file });
  return value;
}

function absPath(p: string, base: string): string {
  if (p === '~' || p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

/** Looks like a host path (bind source) rather than a volume name. */
function isPathLike(s: string): boolean {
  return s.startsWith('.') || s.startsWith('/') || s.startsWith('~');
}

/** Makes every relative host path in one (validated) document absolute against `base`. */
function absolutize(doc: Doc, base: string): Doc {
  const services = isMap(doc.services) ? doc.services : {};
  const out: Doc = { ...doc, services: {} };
  for (const [name, raw] of Object.entries(services)) {
    const s: Doc = { ...(raw as Doc) };
    if (typeof s.build === 'string') s.build = { context: absPath(s.build, base) };
    else if (isMap(s.build)) s.build = { ...s.build, context: absPath(String(s.build.context ?? '.'), base) };
    if (typeof s.env_file === 'string') s.env_file = absPath(s.env_file, base);
    else if (Array.isArray(s.env_file)) {
      s.env_file = s.env_file.map((e) => (typeof e === 'string' ? absPath(e, base) : isMap(e) ? { ...e, path: absPath(String(e.path), base) } : e));
    }
    if (Array.isArray(s.volumes)) {
      s.volumes = s.volumes.map((v) => {
        if (typeof v === 'string') {
          const parts = v.split(':');
          if (parts.length >= 2 && isPathLike(parts[0] as string)) return [absPath(parts[0] as string, base), ...parts.slice(1)].join(':');
          return v;
        }
        if (isMap(v) && v.type === 'bind' && typeof v.source === 'string') return { ...v, source: absPath(v.source, base) };
        return v;
      });
    }
    if (isMap(s.extends) && typeof s.extends.file === 'string') s.extends = { ...s.extends, file: absPath(s.extends.file, base) };
    (out.services as Doc)[name] = s;
  }
  for (const kind of ['secrets', 'configs'] as const) {
    if (!isMap(doc[kind])) continue;
    out[kind] = Object.fromEntries(Object.entries(doc[kind] as Doc).map(([k, v]) => [k, isMap(v) && typeof v.file === 'string' ? { ...v, file: absPath(v.file, base) } : v]));
  }
  return out;
}

class ProjectLoader {
  private readonly fileCache = new Map<string, Doc>();

  constructor(private readonly lookup: Lookup) {}

  /** One file, interpolated, validated, with absolute paths and its includes merged in. */
  load(file: string, base: string, lookup: Lookup = this.lookup, including: string[] = []): Doc {
    const cached = this.fileCache.get(file);
    if (cached) return cached;
    const raw = readYaml(file);
    const interpolated = interpolateTree(raw, lookup, file) as Doc;
    validateAgainstSchema(interpolated, file);
    let doc = absolutize(interpolated, base);
    if (Array.isArray(doc.include)) {
      doc = this.applyIncludes(doc, file, base, [...including, file]);
    }
    this.fileCache.set(file, doc);
    return doc;
  }

  /** Included projects bring their services, networks, volumes...; a name defined twice is an error. */
  private applyIncludes(doc: Doc, file: string, base: string, chain: string[]): Doc {
    const own = { ...doc };
    delete own.include;
    let merged: Doc = {};
    (doc.include as unknown[]).forEach((entry, i) => {
      const key = `include[${i}]`;
      const m: Doc = typeof entry === 'string' ? { path: entry } : (entry as Doc);
      const paths = (Array.isArray(m.path) ? m.path : [m.path]).map((p) => absPath(String(p), base));
      for (const p of paths) if (chain.includes(p)) throw new ComposeError(`include cycle: ${[...chain, p].join(' -> ')}`, { file, key });
      const dir = m.project_directory ? absPath(String(m.project_directory), base) : dirname(paths[0] as string);
      const envFiles = m.env_file === undefined ? [resolve(dir, '.env')] : (Array.isArray(m.env_file) ? m.env_file : [m.env_file]).map((p) => absPath(String(p), base));
      const localEnv: Record<string, string> = {};
      for (const f of envFiles) if (existsSync(f)) Object.assign(localEnv, readEnvFile(f, this.lookup));
      // The including project's variables win over the included project's own .env.
      const lookup: Lookup = (name) => this.lookup(name) ?? localEnv[name];
      let sub: Doc = {};
      for (const p of paths) sub = mergeDocuments(sub, this.load(p, dir, lookup, chain));
      sub = resolveExtends(sub, paths[0] as string, this);
      for (const section of ['services', 'networks', 'volumes', 'secrets', 'configs'] as const) {
        for (const name of Object.keys(isMap(sub[section]) ? (sub[section] as Doc) : {})) {
          const clash = (isMap(own[section]) && Object.hasOwn(own[section] as Doc, name)) || (isMap(merged[section]) && Object.hasOwn(merged[section] as Doc, name));
          if (clash && section === 'services') throw new ComposeError(`service "${name}" from ${paths[0]} is already defined`, { file, key });
        }
      }
      merged = mergeDocuments(merged, sub);
    });
    return mergeDocuments(merged, own);
  }
}

/** Resolves every service's `extends` (same file or another), depth first, rejecting cycles. */
function resolveExtends(doc: Doc, file: string, loader: ProjectLoader): Doc {
  const services = isMap(doc.services) ? (doc.services as Doc) : {};
  const done = new Map<string, Doc>();
  const resolveOne = (fromFile: string, fromServices: Doc, name: string, chain: string[]): Doc => {
    const id = `${fromFile}#${name}`;
    if (fromFile === file && done.has(name)) return done.get(name) as Doc;
    if (chain.includes(id)) throw new ComposeError(`extends cycle: ${[...chain, id].map((c) => c.split('#')[1]).join(' -> ')}`, { file: fromFile, key: `services.${name}.extends` });
    const svc = fromServices[name];
    if (!isMap(svc)) throw new ComposeError(`cannot extend service "${name}": no such service`, { file: fromFile, key: `services.${chain.length ? chain[chain.length - 1]?.split('#')[1] : name}.extends` });
    let result: Doc = { ...svc };
    const ext = svc.extends;
    if (ext !== undefined) {
      const target = typeof ext === 'string' ? { service: ext } : (ext as Doc);
      const baseFile = typeof target.file === 'string' ? target.file : fromFile;
      const baseServices = baseFile === fromFile ? fromServices : ((loader.load(baseFile, dirname(baseFile)).services as Doc | undefined) ?? {});
      const base = resolveOne(baseFile, baseServices, String(target.service), [...chain, id]);
      const own = { ...svc };
      delete own.extends;
      result = mergeService(base, own);
      delete result.extends;
    }
    if (fromFile === file) done.set(name, result);
    return result;
  };
  const out: Doc = {};
  for (const name of Object.keys(services)) out[name] = resolveOne(file, services, name, []);
  return { ...doc, services: out };
}

/** Loads and normalises the project; throws ComposeError (naming file and key) on bad input. */
export function loadProject(opts: LoadOptions = {}): LoadedProject {
  const cwd = opts.cwd ?? process.cwd();
  const processEnv = opts.env ?? process.env;
  const projectDirFlag = opts.projectDirectory ? resolve(cwd, opts.projectDirectory) : undefined;
  let files: string[];
  if (opts.files?.length) files = opts.files.map((f) => resolve(cwd, f));
  else if (processEnv.COMPOSE_FILE) files = processEnv.COMPOSE_FILE.split(processEnv.COMPOSE_PATH_SEPARATOR ?? ':').filter(Boolean).map((f) => resolve(projectDirFlag ?? cwd, f));
  else files = findDefaultFiles(projectDirFlag ?? cwd);
  const workingDir = projectDirFlag ?? dirname(files[0] as string);

  const dotenv: Record<string, string> = {};
  const envFiles = opts.envFiles?.length ? opts.envFiles.map((f) => resolve(cwd, f)) : [resolve(workingDir, '.env')];
  const shell: Lookup = (name) => processEnv[name];
  for (const f of envFiles) {
    if (!existsSync(f)) {
      if (opts.envFiles?.length) throw new ComposeError(`env file ${f} not found`);
      continue;
    }
    Object.assign(dotenv, readEnvFile(f, shell));
  }
  const env: Record<string, string> = { ...dotenv };
  for (const [k, v] of Object.entries(processEnv)) if (v !== undefined) env[k] = v;
  const lookup: Lookup = (name) => env[name];

  const loader = new ProjectLoader(lookup);
  let doc: Doc = {};
  for (const f of files) doc = mergeDocuments(doc, loader.load(f, workingDir));
  doc = resolveExtends(doc, files[0] as string, loader);

  let name: string;
  if (opts.projectName) name = checkProjectName(opts.projectName, 'the -p flag');
  else if (env.COMPOSE_PROJECT_NAME) name = checkProjectName(env.COMPOSE_PROJECT_NAME, 'COMPOSE_PROJECT_NAME');
  else if (typeof doc.name === 'string' && doc.name) name = checkProjectName(doc.name, `the "name" key of ${files[0]}`);
  else {
    name = normalizeProjectName(basename(workingDir));
    if (!name) throw new ComposeError(`cannot derive a project name from the directory "${basename(workingDir)}": use -p NAME`);
  }
  const profiles = opts.profiles?.length ? opts.profiles.flatMap((p) => p.split(',')) : (env.COMPOSE_PROFILES ?? '').split(',');
  const project = normalizeProject({
    doc,
    name,
    workingDir,
    configFiles: files,
    lookup,
    file: files[0] as string,
    profiles: profiles.map((p) => p.trim()).filter(Boolean),
    requested: opts.services ?? [],
  });
  return { project, env };
}
