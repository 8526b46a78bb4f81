/**
 * Carries out plans against the Engine API: networks and volumes first, images (build or pull),
 * then containers level by level in dependency order, waiting on each dependency's condition
 * before starting the services that need it. Also the tear-down side (stop, rm, down).
 */
import { isNotFound } from '../client/errors.js';
import type { ContainerInspect } from '../client/types.js';
import { buildImage } from './build.js';
import { containerNameOf, containerPlan, imageOf, projectLabels, type ContainerPlan } from './convert.js';
import type { ComposeEngine } from './engine.js';
import { ComposeError } from './errors.js';
import { startOrder } from './graph.js';
import { COMPOSE_VERSION, LABEL, projectFilter } from './labels.js';
import type { Project, Service } from './model.js';
import { planUp, selectedServices, toActual, type ActualContainer, type Plan, type PlanOptions, type ServicePlan } from './planner.js';
import { jsonLines } from '../client/jsonlines.js';
import type { ProgressMessage } from '../client/types.js';

export type BuildMode = 'always' | 'missing' | 'never';

export interface UpOptions extends PlanOptions {
  build?: BuildMode;
  removeOrphans?: boolean;
  /** Stop timeout (seconds) for recreate/removal; the service's stop_grace_period otherwise. */
  timeout?: number;
}

export interface UpResult {
  plan: Plan;
  /** Containers created, recreated, started or removed. */
  touched: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether an inspect found its object: false on 404, any other error passes through. */
async function exists(inspect: Promise<unknown>): Promise<boolean> {
  try {
    await inspect;
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

export class ProjectExecutor {
  constructor(
    readonly engine: ComposeEngine,
    readonly project: Project,
    /** Progress lines ("Container app-web-1  Started"), for stderr. */
    private readonly say: (line: string) => void = () => {},
  ) {}

  get client(): ComposeEngine['client'] {
    return this.engine.client;
  }

  /** The project's containers (all states), one-off containers included only when asked. */
  async containers(opts: { oneoff?: boolean; services?: string[] } = {}): Promise<ActualContainer[]> {
    const list = await this.client.containerList({ all: true, filters: projectFilter(this.project.name) });
    return list
      .map(toActual)
      .filter((c): c is ActualContainer => c !== undefined)
      .filter((c) => (opts.oneoff ? true : !c.oneoff))
      .filter((c) => !opts.services?.length || opts.services.includes(c.service))
      .sort((a, b) => a.service.localeCompare(b.service) || a.number - b.number);
  }

  private stopTimeout(service: string, override?: number): number | undefined {
    return override ?? this.project.services[service]?.stop_grace_period ?? this.project.disabled[service]?.stop_grace_period;
  }

  async ensureNetworks(services: Iterable<string>): Promise<void> {
    const used = new Set<string>();
    for (const s of services) for (const n of Object.keys(this.project.services[s]?.networks ?? {})) used.add(n);
    const keys = [...used].sort().filter((key) => this.project.networks[key]);
    // All inspected at once (one round trip's wait, not one per network); created in order.
    const present = await Promise.all(keys.map((key) => exists(this.engine.networkInspect(this.project.networks[key]!.name))));
    for (const [i, key] of keys.entries()) {
      const net = this.project.networks[key]!;
      if (present[i]) continue;
      if (net.external) throw new ComposeError(`network ${net.name} declared as external, but could not be found`);
      const ipam = net.ipam && { Driver: net.ipam.driver, Config: net.ipam.config.map((c) => ({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ip_range })) };
      await this.engine.networkCreate({
        Name: net.name,
        Driver: net.driver ?? 'bridge',
        Internal: net.internal,
        Attachable: net.attachable,
        CheckDuplicate: true,
        Labels: { ...net.labels, [LABEL.project]: this.project.name, [LABEL.network]: key, [LABEL.version]: COMPOSE_VERSION },
        Options: net.driver_opts,
        ...(ipam ? { IPAM: ipam } : {}),
      });
      this.say(`Network ${net.name}  Created`);
    }
  }

  async ensureVolumes(services: Iterable<string>): Promise<void> {
    const used = new Set<string>();
    for (const s of services) for (const v of this.project.services[s]?.volumes ?? []) if (v.type === 'volume' && v.source) used.add(v.source);
    const keys = [...used].sort().filter((key) => this.project.volumes[key]);
    const present = await Promise.all(keys.map((key) => exists(this.engine.volumeInspect(this.project.volumes[key]!.name))));
    for (const [i, key] of keys.entries()) {
      const vol = this.project.volumes[key]!;
      if (present[i]) continue;
      if (vol.external) throw new ComposeError(`external volume "${vol.name}" not found`);
      await this.engine.volumeCreate({
        Name: vol.name,
        Driver: vol.driver ?? 'local',
        DriverOpts: vol.driver_opts,
        Labels: { ...vol.labels, [LABEL.project]: this.project.name, [LABEL.volume]: key, [LABEL.version]: COMPOSE_VERSION },
      });
      this.say(`Volume ${vol.name}  Created`);
    }
  }

  async imageId(ref: string): Promise<string | undefined> {
    try {
      return (await this.client.imageInspect(ref)).Id;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async pull(svc: Service): Promise<void> {
    const ref = imageOf(this.project, svc);
    const at = ref.lastIndexOf(':');
    const [name, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
    this.say(`${svc.name} Pulling`);
    const res = await this.client.imagePull(name, tag);
    for await (const msg of jsonLines<ProgressMessage>(res)) {
      if (msg.error || msg.errorDetail?.message) throw new Error(`pulling ${ref} for service "${svc.name}": ${msg.errorDetail?.message ?? msg.error}`);
    }
    this.say(`${svc.name} Pulled`);
  }

  async build(svc: Service): Promise<void> {
    if (!svc.build) return;
    const tag = imageOf(this.project, svc);
    this.say(`${svc.name} Building`);
    await buildImage(this.engine, svc.name, svc.build, tag, this.say);
    this.say(`${svc.name} Built`);
  }

  /** Makes sure every selected service has its image; returns image IDs by reference. */
  async ensureImages(services: Iterable<string>, mode: BuildMode = 'missing'): Promise<Map<string, string>> {
    const wanted = [...services].flatMap((name) => (this.project.services[name] ? [[name, this.project.services[name]!] as const] : []));
    if (mode === 'always') for (const [, svc] of wanted) if (svc.build) await this.build(svc);
    // One inspect per distinct image, all at once: services usually share a few images, and a
    // re-up with nothing to do should cost one round trip's wait here, not one per service.
    const refs = [...new Set(wanted.map(([, svc]) => imageOf(this.project, svc)))];
    const found = await Promise.all(refs.map((ref) => this.imageId(ref)));
    const ids = new Map<string, string>();
    for (const [i, ref] of refs.entries()) if (found[i]) ids.set(ref, found[i]!);
    for (const [name, svc] of wanted) {
      const ref = imageOf(this.project, svc);
      if (ids.has(ref)) continue;
      if (svc.build && mode !== 'never') await this.build(svc);
      else if (svc.build) throw new ComposeError(`service "${name}" has no image ${ref} and --no-build was given`);
      else await this.pull(svc);
      const id = await this.imageId(ref);
      if (id) ids.set(ref, id);
    }
    return ids;
  }

  async up(opts: UpOptions = {}, startContainers = true): Promise<UpResult> {
    const selected = selectedServices(this.project, opts.services, opts.noDeps);
    // The listing is read before any build or pull starts, as when the two ran in turn.
    const listing = this.containers();
    listing.catch(() => undefined);
    const imageIds = await this.ensureImages(selected, opts.build);
    const actual = await listing;
    const plan = planUp(this.project, actual, { ...opts, imageIds, noStart: !startContainers });
    await this.ensureNetworks(selected);
    await this.ensureVolumes(selected);
    if (plan.orphans.length) {
      if (opts.removeOrphans) await this.removeContainers(plan.orphans, true, opts.timeout);
      else this.say(`Found orphan containers (${plan.orphans.map((o) => o.name).join(', ')}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.`);
    }
    let touched = 0;
    for (const level of plan.levels) {
      const counts = await Promise.all(level.map((sp) => this.applyService(sp, selected, opts, startContainers)));
      touched += counts.reduce((a, b) => a + b, 0);
    }
    return { plan, touched };
  }

  private async applyService(sp: ServicePlan, selected: Set<string>, opts: UpOptions, start: boolean): Promise<number> {
    const svc = this.project.services[sp.service] as Service;
    let touched = 0;
    const startList: string[] = [];
    for (const a of sp.actions) {
      if (a.kind === 'remove') {
        await this.removeContainers([a.container], true, opts.timeout);
        touched++;
      }
    }
    if (start && sp.actions.some((a) => a.kind !== 'remove' && a.kind !== 'keep')) await this.waitForDependencies(svc, selected);
    for (const a of sp.actions) {
      switch (a.kind) {
        case 'keep':
          this.say(`Container ${a.container.name}  Running`);
          break;
        case 'start':
          startList.push(a.container.id);
          touched++;
          break;
        case 'create': {
          const id = await this.createContainer(containerPlan(this.project, svc, { number: a.number, hash: sp.hash }));
          startList.push(id);
          touched++;
          break;
        }
        case 'recreate': {
          const id = await this.recreate(svc, a.container, sp.hash, opts.timeout);
          startList.push(id);
          touched++;
          break;
        }
      }
    }
    if (start) {
      for (const id of startList) {
        await this.client.containerStart(id);
        this.say(`Container ${await this.nameOf(id)}  Started`);
      }
    }
    return touched;
  }

  private async nameOf(id: string): Promise<string> {
    return ((await this.client.containerInspect(id)).Name ?? id).replace(/^\//, '');
  }

  async createContainer(plan: ContainerPlan): Promise<string> {
    const { Id } = await this.client.containerCreate(plan.body, plan.name);
    for (const [net, ep] of plan.laterNetworks) await this.engine.networkConnect(net, Id, ep);
    this.say(`Container ${plan.name}  Created`);
    return Id;
  }

  /** Stop the old container, keep its anonymous volumes for the new one, swap names, remove the old. */
  private async recreate(svc: Service, old: ActualContainer, hash: string, timeout?: number): Promise<string> {
    const info = await this.client.containerInspect(old.id);
    const anonymous = new Map<string, string>();
    const mounts = (info.Mounts as Array<{ Type?: string; Name?: string; Destination?: string }> | undefined) ?? [];
    const declared = new Set(svc.volumes.filter((v) => v.type === 'volume' && !v.source).map((v) => v.target));
    for (const m of mounts) if (m.Type === 'volume' && m.Name && m.Destination && declared.has(m.Destination)) anonymous.set(m.Destination, m.Name);
    if (old.state === 'running' || old.state === 'paused' || old.state === 'restarting') await this.client.containerStop(old.id, this.stopTimeout(svc.name, timeout));
    await this.client.containerRename(old.id, `${old.id.slice(0, 12)}_${old.name}`);
    const id = await this.createContainer(containerPlan(this.project, svc, { number: old.number, hash, anonymousVolumes: anonymous }));
    await this.client.containerRemove(old.id, { force: true });
    this.say(`Container ${old.name}  Recreated`);
    return id;
  }

  private async waitForDependencies(svc: Service, selected: Set<string>): Promise<void> {
    for (const [dep, cfg] of Object.entries(svc.depends_on)) {
      if (cfg.condition === 'service_started') continue;
      const containers = selected.has(dep) || this.project.services[dep] ? await this.containers({ services: [dep] }) : [];
      if (!containers.length) {
        if (cfg.required) throw new ComposeError(`service "${svc.name}" depends on "${dep}", which has no container`);
        continue;
      }
      for (const c of containers) {
        if (cfg.condition === 'service_healthy') await this.waitHealthy(c);
        else {
          this.say(`Container ${c.name}  Waiting`);
          const res = await this.client.containerWait(c.id, 'not-running');
          if (res.StatusCode !== 0) throw new ComposeError(`service "${dep}" didn't complete successfully: exit ${res.StatusCode}`);
          this.say(`Container ${c.name}  Exited`);
        }
      }
    }
  }

  async waitHealthy(c: ActualContainer, timeoutMs?: number): Promise<void> {
    this.say(`Container ${c.name}  Waiting`);
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      const info: ContainerInspect = await this.client.containerInspect(c.id);
      const state = info.State as (ContainerInspect['State'] & { Health?: { Status?: string } }) | undefined;
      const health = state?.Health?.Status;
      if (health === 'healthy') {
        this.say(`Container ${c.name}  Healthy`);
        return;
      }
      if (health === 'unhealthy') throw new ComposeError(`dependency failed to start: container ${c.name} is unhealthy`);
      if (!health && !state?.Health) {
        const hc = (info.Config as { Healthcheck?: { Test?: string[] } } | undefined)?.Healthcheck;
        if (!hc?.Test?.length || hc.Test[0] === 'NONE') throw new ComposeError(`container ${c.name} has no healthcheck configured`);
      }
      if (state && !state.Running && state.Status === 'exited') throw new ComposeError(`dependency failed to start: container ${c.name} exited (${state.ExitCode ?? '?'})`);
      if (Date.now() > deadline) throw new ComposeError(`container ${c.name} did not become healthy in time`);
      await sleep(250);
    }
  }

  /** `up --wait`: every started container running, and healthy when it has a healthcheck. */
  async waitRunningOrHealthy(services: Set<string>, timeoutMs?: number): Promise<void> {
    for (const c of await this.containers({ services: [...services] })) {
      const info = await this.client.containerInspect(c.id);
      const state = info.State as (ContainerInspect['State'] & { Health?: { Status?: string } }) | undefined;
      if (state?.Health) await this.waitHealthy(c, timeoutMs);
      else if (!state?.Running && state?.ExitCode !== 0) throw new ComposeError(`container ${c.name} exited (${state?.ExitCode ?? '?'})`);
    }
  }

  async stopContainers(list: ActualContainer[], timeout?: number): Promise<void> {
    await Promise.all(
      list.filter((c) => c.state === 'running' || c.state === 'paused' || c.state === 'restarting').map(async (c) => {
        this.say(`Container ${c.name}  Stopping`);
        await this.client.containerStop(c.id, this.stopTimeout(c.service, timeout));
        this.say(`Container ${c.name}  Stopped`);
      }),
    );
  }

  async removeContainers(list: ActualContainer[], stopFirst: boolean, timeout?: number, volumes = false): Promise<void> {
    if (stopFirst) await this.stopContainers(list, timeout);
    await Promise.all(
      list.map(async (c) => {
        await this.client.containerRemove(c.id, { force: true, volumes });
        this.say(`Container ${c.name}  Removed`);
      }),
    );
  }

  /** Stops containers in reverse dependency order: dependents first. */
  async stopInOrder(list: ActualContainer[], timeout?: number): Promise<void> {
    const levels = startOrder(this.project.services).reverse();
    const ordered = new Set(levels.flat());
    for (const level of levels) await this.stopContainers(list.filter((c) => level.includes(c.service)), timeout);
    await this.stopContainers(list.filter((c) => !ordered.has(c.service)), timeout);
  }

  async down(opts: { volumes?: boolean; rmi?: 'local' | 'all'; removeOrphans?: boolean; timeout?: number }): Promise<void> {
    const all = await this.containers({ oneoff: true });
    const known = new Set([...Object.keys(this.project.services), ...Object.keys(this.project.disabled)]);
    const orphans = all.filter((c) => !known.has(c.service));
    const targets = all.filter((c) => known.has(c.service) || opts.removeOrphans);
    if (orphans.length && !opts.removeOrphans) this.say(`Found orphan containers (${orphans.map((o) => o.name).join(', ')}) for this project. To remove them, run down with --remove-orphans.`);
    await this.stopInOrder(targets, opts.timeout);
    await this.removeContainers(targets, false, opts.timeout, opts.volumes);
    let networks: Array<{ Name: string }> = [];
    try {
      networks = await this.engine.networkList(projectFilter(this.project.name));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    for (const n of networks) {
      if (Object.values(this.project.networks).some((d) => d.external && d.name === n.Name)) continue;
      await this.engine.networkRemove(n.Name);
      this.say(`Network ${n.Name}  Removed`);
    }
    if (opts.volumes) {
      for (const vol of Object.values(this.project.volumes)) {
        if (vol.external) continue;
        try {
          await this.engine.volumeRemove(vol.name);
          this.say(`Volume ${vol.name}  Removed`);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
    }
    if (opts.rmi) {
      const images = new Set<string>();
      for (const svc of [...Object.values(this.project.services), ...Object.values(this.project.disabled)]) {
        if (opts.rmi === 'all' || !svc.image) images.add(imageOf(this.project, svc));
      }
      for (const ref of images) {
        try {
          await this.client.imageRemove(ref);
          this.say(`Image ${ref}  Removed`);
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
      }
    }
  }

  /** Creates a one-off `run` container (labels oneoff=True), its name project-service-run-XXXX. */
  oneoffPlan(svc: Service, o: { command?: string[]; env?: Record<string, string>; servicePorts: boolean; user?: string; workdir?: string; entrypoint?: string[]; name?: string }): ContainerPlan {
    const suffix = Math.random().toString(16).slice(2, 14).padEnd(12, '0');
    const name = o.name ?? `${this.project.name}-${svc.name}-run-${suffix}`;
    return containerPlan(this.project, svc, { number: 1, hash: '', oneoff: { ...o, name } });
  }

  labelsForProject(): Record<string, string> {
    return projectLabels(this.project);
  }

  containerName(svc: Service, n: number): string {
    return containerNameOf(this.project, svc, n);
  }
}
