/**
 * The classic builder: a Dockerfile's stages run one instruction at a time, each step
 * committing an image whose parent is the previous step's, as docker's classic builder does
 * (so `history` shows every step with its CREATED BY and size). Steps are looked up in the
 * build cache before they run.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { applyChanges } from '../image/changes.js';
import { emptyContainerConfig, goTimeString } from '../image/config-json.js';
import { parseNormalizedNamed, shortId } from '../image/reference.js';
import type { ImageStore } from '../image/store.js';
import type { ImageConfig, ImageContainerConfig, ImageHistoryEntry, ImageRecord } from '../image/types.js';
import type { ContainerManager } from '../container/manager.js';
import type { ContainerLayerService } from '../snapshot/types.js';
import { packItems, type PackItem } from '../snapshot/tar-pack.js';
import { BerthError, invalidParameter, isBerthError, notFound } from '../util/errors.js';
import { BuildCache, stepKey } from './cache.js';
import { readIgnore, receiveContext, type BuildContext } from './context.js';
import { collectSources, parentDirectories, placeSources, type SourceRoot } from './copy.js';
import { commandLine, copyArguments, keyValueWords, planBuild, splitFlags, wordsAt, type BuildPlan, type Stage } from './dockerfile/commands.js';
import { dockerfileError, parseDockerfile, type EscapeChar, type Instruction } from './dockerfile/parser.js';
import { envLookup, expandWord, type Lookup } from './dockerfile/words.js';
import { ImageFs } from './image-fs.js';
import { Progress } from './progress.js';
import { resolveScoped } from './scoped.js';
import { RunFailedError, runStep } from './run-step.js';

/** Build args docker lets through without an ARG line (and keeps out of history and cache). */
export const PROXY_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);
const DEFAULT_SHELL = ['/bin/sh', '-c'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BuilderDeps {
  images: ImageStore;
  containers: ContainerManager;
  /** Overlay views of images, for COPY --from of a many-layer image. */
  views: ContainerLayerService;
  upperDirOf: (containerId: string) => string;
  cache: BuildCache;
  /** Where contexts are unpacked (one private directory per build). */
  scratchRoot: string;
  dockerVersion: string;
}

export interface BuildOptions {
  dockerfile: string;
  tags: string[];
  /** null: declared without a value (the CLI found none in its environment). */
  buildArgs: Record<string, string | null>;
  noCache: boolean;
  target?: string;
  labels: Record<string, string>;
  quiet: boolean;
  /** Remove intermediate containers after a successful step (default true). */
  rm: boolean;
  /** Always remove intermediate containers, even after a failure. */
  forceRm: boolean;
  pull: boolean;
  networkMode: string;
  cacheFrom: string[];
}

interface StageState {
  stage: Stage;
  /** The current step's image ("" only before FROM scratch got its first commit). */
  imageId: string;
  config: ImageContainerConfig;
  diffIds: string[];
  history: ImageHistoryEntry[];
  architecture: string;
  os: string;
  /** ARGs declared in this stage and their values (undefined: declared, no value). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
}

function goArch(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
}

/** Go's %q of a []string: ["a" "b"], as docker's history shows CMD and ENTRYPOINT. */
function goQuoteList(list: readonly string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(' ')}]`;
}

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

function setEnv(env: string[], key: string, value: string): string[] {
  const index = env.findIndex((e) => envKey(e) === key);
  if (index === -1) return [...env, `${key}=${value}`];
  const copy = [...env];
  copy[index] = `${key}=${value}`;
  return copy;
}

/** JSON with sorted keys: a config's cache key must not depend on property order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record).filter((k) => record[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The error a step failed with, naming its Dockerfile line (once). */
function atLine(err: unknown, instruction: Instruction): unknown {
  if (!(err instanceof BerthError) || /Dockerfile parse error on line|\(Dockerfile line \d+\)/.test(err.message)) return err;
  const wrapped = new BerthError(err.kind, `${err.message} (Dockerfile line ${instruction.line}: ${instruction.original.split('\n')[0]})`);
  if (err instanceof RunFailedError) return Object.assign(wrapped, { exitCode: err.exitCode });
  return wrapped;
}

export class Builder {
  constructor(private readonly deps: BuilderDeps) {}

  /** Runs a build from a context stream; resolves with the final image ID. */
  async build(contextStream: AsyncIterable<Uint8Array | string>, options: BuildOptions, progress: Progress): Promise<string> {
    for (const tag of options.tags) {
      try {
        const ref = parseNormalizedNamed(tag);
        if (ref.digest !== undefined) throw invalidParameter('refusing to create a tag with a digest reference');
      } catch (err) {
        throw invalidParameter(`invalid tag ${JSON.stringify(tag)}: ${(err as Error).message}`);
      }
    }
    await mkdir(this.deps.scratchRoot, { recursive: true });
    const context = await receiveContext(contextStream, this.deps.scratchRoot);
    const scratchDir = join(this.deps.scratchRoot, `work-${randomBytes(8).toString('hex')}`);
    try {
      const text = await this.dockerfileText(context, options.dockerfile);
      const plan = planBuild(text);
      const run = new BuildRun(this.deps, plan, context, options, progress, scratchDir);
      const id = await run.execute();
      return id;
    } finally {
      // Steps that passed stay cached even when a later one failed.
      await this.deps.cache.flush();
      await context.dispose();
      await rm(scratchDir, { recursive: true, force: true });
    }
  }

  private async dockerfileText(context: BuildContext, name: string): Promise<string> {
    if (context.bareDockerfile !== undefined) return context.bareDockerfile;
    const path = name || 'Dockerfile';
    let found = await resolveScoped(context.dir, path);
    // docker also accepts a lower-case dockerfile when the default name is missing.
    if (!found && !name) found = await resolveScoped(context.dir, 'dockerfile');
    if (!found || !found.stat.isFile()) throw invalidParameter(`Cannot locate specified Dockerfile: ${path}`);
    return readFile(found.abs, 'utf8');
  }
}

/** One build: its plan, its context, its progress, its stages' results. */
class BuildRun {
  private readonly escape: EscapeChar;
  private readonly metaArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  private readonly stageImages = new Map<number, string>();
  private ignore?: Awaited<ReturnType<typeof readIgnore>>;
  private step = 0;
  private totalSteps = 0;
  private readonly cacheFromIds: ImageRecord[] = [];
  private lastContainer = '';

  constructor(
    private readonly deps: BuilderDeps,
    private readonly plan: BuildPlan,
    private readonly context: BuildContext,
    private readonly options: BuildOptions,
    private readonly progress: Progress,
    private readonly scratchDir: string,
  ) {
    this.escape = plan.dockerfile.escape;
  }

  private argValue(name: string, fallback: string | undefined): string | undefined {
    if (Object.prototype.hasOwnProperty.call(this.options.buildArgs, name)) {
      const given = this.options.buildArgs[name];
      if (given !== null && given !== undefined) return given;
    }
    return fallback;
  }

  async execute(): Promise<string> {
    for (const warning of this.plan.dockerfile.warnings) this.progress.line(warning);
    const metaLookup: Lookup = (name) => this.metaArgs.get(name);
    for (const instruction of this.plan.metaArgs) {
      for (const { name, value } of this.parseArg(instruction, metaLookup)) {
        this.metaArgs.set(name, this.argValue(name, value));
        this.usedArgs.add(name);
      }
    }
    const target = this.targetStage();
    const needed = this.neededStages(target);
    const stages = this.plan.stages.filter((s) => needed.has(s.index));
    const labels = Object.entries(this.options.labels);
    this.totalSteps = stages.reduce((n, s) => n + 1 + s.steps.length, 0) + (labels.length > 0 ? 1 : 0);
    for (const ref of this.options.cacheFrom) {
      const image = this.deps.images.tryResolve(ref);
      if (image) this.cacheFromIds.push(image);
    }
    let finalId = '';
    for (const stage of stages) {
      const steps = [...stage.steps];
      if (stage === target && labels.length > 0) {
        const text = labels.map(([k, v]) => `${JSON.stringify(k)}=${JSON.stringify(v)}`).join(' ');
        steps.push({ keyword: 'LABEL', args: text, original: `LABEL ${text}`, line: stage.from.line, heredocs: [] });
      }
      finalId = await this.runStage(stage, steps);
      this.stageImages.set(stage.index, finalId);
    }
    const unused = Object.keys(this.options.buildArgs).filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.has(k));
    if (unused.length > 0) this.progress.line(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed`);
    this.progress.aux(finalId);
    this.progress.line(`Successfully built ${shortId(finalId)}`);
    for (const tag of this.options.tags) {
      // A rebuild that changed nothing leaves its tags alone (saves two synced writes).
      if (this.deps.images.tryResolve(tag)?.id !== finalId) await this.deps.images.tag(finalId, tag);
      this.progress.line(`Successfully tagged ${tag.includes(':') && tag.lastIndexOf(':') > tag.lastIndexOf('/') ? tag : `${tag}:latest`}`);
    }
    return finalId;
  }

  private targetStage(): Stage {
    const stages = this.plan.stages;
    if (!this.options.target) return stages[stages.length - 1]!;
    const wanted = this.options.target.toLowerCase();
    const found = stages.find((s) => s.name === wanted);
    if (!found) throw invalidParameter(`failed to reach build target ${this.options.target} in Dockerfile`);
    return found;
  }

  private stageByRef(ref: string, before: number): Stage | undefined {
    const lower = ref.toLowerCase();
    const named = this.plan.stages.find((s) => s.name === lower && s.index < before);
    if (named) return named;
    if (/^\d+$/.test(ref)) {
      const index = Number(ref);
      if (index < before) return this.plan.stages[index];
    }
    return undefined;
  }

  private fromBase(stage: Stage): string {
    try {
      return expandWord(stage.base, (name) => this.metaArgs.get(name), this.escape);
    } catch (err) {
      throw atLine(err, stage.from);
    }
  }

  /** The stages the target needs (FROM another stage, COPY --from), in Dockerfile order. */
  private neededStages(target: Stage): Set<number> {
    const needed = new Set<number>();
    const visit = (stage: Stage): void => {
      if (needed.has(stage.index)) return;
      needed.add(stage.index);
      const base = this.stageByRef(this.fromBase(stage), stage.index);
      if (base && !/^\d+$/.test(this.fromBase(stage))) visit(base);
      for (const step of stage.steps) {
        if (step.keyword !== 'COPY') continue;
        const from = splitFlags(step).flags.get('from');
        if (typeof from !== 'string') continue;
        const expanded = expandWord(from, (name) => this.metaArgs.get(name), this.escape);
        const dep = this.stageByRef(expanded, stage.index);
        if (dep) visit(dep);
        else if (this.plan.stages.some((s) => s.name === expanded.toLowerCase())) {
          throw dockerfileError(step.line, `COPY --from=${expanded} refers to a stage defined later in the Dockerfile`);
        }
      }
    };
    visit(target);
    return needed;
  }

  private stepHeader(instruction: Instruction): void {
    this.step++;
    this.progress.line(`Step ${this.step}/${this.totalSteps} : ${instruction.original.split('\n')[0]}`);
  }

  private async runStage(stage: Stage, steps: Instruction[]): Promise<string> {
    this.stepHeader(stage.from);
    const state = await this.beginStage(stage);
    await this.runTriggers(state);
    for (const instruction of steps) {
      this.stepHeader(instruction);
      try {
        await this.dispatch(state, instruction);
      } catch (err) {
        throw atLine(err, instruction);
      }
    }
    if (state.imageId === '') {
      // FROM scratch with nothing after it: docker refuses to produce an empty image too.
      throw invalidParameter('No image was generated. Is your Dockerfile empty?');
    }
    return state.imageId;
  }

  private async beginStage(stage: Stage): Promise<StageState> {
    let base: string;
    try {
      base = this.fromBase(stage);
      if (base === '') throw dockerfileError(stage.from.line, 'base name (' + stage.base + ') should not be blank');
      if (stage.platform !== undefined) {
        const platform = expandWord(stage.platform, (name) => this.metaArgs.get(name), this.escape);
        if (platform !== '' && !platform.startsWith(`linux/${goArch()}`) && platform !== 'linux') {
          throw invalidParameter(`FROM --platform=${platform}: this daemon only builds for linux/${goArch()}`);
        }
      }
    } catch (err) {
      throw atLine(err, stage.from);
    }
    const state: StageState = {
      stage,
      imageId: '',
      config: { Env: [] },
      diffIds: [],
      history: [],
      architecture: goArch(),
      os: 'linux',
      args: new Map(),
      cmdSet: false,
    };
    if (base.toLowerCase() !== 'scratch') {
      const previous = this.stageByRef(base, stage.index);
      let image: ImageRecord | undefined;
      if (previous) image = this.deps.images.get(this.stageImages.get(previous.index)!);
      else {
        image = this.deps.images.tryResolve(base);
        if (!image) {
          throw atLine(
            notFound(`pull access denied for ${base}: the image is not present locally and this berthd has no registry access; import or build ${base} first`),
            stage.from,
          );
        }
      }
      state.imageId = image!.id;
      state.config = structuredClone(image!.config.config ?? {});
      state.diffIds = [...image!.config.rootfs.diff_ids];
      state.history = [...(image!.config.history ?? [])];
      state.architecture = image!.config.architecture || goArch();
      state.os = image!.config.os || 'linux';
    }
    // docker gives every stage a PATH when its base has none.
    const env = state.config.Env ?? [];
    if (!env.some((e) => envKey(e) === 'PATH')) state.config.Env = [...env, DEFAULT_PATH];
    this.progress.line(` ---> ${state.imageId === '' ? 'scratch' : shortId(state.imageId)}`);
    return state;
  }

  /** ONBUILD triggers of the base image run first, then leave the config. */
  private async runTriggers(state: StageState): Promise<void> {
    const triggers = state.config.OnBuild ?? [];
    state.config.OnBuild = null;
    if (triggers.length === 0) return;
    this.progress.line(`# Executing ${triggers.length} build trigger${triggers.length === 1 ? '' : 's'}`);
    for (const trigger of triggers) {
      const parsed = parseDockerfile(trigger).instructions[0];
      if (!parsed) continue;
      const instruction: Instruction = { ...parsed, line: state.stage.from.line };
      try {
        await this.dispatch(state, instruction);
      } catch (err) {
        throw atLine(err, instruction);
      }
    }
  }

  /** Variables for substitution: ENV wins over ARG, as the reference says. */
  private lookup(state: StageState): Lookup {
    const env = envLookup(state.config.Env ?? []);
    return (name) => {
      const fromEnv = env(name);
      if (fromEnv !== undefined) return fromEnv;
      return state.args.get(name);
    };
  }

  private expand(state: StageState, instruction: Instruction, word: string): string {
    try {
      return expandWord(word, this.lookup(state), this.escape);
    } catch (err) {
      throw isBerthError(err) ? dockerfileError(instruction.line, err.message) : err;
    }
  }

  private expandList(state: StageState, instruction: Instruction, text: string): string[] {
    return wordsAt(instruction, text, this.escape).map((w) => this.expand(state, instruction, w));
  }

  private parseArg(instruction: Instruction, lookup: Lookup): Array<{ name: string; value: string | undefined }> {
    const out: Array<{ name: string; value: string | undefined }> = [];
    for (const word of wordsAt(instruction, instruction.args, this.escape)) {
      const eq = word.indexOf('=');
      const name = eq < 0 ? word : word.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw dockerfileError(instruction.line, `ARG names can not be blank or contain invalid characters: ${JSON.stringify(name)}`);
      const value = eq < 0 ? undefined : expandWord(word.slice(eq + 1), lookup, this.escape);
      out.push({ name, value });
    }
    return out;
  }

  private shell(state: StageState): string[] {
    return state.config.Shell && state.config.Shell.length > 0 ? state.config.Shell : DEFAULT_SHELL;
  }

  /** exec form as given, shell form through the stage's SHELL. */
  private commandFor(state: StageState, text: string): string[] {
    const parsed = commandLine(text);
    if (parsed.form === 'exec') return parsed.args;
    if (parsed.text === '') return [];
    return [...this.shell(state), parsed.text];
  }

  private async dispatch(state: StageState, instruction: Instruction): Promise<void> {
    const { keyword } = instruction;
    switch (keyword) {
      case 'RUN':
        return this.dispatchRun(state, instruction);
      case 'COPY':
      case 'ADD':
        return this.dispatchCopy(state, instruction);
      case 'WORKDIR':
        return this.dispatchWorkdir(state, instruction);
      case 'ARG':
        return this.dispatchArg(state, instruction);
      default:
        return this.dispatchConfig(state, instruction);
    }
  }

  private async dispatchArg(state: StageState, instruction: Instruction): Promise<void> {
    const parts: string[] = [];
    for (const { name, value } of this.parseArg(instruction, this.lookup(state))) {
      // An ARG without a default inside a stage picks up the value of a global ARG.
      const fallback = value ?? this.metaArgs.get(name);
      state.args.set(name, this.argValue(name, fallback));
      this.usedArgs.add(name);
      parts.push(value === undefined ? name : `${name}=${value}`);
    }
    await this.commitConfig(state, `ARG ${parts.join(' ')}`, state.config);
  }

  /** Instructions that only change the image config. */
  private async dispatchConfig(state: StageState, instruction: Instruction): Promise<void> {
    const { keyword } = instruction;
    const config = structuredClone(state.config);
    const { rest } = splitFlags(instruction);
    let message: string;
    let author: string | undefined;
    switch (keyword) {
      case 'ENV': {
        let env = [...(config.Env ?? [])];
        const pairs = keyValueWords(instruction, rest, this.escape).map(({ key, value }) => [this.expand(state, instruction, key), this.expand(state, instruction, value)] as const);
        for (const [key, value] of pairs) {
          if (key === '') throw dockerfileError(instruction.line, 'ENV names can not be blank');
          env = setEnv(env, key, value);
        }
        config.Env = env;
        message = `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
        break;
      }
      case 'LABEL': {
        const labels = { ...(config.Labels ?? {}) };
        const pairs = keyValueWords(instruction, rest, this.escape).map(({ key, value }) => [this.expand(state, instruction, key), this.expand(state, instruction, value)] as const);
        for (const [key, value] of pairs) {
          if (key === '') throw dockerfileError(instruction.line, 'LABEL names can not be blank');
          labels[key] = value;
        }
        config.Labels = labels;
        message = `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
        break;
      }
      case 'MAINTAINER':
        message = `MAINTAINER ${rest}`;
        author = rest;
        break;
      case 'CMD': {
        config.Cmd = this.commandFor(state, rest);
        state.cmdSet = true;
        message = `CMD ${goQuoteList(config.Cmd)}`;
        break;
      }
      case 'ENTRYPOINT': {
        const parsed = commandLine(rest);
        config.Entrypoint = parsed.form === 'exec' ? parsed.args : parsed.text === '' ? null : [...this.shell(state), parsed.text];
        // A new ENTRYPOINT drops an inherited CMD unless this stage set one.
        if (!state.cmdSet) config.Cmd = null;
        message = `ENTRYPOINT ${goQuoteList(config.Entrypoint ?? [])}`;
        break;
      }
      case 'EXPOSE': {
        const ports = this.expandList(state, instruction, rest);
        Object.assign(config, applyChanges(config, [`EXPOSE ${ports.join(' ')}`]));
        message = `EXPOSE ${ports.join(' ')}`;
        break;
      }
      case 'VOLUME': {
        const parsed = commandLine(rest);
        const paths = parsed.form === 'exec' ? parsed.args : this.expandList(state, instruction, rest);
        const volumes = { ...(config.Volumes ?? {}) };
        for (const path of paths) {
          if (path.trim() === '') throw dockerfileError(instruction.line, 'VOLUME specified can not be an empty string');
          volumes[path.trim()] = {};
        }
        config.Volumes = volumes;
        message = `VOLUME [${paths.join(' ')}]`;
        break;
      }
      case 'USER': {
        const user = this.expand(state, instruction, rest);
        if (user === '') throw dockerfileError(instruction.line, 'USER requires exactly one argument');
        config.User = user;
        message = `USER ${user}`;
        break;
      }
      case 'STOPSIGNAL': {
        const signal = this.expand(state, instruction, rest);
        config.StopSignal = applyChanges(config, [`STOPSIGNAL ${signal}`]).StopSignal!;
        message = `STOPSIGNAL ${signal}`;
        break;
      }
      case 'HEALTHCHECK': {
        const check = applyChanges(config, [`HEALTHCHECK ${instruction.args}`]).Healthcheck!;
        config.Healthcheck = check;
        const ns = (n: number | undefined): string => `${(n ?? 0) / 1e9}s`;
        message = `HEALTHCHECK &{${goQuoteList(check.Test ?? [])} "${ns(check.Interval)}" "${ns(check.Timeout)}" "${ns(check.StartPeriod)}" '\\x${(check.Retries ?? 0).toString(16).padStart(2, '0')}'}`;
        break;
      }
      case 'SHELL': {
        const parsed = commandLine(rest);
        if (parsed.form !== 'exec' || parsed.args.length === 0) throw dockerfileError(instruction.line, 'SHELL requires the arguments to be in JSON form');
        config.Shell = parsed.args;
        message = `SHELL [${parsed.args.join(' ')}]`;
        break;
      }
      case 'ONBUILD': {
        const trigger = rest.replace(/^\S+/, (w) => w.toUpperCase());
        config.OnBuild = [...(config.OnBuild ?? []), trigger];
        message = `ONBUILD ${trigger}`;
        break;
      }
      default:
        throw dockerfileError(instruction.line, `unknown instruction: ${keyword}`);
    }
    await this.commitConfig(state, message, config, author);
  }

  /** The env a RUN sees and the "|N k=v" prefix its history gets (proxy args excluded). */
  private runArgs(state: StageState): { env: string[]; prefix: string[] } {
    const envKeys = new Set((state.config.Env ?? []).map(envKey));
    const visible: string[] = [];
    for (const [name, value] of [...state.args.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (value === undefined || envKeys.has(name)) continue;
      visible.push(`${name}=${value}`);
    }
    const proxies: string[] = [];
    for (const name of PROXY_ARGS) {
      const value = this.options.buildArgs[name];
      if (typeof value === 'string' && !state.args.has(name)) {
        proxies.push(`${name}=${value}`);
        this.usedArgs.add(name);
      }
    }
    return { env: [...(state.config.Env ?? []), ...visible, ...proxies], prefix: visible.length > 0 ? [`|${visible.length}`, ...visible] : [] };
  }

  private async dispatchRun(state: StageState, instruction: Instruction): Promise<void> {
    const { rest } = splitFlags(instruction);
    let argv: string[];
    if (instruction.heredocs.length > 0) {
      // The shell reads here-documents itself; a bare `RUN <<EOF` runs the body as the script.
      const markerOnly = /^<<-?["']?[A-Za-z0-9_][A-Za-z0-9_.-]*["']?$/.test(rest.trim()) && instruction.heredocs.length === 1;
      const script = markerOnly
        ? instruction.heredocs[0]!.content
        : `${rest}\n${instruction.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`;
      argv = [...this.shell(state), script];
    } else {
      argv = this.commandFor(state, rest);
    }
    if (argv.length === 0) throw dockerfileError(instruction.line, 'RUN requires at least one argument');
    const { env, prefix } = this.runArgs(state);
    const saveCmd = [...prefix, ...argv];
    const key = stepKey(state.imageId, `RUN ${JSON.stringify(saveCmd)}`);
    if (await this.tryCache(state, key, saveCmd.join(' '))) return;
    if (state.imageId === '') throw invalidParameter('RUN needs a filesystem: FROM scratch has none until something is copied in');
    const parentChain = this.deps.images.get(state.imageId)?.chainIds.at(-1);
    const result = await runStep(
      {
        containers: this.deps.containers,
        upperDirOf: this.deps.upperDirOf,
        applyLayer: (parent, tar) => this.deps.images.applyLayer(parent, tar),
      },
      {
        imageId: state.imageId,
        argv,
        env,
        user: state.config.User ?? '',
        workingDir: state.config.WorkingDir ?? '',
        networkMode: this.options.networkMode,
        parentChainId: parentChain,
        removeOnSuccess: this.options.rm || this.options.forceRm,
        removeOnFailure: this.options.rm || this.options.forceRm,
      },
      this.progress,
    );
    this.lastContainer = result.containerId;
    const containerConfig = { ...state.config, Cmd: saveCmd, Image: state.imageId, Hostname: result.containerId.slice(0, 12) };
    await this.commit(state, { createdBy: saveCmd.join(' '), containerConfig, config: state.config, diffId: result.layer?.diffId, key, container: result.containerId });
  }

  private async dispatchWorkdir(state: StageState, instruction: Instruction): Promise<void> {
    const dir = this.expand(state, instruction, splitFlags(instruction).rest);
    if (dir === '') throw dockerfileError(instruction.line, 'WORKDIR requires exactly one argument');
    const config = structuredClone(state.config);
    let workdir = dir.startsWith('/') ? posix.normalize(dir) : posix.join('/', config.WorkingDir || '/', dir);
    if (workdir.length > 1) workdir = workdir.replace(/\/+$/, '');
    config.WorkingDir = workdir;
    const message = `WORKDIR ${workdir}`;
    const key = stepKey(state.imageId, message);
    if (await this.tryCache(state, key, `${this.shell(state).join(' ')} #(nop) ${message}`)) {
      state.config = config;
      return;
    }
    // The directory is created (root-owned, 0755) when the image lacks it, as docker does.
    let diffId: string | undefined;
    if (workdir !== '/') {
      const fs = new ImageFs(state.imageId ? this.deps.images.layerPaths(state.imageId) : []);
      if (!(await fs.stat(workdir))) {
        const items: PackItem[] = [];
        const rel = workdir.slice(1);
        const parts = rel.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const path = parts.slice(0, i).join('/');
          const existing = i < parts.length ? await fs.stat(path) : undefined;
          const st = existing?.stat;
          items.push({ header: { name: `${path}/`, type: 'directory', mode: st ? st.mode & 0o7777 : 0o755, uid: st?.uid ?? 0, gid: st?.gid ?? 0, mtime: st?.mtime ?? new Date(), size: 0 } });
        }
        diffId = await this.applyItems(state, items);
      }
    }
    const containerConfig = { ...config, Cmd: [...this.shell(state), `#(nop) ${message}`], Image: state.imageId };
    await this.commit(state, { createdBy: containerConfig.Cmd.join(' '), containerConfig, config, diffId, key });
  }

  private async applyItems(state: StageState, items: PackItem[]): Promise<string> {
    const parentChain = state.imageId ? this.deps.images.get(state.imageId)?.chainIds.at(-1) : undefined;
    const layer = await this.deps.images.applyLayer(parentChain, packItems(items));
    return layer.diffId;
  }

  private async sourceRoot(state: StageState, instruction: Instruction, from: string | undefined): Promise<{ root: SourceRoot; release: () => Promise<void> }> {
    if (from === undefined) {
      this.ignore ??= await readIgnore(this.context.dir);
      return { root: { dir: this.context.dir, ignore: this.ignore, label: 'build context' }, release: async () => undefined };
    }
    const stage = this.stageByRef(from, state.stage.index);
    let image: ImageRecord | undefined;
    let label: string;
    if (stage) {
      image = this.deps.images.get(this.stageImages.get(stage.index) ?? '');
      label = `stage ${from}`;
    } else {
      if (/^\d+$/.test(from)) throw dockerfileError(instruction.line, `invalid from flag value ${from}: stage index ${from} is not a previous stage`);
      image = this.deps.images.tryResolve(from);
      label = `image ${from}`;
      if (!image) throw notFound(`COPY --from=${from}: no stage of that name before this one and no local image ${from}`);
    }
    if (!image) throw notFound(`COPY --from=${from}: the stage produced no image`);
    const layers = this.deps.images.layerPaths(image.id);
    if (layers.length <= 1) {
      const dir = layers[0] ?? join(this.scratchDir, 'empty');
      await mkdir(dir, { recursive: true });
      return { root: { dir, label }, release: async () => undefined };
    }
    const viewId = `buildview-${randomBytes(8).toString('hex')}`;
    const view = await this.deps.views.mount(viewId, layers);
    return { root: { dir: view.mergedDir, label }, release: () => this.deps.views.remove(viewId) };
  }

  private async dispatchCopy(state: StageState, instruction: Instruction): Promise<void> {
    const keyword = instruction.keyword as 'COPY' | 'ADD';
    const { flags, rest } = splitFlags(instruction);
    const raw = copyArguments(instruction, rest, this.escape);
    const words = commandLine(rest).form === 'exec' ? raw.map((w) => this.expand(state, instruction, JSON.stringify(w).slice(1, -1).replace(/\\"/g, '"'))) : raw.map((w) => this.expand(state, instruction, w));
    if (words.length < 2) throw dockerfileError(instruction.line, `${keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const destWord = words[words.length - 1]!;
    const sourceWords = words.slice(0, -1);
    const fromFlag = flags.get('from');
    const from = typeof fromFlag === 'string' ? this.expand(state, instruction, fromFlag) : undefined;
    const chownFlag = flags.get('chown');
    const chown = typeof chownFlag === 'string' ? this.expand(state, instruction, chownFlag) : undefined;
    const chmodFlag = flags.get('chmod');
    let chmod: number | undefined;
    if (typeof chmodFlag === 'string') {
      if (!/^[0-7]{3,4}$/.test(chmodFlag)) throw dockerfileError(instruction.line, `invalid chmod parameter ${JSON.stringify(chmodFlag)}: use an octal mode such as 0755`);
      chmod = parseInt(chmodFlag, 8);
    }
    if (flags.has('checksum')) throw dockerfileError(instruction.line, 'ADD --checksum is only for URL sources, which this daemon cannot fetch');
    const workdir = state.config.WorkingDir || '/';
    const dest = destWord.startsWith('/') ? destWord : `${posix.join(workdir, destWord)}${destWord.endsWith('/') || destWord === '.' ? '/' : ''}`;

    const { root, release } = await this.sourceRoot(state, instruction, from);
    try {
      const collected = await collectSources({
        keyword,
        root,
        sources: sourceWords,
        heredocs: instruction.heredocs,
        expandHeredoc: (text) => this.expandHeredoc(state, text),
        scratchDir: this.scratchDir,
        extractArchives: keyword === 'ADD' && from === undefined,
      });
      const flagText = [from !== undefined ? `--from=${from}` : '', chown !== undefined ? `--chown=${chown}` : '', chmod !== undefined ? `--chmod=${chmodFlag}` : ''].filter(Boolean).join(' ');
      const message = `${keyword} ${flagText ? `${flagText} ` : ''}${collected.summary} in ${destWord} `;
      const key = stepKey(state.imageId, `${message}\n${dest}`, collected.checksum);
      if (await this.tryCache(state, key, `${this.shell(state).join(' ')} #(nop) ${message}`)) return;

      const fs = new ImageFs(state.imageId ? this.deps.images.layerPaths(state.imageId) : []);
      const owner = chown !== undefined ? await fs.resolveOwner(chown) : undefined;
      const destIsExistingDir = await fs.isDirectory(dest);
      const placed = placeSources(collected, { keyword, dest, destIsExistingDir, chown: owner, chmod });
      const destDir = dest.endsWith('/') || destIsExistingDir || collected.sources.some((s) => s.kind === 'dir') ? posix.normalize(dest).replace(/^\/+|\/+$/g, '') : undefined;
      const items: PackItem[] = [];
      for (const dir of parentDirectories(placed, destDir)) {
        const existing = await fs.stat(dir);
        const st = existing?.stat;
        const isDest = dir === destDir;
        items.push({
          header: {
            name: `${dir}/`,
            type: 'directory',
            mode: st ? st.mode & 0o7777 : 0o755,
            uid: st ? st.uid : isDest && owner ? owner.uid : 0,
            gid: st ? st.gid : isDest && owner ? owner.gid : 0,
            mtime: st?.mtime ?? new Date(),
            size: 0,
          },
        });
      }
      for (const entry of placed) {
        const header = { name: entry.type === 'directory' ? `${entry.name}/` : entry.name, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, size: 0 };
        if (entry.type === 'file') items.push({ header: { ...header, type: 'file', size: entry.size }, source: entry.abs! });
        else if (entry.type === 'directory') items.push({ header: { ...header, type: 'directory' } });
        else items.push({ header: { ...header, type: 'symlink', linkname: entry.linkname ?? '' } });
      }
      const diffId = await this.applyItems(state, items);
      const containerConfig = { ...state.config, Cmd: [...this.shell(state), `#(nop) ${message}`], Image: state.imageId };
      await this.commit(state, { createdBy: containerConfig.Cmd.join(' '), containerConfig, config: state.config, diffId, key });
    } finally {
      await release();
    }
  }

  private expandHeredoc(state: StageState, text: string): string {
    // Only variables are expanded in a here-document body; quotes stay as written.
    const lookup = this.lookup(state);
    return text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_m, braced: string | undefined, bare: string | undefined) => lookup((braced ?? bare)!) ?? '');
  }

  /** Metadata-only step: cache lookup, then an image with an empty_layer history entry. */
  private async commitConfig(state: StageState, message: string, config: ImageContainerConfig, author?: string): Promise<void> {
    const cmd = [...this.shell(state), '#(nop) ', message];
    const key = stepKey(state.imageId, `${message}\n${canonicalJson({ ...config, Image: undefined })}`);
    if (await this.tryCache(state, key, cmd.join(' '))) {
      state.config = config;
      return;
    }
    const containerConfig = { ...config, Cmd: cmd, Image: state.imageId };
    await this.commit(state, { createdBy: cmd.join(' '), containerConfig, config, key, author });
  }

  /** A cached image for this step: adopt it, print " ---> Using cache". */
  private async tryCache(state: StageState, key: string, createdBy: string): Promise<boolean> {
    if (this.options.noCache) return false;
    let image: ImageRecord | undefined;
    if (this.options.cacheFrom.length === 0) {
      const id = this.deps.cache.get(key);
      image = id ? this.deps.images.get(id) : undefined;
      if (image && image.parent !== state.imageId) image = undefined;
    }
    if (!image && this.cacheFromIds.length > 0) image = this.fromCacheImages(state.imageId, createdBy);
    if (!image) return false;
    this.progress.line(' ---> Using cache');
    this.adopt(state, image);
    return true;
  }

  /** --cache-from: a step matches an image (or one of its parents) built on the same parent with the same CREATED BY. */
  private fromCacheImages(parentId: string, createdBy: string): ImageRecord | undefined {
    for (const top of this.cacheFromIds) {
      for (let image: ImageRecord | undefined = top; image; image = image.parent ? this.deps.images.get(image.parent) : undefined) {
        if (image.parent === parentId && image.config.history?.at(-1)?.created_by === createdBy) return image;
      }
    }
    return undefined;
  }

  private adopt(state: StageState, image: ImageRecord): void {
    state.imageId = image.id;
    state.config = structuredClone(image.config.config ?? {});
    state.diffIds = [...image.config.rootfs.diff_ids];
    state.history = [...(image.config.history ?? [])];
    this.progress.line(` ---> ${shortId(image.id)}`);
  }

  private async commit(
    state: StageState,
    step: { createdBy: string; containerConfig: ImageContainerConfig; config: ImageContainerConfig; diffId?: string; key: string; author?: string; container?: string },
  ): Promise<void> {
    const created = goTimeString(new Date());
    const entry: ImageHistoryEntry = { created, created_by: step.createdBy };
    if (step.author) entry.author = step.author;
    if (step.diffId === undefined) entry.empty_layer = true;
    const config: ImageContainerConfig = { ...emptyContainerConfig(), ...step.config, Image: state.imageId };
    const parent = state.imageId ? this.deps.images.get(state.imageId) : undefined;
    const imageConfig: ImageConfig = {
      architecture: state.architecture,
      os: state.os,
      created,
      docker_version: this.deps.dockerVersion,
      config,
      container_config: { ...emptyContainerConfig(), ...step.containerConfig },
      rootfs: { type: 'layers', diff_ids: step.diffId === undefined ? state.diffIds : [...state.diffIds, step.diffId] },
      history: [...state.history, entry],
    };
    const author = step.author ?? parent?.config.author;
    if (author) imageConfig.author = author;
    if (step.container ?? this.lastContainer) imageConfig.container = step.container ?? this.lastContainer;
    const image = await this.deps.images.createImage(imageConfig, state.imageId ? { parent: state.imageId } : {});
    state.imageId = image.id;
    state.config = structuredClone(config);
    state.diffIds = imageConfig.rootfs.diff_ids;
    state.history = imageConfig.history!;
    this.deps.cache.set(step.key, image.id);
    this.progress.line(` ---> ${shortId(image.id)}`);
  }
}


