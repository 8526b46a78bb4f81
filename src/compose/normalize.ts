/**
 * Raw (merged, interpolated, schema-valid, paths made absolute) compose document -> Project.
 * Every shorthand becomes its long form here, and every reference between objects is checked,
 * so a bad file fails before the executor creates anything.
 */
import { existsSync } from 'node:fs';
import { ComposeError } from './errors.js';
import { readEnvFile } from './envfile.js';
import type { Lookup } from './interpolate.js';
import { dependsOnToMap, listOrDictToMap, type Doc } from './merge.js';
import type {
  BuildConfig, Dependency, DependencyCondition, FileGrant, FileObjectDef, Healthcheck, NetworkDef, PortConfig, Project, Service, ServiceNetwork, ServiceVolume, VolumeDef,
} from './model.js';
import { parseBytes, parseDuration } from './units.js';
import { checkDependencies } from './graph.js';

export interface NormalizeInput {
  doc: Doc;
  name: string;
  workingDir: string;
  configFiles: string[];
  /** Variables for `environment: [NAME]` entries without a value. */
  lookup: Lookup;
  /** Where errors point: the first config file (the merged document has no single origin). */
  file: string;
  profiles: string[];
  /** Services named on the command line: enabled whatever their profiles. */
  requested: string[];
}

const asMap = (v: unknown): Doc => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Doc) : {});
const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : String(v));

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(listOrDictToMap(v))) out[k] = val === null || val === undefined ? '' : String(val);
  return out;
}

/** Shell-style words for the string form of command/entrypoint ("sh -c 'echo hi'"). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < text.length && '"\\$`'.includes(text[i + 1] as string)) cur += text[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated quote in "${text}"`);
  if (inWord) words.push(cur);
  return words;
}

class ServiceNormalizer {
  constructor(
    private readonly input: NormalizeInput,
    private readonly name: string,
    private readonly raw: Doc,
  ) {}

  fail(key: string, message: string): never {
    throw new ComposeError(message, { file: this.input.file, key: `services.${this.name}${key ? `.${key}` : ''}` });
  }

  words(key: string): string[] | null | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (v === null) return null;
    if (Array.isArray(v)) return v.map(String);
    try {
      return splitWords(String(v));
    } catch (e) {
      return this.fail(key, (e as Error).message);
    }
  }

  build(): BuildConfig | undefined {
    const b = this.raw.build;
    if (b === undefined || b === null) return undefined;
    const m = typeof b === 'string' ? { context: b } : asMap(b);
    const out: BuildConfig = { context: str(m.context) ?? this.input.workingDir, dockerfile: str(m.dockerfile) ?? 'Dockerfile', args: stringMap(m.args) };
    if (m.target !== undefined) out.target = String(m.target);
    if (m.labels !== undefined) out.labels = stringMap(m.labels);
    return out;
  }

  environment(): Record<string, string> {
    const env: Record<string, string> = {};
    const files = this.raw.env_file;
    const list = files === undefined ? [] : Array.isArray(files) ? files : [files];
    for (const entry of list) {
      const path = typeof entry === 'string' ? entry : String(asMap(entry).path);
      const required = typeof entry === 'string' ? true : asMap(entry).required !== false;
      if (!existsSync(path)) {
        if (required) this.fail('env_file', `env file ${path} not found`);
        continue;
      }
      Object.assign(env, readEnvFile(path, this.input.lookup));
    }
    for (const [k, v] of Object.entries(listOrDictToMap(this.raw.environment))) {
      if (v === null || v === undefined) {
        // `- NAME` with no value passes the caller's value through, or nothing when unset.
        const outer = this.input.lookup(k);
        if (outer !== undefined) env[k] = outer;
        else delete env[k];
      } else env[k] = String(v);
    }
    return env;
  }

  ports(): PortConfig[] {
    const out: PortConfig[] = [];
    const list = Array.isArray(this.raw.ports) ? this.raw.ports : [];
    list.forEach((entry, i) => {
      const key = `ports[${i}]`;
      if (entry !== null && typeof entry === 'object') {
        const m = entry as Doc;
        const target = Number(m.target);
        if (!Number.isInteger(target) || target <= 0 || target > 65535) this.fail(key, `invalid target port "${String(m.target)}"`);
        const p: PortConfig = { target, protocol: (str(m.protocol) ?? 'tcp') as PortConfig['protocol'], mode: (str(m.mode) ?? 'ingress') as PortConfig['mode'] };
        if (m.published !== undefined && m.published !== null && m.published !== '') p.published = String(m.published);
        if (m.host_ip !== undefined) p.host_ip = String(m.host_ip);
        out.push(p);
        return;
      }
      out.push(...this.shortPort(String(entry), key));
    });
    return out;
  }

  /** "[[ip:]published:]target[/proto]", where published and target may be ranges. */
  shortPort(text: string, key: string): PortConfig[] {
    let rest = text;
    let protocol: PortConfig['protocol'] = 'tcp';
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      const proto = rest.slice(slash + 1);
      if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') this.fail(key, `invalid protocol "${proto}" in port "${text}"`);
      protocol = proto;
      rest = rest.slice(0, slash);
    }
    let hostIp: string | undefined;
    // An IPv6 host address is bracketed: [::1]:8080:80.
    const v6 = /^\[([^\]]+)\]:(.*)$/.exec(rest);
    let parts: string[];
    if (v6) {
      hostIp = v6[1];
      parts = (v6[2] as string).split(':');
    } else parts = rest.split(':');
    if (!v6 && parts.length === 3) hostIp = parts.shift();
    if (parts.length > 2 || parts.length === 0) this.fail(key, `invalid port "${text}"`);
    const target = parts[parts.length - 1] as string;
    const published = parts.length === 2 ? (parts[0] as string) : '';
    const range = (r: string): [number, number] => {
      const m = /^(\d+)(?:-(\d+))?$/.exec(r);
      if (!m) return this.fail(key, `invalid port "${text}": "${r}" is not a port or range`);
      const lo = Number(m[1]);
      const hi = m[2] ? Number(m[2]) : lo;
      if (lo < 1 || hi > 65535 || hi < lo) this.fail(key, `invalid port "${text}": port out of range`);
      return [lo, hi];
    };
    const [tLo, tHi] = range(target);
    const pub = published ? range(published) : undefined;
    if (pub && pub[1] - pub[0] !== tHi - tLo && pub[0] !== pub[1]) this.fail(key, `invalid port "${text}": published and target ranges differ in size`);
    const out: PortConfig[] = [];
    for (let t = tLo; t <= tHi; t++) {
      const p: PortConfig = { target: t, protocol, mode: 'ingress' };
      if (pub) p.published = String(pub[0] === pub[1] ? (tLo === tHi ? pub[0] : `${pub[0]}`) : pub[0] + (t - tLo));
      if (hostIp) p.host_ip = hostIp;
      out.push(p);
    }
    return out;
  }

  volumes(): ServiceVolume[] {
    const list = Array.isArray(this.raw.volumes) ? this.raw.volumes : [];
    return list.map((entry, i) => {
      const key = `volumes[${i}]`;
      if (entry !== null && typeof entry === 'object') {
        const m = entry as Doc;
        const type = String(m.type) as ServiceVolume['type'];
        if (!['volume', 'bind', 'tmpfs'].includes(type)) this.fail(`${key}.type`, `unsupported volume type "${type}" (berth supports volume, bind, tmpfs)`);
        const v: ServiceVolume = { type, target: String(m.target ?? ''), read_only: m.read_only === true };
        if (!v.target) this.fail(key, 'a volume needs a target');
        if (m.source !== undefined && m.source !== null && m.source !== '') v.source = String(m.source);
        if (type === 'bind') {
          if (!v.source) this.fail(key, 'a bind mount needs a source');
          v.bind = { create_host_path: asMap(m.bind).create_host_path !== false };
        }
        if (type === 'volume') v.volume = { nocopy: asMap(m.volume).nocopy === true };
        if (type === 'tmpfs' && asMap(m.tmpfs).size !== undefined) v.tmpfs = { size: parseBytes(asMap(m.tmpfs).size as string) };
        return v;
      }
      return this.shortVolume(String(entry), key);
    });
  }

  shortVolume(text: string, key: string): ServiceVolume {
    const parts = text.split(':');
    if (parts.length === 1) return { type: 'volume', target: text, read_only: false, volume: { nocopy: false } };
    if (parts.length > 3) this.fail(key, `invalid volume "${text}": too many colons`);
    const [source, target, mode = ''] = parts as [string, string, string?];
    if (!target.startsWith('/')) this.fail(key, `invalid volume "${text}": the container path must be absolute`);
    const opts = mode.split(',').filter(Boolean);
    for (const o of opts) if (!['ro', 'rw', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent'].includes(o)) this.fail(key, `invalid volume "${text}": unknown mode "${o}"`);
    const read_only = opts.includes('ro');
    // Paths were made absolute by the loader, so a bind source always starts with "/".
    if (source.startsWith('/')) return { type: 'bind', source, target, read_only, bind: { create_host_path: true } };
    return { type: 'volume', source, target, read_only, volume: { nocopy: opts.includes('nocopy') } };
  }

  networks(): Record<string, ServiceNetwork> {
    const raw = this.raw.networks;
    const out: Record<string, ServiceNetwork> = {};
    if (raw === undefined) return out;
    const entries: Array<[string, unknown]> = Array.isArray(raw) ? raw.map((n) => [String(n), null]) : Object.entries(asMap(raw));
    for (const [name, cfg] of entries) {
      const m = asMap(cfg);
      const n: ServiceNetwork = { aliases: Array.isArray(m.aliases) ? m.aliases.map(String) : [] };
      if (m.ipv4_address !== undefined) n.ipv4_address = String(m.ipv4_address);
      out[name] = n;
    }
    return out;
  }

  dependsOn(): Record<string, Dependency> {
    const out: Record<string, Dependency> = {};
    for (const [name, cfg] of Object.entries(dependsOnToMap(this.raw.depends_on))) {
      const m = asMap(cfg);
      out[name] = {
        condition: (str(m.condition) ?? 'service_started') as DependencyCondition,
        required: m.required !== false,
        restart: m.restart === true || m.restart === 'true',
      };
    }
    return out;
  }

  healthcheck(): Healthcheck | undefined {
    const h = this.raw.healthcheck;
    if (h === undefined || h === null) return undefined;
    const m = asMap(h);
    const out: Healthcheck = { disable: m.disable === true };
    if (m.test !== undefined) {
      out.test = Array.isArray(m.test) ? m.test.map(String) : ['CMD-SHELL', String(m.test)];
      if (out.test[0] === 'NONE') out.disable = true;
    }
    for (const k of ['interval', 'timeout', 'start_period', 'start_interval'] as const) {
      if (m[k] === undefined) continue;
      if (Number.isNaN(parseDuration(m[k] as string))) this.fail(`healthcheck.${k}`, `invalid duration "${String(m[k])}"`);
      out[k] = String(m[k]);
    }
    if (m.retries !== undefined) out.retries = Number(m.retries);
    return out;
  }

  grants(kind: 'secrets' | 'configs', defs: Record<string, FileObjectDef>): FileGrant[] {
    const list = Array.isArray(this.raw[kind]) ? (this.raw[kind] as unknown[]) : [];
    return list.map((entry, i) => {
      const m = typeof entry === 'string' ? { source: entry } : asMap(entry);
      const source = String(m.source);
      const def = defs[source];
      if (!def) this.fail(`${kind}[${i}]`, `service "${this.name}" refers to undefined ${kind.slice(0, -1)} "${source}"`);
      if (!def.file) this.fail(`${kind}[${i}]`, `${kind.slice(0, -1)} "${source}" has no file: berth serves ${kind} from files only`);
      let target = str(m.target) ?? (kind === 'secrets' ? source : `/${source}`);
      if (kind === 'secrets' && !target.startsWith('/')) target = `/run/secrets/${target}`;
      return { source, target, file: def.file };
    });
  }

  normalize(secrets: Record<string, FileObjectDef>, configs: Record<string, FileObjectDef>): Service {
    const r = this.raw;
    const deploy = asMap(r.deploy);
    const limits = asMap(asMap(deploy.resources).limits);
    const replicas = deploy.replicas ?? r.scale ?? 1;
    const svc: Service = {
      name: this.name,
      environment: this.environment(),
      ports: this.ports(),
      expose: Array.isArray(r.expose) ? r.expose.map(String) : [],
      volumes: this.volumes(),
      tmpfs: r.tmpfs === undefined ? [] : Array.isArray(r.tmpfs) ? r.tmpfs.map(String) : [String(r.tmpfs)],
      networks: this.networks(),
      depends_on: this.dependsOn(),
      replicas: Number(replicas),
      limits: {},
      labels: stringMap(r.labels),
      secrets: this.grants('secrets', secrets),
      configs: this.grants('configs', configs),
      profiles: Array.isArray(r.profiles) ? r.profiles.map(String) : [],
      tty: r.tty === true,
      stdin_open: r.stdin_open === true,
      privileged: r.privileged === true,
    };
    if (!Number.isInteger(svc.replicas) || svc.replicas < 0) this.fail('deploy.replicas', `invalid replica count "${String(replicas)}"`);
    const memory = limits.memory ?? r.mem_limit;
    if (memory !== undefined) {
      svc.limits.memory = parseBytes(memory as string);
      if (Number.isNaN(svc.limits.memory)) this.fail('deploy.resources.limits.memory', `invalid size "${String(memory)}"`);
    }
    const cpus = limits.cpus ?? r.cpus;
    if (cpus !== undefined) {
      svc.limits.cpus = Number(cpus);
      if (Number.isNaN(svc.limits.cpus) || svc.limits.cpus < 0) this.fail('deploy.resources.limits.cpus', `invalid cpus "${String(cpus)}"`);
    }
    if (r.image !== undefined) svc.image = String(r.image);
    const build = this.build();
    if (build) svc.build = build;
    if (!svc.image && !svc.build) this.fail('', `service "${this.name}" has neither an image nor a build context specified`);
    const command = this.words('command');
    if (command !== undefined) svc.command = command;
    const entrypoint = this.words('entrypoint');
    if (entrypoint !== undefined) svc.entrypoint = entrypoint;
    if (r.network_mode !== undefined) svc.network_mode = String(r.network_mode);
    const hc = this.healthcheck();
    if (hc) svc.healthcheck = hc;
    if (r.restart !== undefined) {
      const restart = String(r.restart);
      if (!/^(no|always|unless-stopped|on-failure(:\d+)?)$/.test(restart)) this.fail('restart', `invalid restart policy "${restart}"`);
      svc.restart = restart;
    }
    for (const k of ['user', 'working_dir', 'hostname', 'stop_signal', 'container_name', 'pull_policy'] as const) {
      if (r[k] !== undefined) svc[k] = String(r[k]);
    }
    if (r.init !== undefined) svc.init = r.init === true;
    if (r.logging !== undefined && r.logging !== null) {
      const logging = r.logging as { driver?: unknown; options?: Record<string, unknown> | null };
      svc.logging = {};
      if (logging.driver !== undefined) svc.logging.driver = String(logging.driver);
      if (logging.options) svc.logging.options = Object.fromEntries(Object.entries(logging.options).map(([k, v]) => [k, String(v)]));
    }
    if (r.stop_grace_period !== undefined) {
      const secs = parseDuration(r.stop_grace_period as string);
      if (Number.isNaN(secs)) this.fail('stop_grace_period', `invalid duration "${String(r.stop_grace_period)}"`);
      svc.stop_grace_period = secs;
    }
    if (svc.container_name && svc.replicas > 1) this.fail('container_name', `service "${this.name}" sets container_name, so it cannot run ${svc.replicas} replicas`);
    if (svc.network_mode && r.networks !== undefined) this.fail('network_mode', 'network_mode and networks cannot be combined');
    if (!svc.network_mode && Object.keys(svc.networks).length === 0) svc.networks = { default: { aliases: [] } };
    return svc;
  }
}

function fileObjects(kind: 'secrets' | 'configs', raw: unknown, project: string, file: string): Record<string, FileObjectDef> {
  const out: Record<string, FileObjectDef> = {};
  for (const [key, cfg] of Object.entries(asMap(raw))) {
    const m = asMap(cfg);
    const external = m.external === true || asMap(m.external).name !== undefined;
    const def: FileObjectDef = { name: str(m.name) ?? (external ? key : `${project}_${key}`), external };
    if (m.file !== undefined) def.file = String(m.file);
    if (!external && !def.file && m.environment === undefined && m.content === undefined) {
      throw new ComposeError(`${kind.slice(0, -1)} "${key}" needs a file`, { file, key: `${kind}.${key}` });
    }
    out[key] = def;
  }
  return out;
}

export function normalizeProject(input: NormalizeInput): Project {
  const { doc, name, file } = input;
  const secrets = fileObjects('secrets', doc.secrets, name, file);
  const configs = fileObjects('configs', doc.configs, name, file);
  const all: Record<string, Service> = {};
  for (const [svcName, raw] of Object.entries(asMap(doc.services))) {
    all[svcName] = new ServiceNormalizer(input, svcName, asMap(raw)).normalize(secrets, configs);
  }

  const networks: Record<string, NetworkDef> = {};
  for (const [key, cfg] of Object.entries(asMap(doc.networks))) {
    const m = asMap(cfg);
    const external = m.external === true || asMap(m.external).name !== undefined;
    const ipamRaw = asMap(m.ipam);
    const def: NetworkDef = {
      name: str(m.name) ?? str(asMap(m.external).name) ?? (external ? key : `${name}_${key}`),
      internal: m.internal === true,
      external,
      attachable: m.attachable === true,
      labels: stringMap(m.labels),
      driver_opts: stringMap(m.driver_opts),
    };
    if (m.driver !== undefined) def.driver = String(m.driver);
    if (m.ipam !== undefined) {
      def.ipam = { config: (Array.isArray(ipamRaw.config) ? ipamRaw.config : []).map((c) => {
        const cm = asMap(c);
        return { ...(cm.subnet ? { subnet: String(cm.subnet) } : {}), ...(cm.gateway ? { gateway: String(cm.gateway) } : {}), ...(cm.ip_range ? { ip_range: String(cm.ip_range) } : {}) };
      }) };
      if (ipamRaw.driver !== undefined) def.ipam.driver = String(ipamRaw.driver);
    }
    networks[key] = def;
  }
  const volumes: Record<string, VolumeDef> = {};
  for (const [key, cfg] of Object.entries(asMap(doc.volumes))) {
    const m = asMap(cfg);
    const external = m.external === true || asMap(m.external).name !== undefined;
    const def: VolumeDef = {
      name: str(m.name) ?? str(asMap(m.external).name) ?? (external ? key : `${name}_${key}`),
      external,
      labels: stringMap(m.labels),
      driver_opts: stringMap(m.driver_opts),
    };
    if (m.driver !== undefined) def.driver = String(m.driver);
    volumes[key] = def;
  }

  const { services, disabled } = applyProfiles(all, input.profiles, input.requested, file);
  // The implicit default network exists only when some enabled service uses it.
  if (!networks.default && Object.values(services).some((s) => s.networks.default)) {
    networks.default = { name: `${name}_default`, internal: false, external: false, attachable: false, labels: {}, driver_opts: {} };
  }
  for (const svc of Object.values(services)) {
    const at = (key: string): ComposeError['key'] => `services.${svc.name}.${key}`;
    for (const net of Object.keys(svc.networks)) {
      if (!networks[net]) throw new ComposeError(`service "${svc.name}" refers to undefined network "${net}"`, { file, key: at('networks') });
    }
    for (const v of svc.volumes) {
      if (v.type === 'volume' && v.source && !volumes[v.source]) throw new ComposeError(`service "${svc.name}" refers to undefined volume "${v.source}"`, { file, key: at('volumes') });
    }
    const mode = svc.network_mode;
    if (mode?.startsWith('service:') && !all[mode.slice(8)]) throw new ComposeError(`service "${svc.name}" uses the network of undefined service "${mode.slice(8)}"`, { file, key: at('network_mode') });
  }
  checkDependencies(services, disabled, file);
  return { name, working_dir: input.workingDir, config_files: input.configFiles, services, disabled, networks, volumes, secrets, configs };
}

/**
 * A service runs when it has no profiles, when one of its profiles is active ("*" activates all),
 * or when the command line names it; a service that runs pulls in its dependencies.
 */
function applyProfiles(all: Record<string, Service>, profiles: string[], requested: string[], file: string): { services: Record<string, Service>; disabled: Record<string, Service> } {
  const active = new Set(profiles);
  const enabled = new Set<string>();
  for (const s of Object.values(all)) {
    if (s.profiles.length === 0 || active.has('*') || s.profiles.some((p) => active.has(p))) enabled.add(s.name);
  }
  const pending = requested.filter((n) => all[n]);
  for (const n of requested) if (!all[n]) throw new ComposeError(`no such service: ${n}`, { file });
  while (pending.length) {
    const n = pending.pop() as string;
    if (enabled.has(n) && !requested.includes(n)) continue;
    enabled.add(n);
    for (const dep of Object.keys(all[n]?.depends_on ?? {})) if (!enabled.has(dep) && all[dep]) pending.push(dep);
  }
  const services: Record<string, Service> = {};
  const disabled: Record<string, Service> = {};
  for (const [n, s] of Object.entries(all)) (enabled.has(n) ? services : disabled)[n] = s;
  return { services, disabled };
}
