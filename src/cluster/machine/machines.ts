/**
 * The machine library behind `berth machine` and the cluster tests: create, list, inspect,
 * start, stop and remove machines of either driver, and the client settings that reach one
 * (its TLS address and the `machine env` exports).
 */
import { rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tlsAddress } from '../../client/tls.js';
import type { DaemonAddress } from '../../client/host.js';
import { invalidParameter, systemError } from '../../util/errors.js';
import { createMachineCerts, ensureStoreCerts } from './certs.js';
import {
  DEFAULT_BRIDGE,
  DEFAULT_SUBNET,
  ENGINE_PORT,
  allocateAddress,
  createNetwork,
  engineState,
  netnsNames,
  removeNetnsMachine,
  sshNetns,
  startEngine,
  stopEngine,
  validateBridgeName,
  writeDaemonJson,
} from './netns-driver.js';
import { createSshMachine, removeSshMachine, sshCommand, sshState, startSshEngine, stopSshEngine, validateSshOptions, type SshCreateOptions } from './ssh-driver.js';
import { MachineStore, storagePath, validateMachineName, type DriverName, type MachineConfig } from './store.js';
import { withStoreLock } from './lock.js';
import { ensureMachineBridge } from '../../sys/machine-host.js';

export type MachineState = 'Running' | 'Stopped' | 'Error';

export interface CreateMachineOptions {
  name: string;
  driver: string;
  /** Engine labels key=value (--engine-label). */
  labels?: string[];
  /** netns driver: the host bridge and the machines' subnet. */
  bridge?: string;
  subnet?: string;
  ssh?: Partial<SshCreateOptions>;
  /** Extra berthd flags for a netns machine (tests pass --debug). */
  engineArgs?: string[];
}

const DRIVERS: DriverName[] = ['netns', 'ssh'];

function validateLabels(labels: string[]): void {
  for (const label of labels) {
    if (label.indexOf('=') <= 0) throw invalidParameter(`invalid engine label "${label}": want key=value`);
  }
}

export class Machines {
  readonly store: MachineStore;
  private readonly defaultStore: boolean;

  /** `root`: the storage path (--storage-path); default from the environment, then ~/.berth/machine. */
  constructor(root?: string) {
    const resolved = storagePath(root);
    this.store = new MachineStore(resolved);
    this.defaultStore = resolved === storagePath(undefined, {});
  }

  async create(o: CreateMachineOptions): Promise<MachineConfig> {
    validateMachineName(o.name);
    if (!DRIVERS.includes(o.driver as DriverName)) throw invalidParameter(`Driver "${o.driver}" not found. Do you have the plugin binary accessible in your PATH? (drivers: ${DRIVERS.join(', ')})`);
    const driver = o.driver as DriverName;
    const labels = o.labels ?? [];
    validateLabels(labels);
    let ssh: SshCreateOptions | undefined;
    if (driver === 'ssh') ssh = validateSshOptions(o.ssh ?? {});
    else if (o.ssh && Object.values(o.ssh).some((v) => v !== undefined)) throw invalidParameter('--ssh-* flags need -d ssh');
    const bridge = o.bridge ?? DEFAULT_BRIDGE;
    const subnet = o.subnet ?? DEFAULT_SUBNET;
    if (driver === 'netns') validateBridgeName(bridge);
    else if (o.bridge !== undefined || o.subnet !== undefined) throw invalidParameter('--netns-bridge and --netns-subnet need -d netns');

    // Reserve the name and the address under the store's lock; the slow part runs outside it.
    const config = await withStoreLock(this.store.root, async () => {
      await this.store.assertFree(o.name);
      const created = new Date().toISOString();
      if (driver === 'ssh') {
        const reserved: MachineConfig = { name: o.name, driver, ip: ssh!.host, port: ENGINE_PORT, labels, created, ssh: { ...ssh!, remoteDir: ssh!.remoteDir ?? '' } };
        await this.store.save(reserved);
        return reserved;
      }
      const { ip, gateway, prefix } = await allocateAddress(subnet, bridge, await this.store.list());
      const names = netnsNames(this.store, o.name, this.defaultStore);
      const reserved: MachineConfig = {
        name: o.name,
        driver,
        ip,
        port: ENGINE_PORT,
        labels,
        created,
        execRoot: names.execRoot,
        netns: { netns: names.netns, bridge, subnet: `${subnet.split('/')[0]}/${prefix}`, gateway, hostVeth: names.hostVeth },
      };
      await this.store.save(reserved);
      return reserved;
    });

    try {
      const storeCerts = await withStoreLock(this.store.root, () => ensureStoreCerts(this.store.certDir));
      if (driver === 'netns') {
        const prefix = Number(config.netns!.subnet.split('/')[1]);
        // The bridge appears under the store's lock: a concurrent create's address check then
        // sees either no bridge or a finished one with its route, never a route on a bridge that
        // is not there yet (which it refused as an overlapping host route).
        await withStoreLock(this.store.root, () => ensureMachineBridge(config.netns!.bridge, `${config.netns!.gateway}/${prefix}`));
        await createMachineCerts(storeCerts, this.store.machineDir(config.name), config.name, config.ip);
        await writeDaemonJson(this.store, config);
        await createNetwork(config.netns!, config.ip, prefix);
        await startEngine(this.store, config, o.engineArgs ?? []);
      } else {
        await createSshMachine(this.store, config, storeCerts);
      }
      return (await this.store.read(config.name)) ?? config;
    } catch (err) {
      // Leave nothing behind: the reservation, namespace, veth, bridge, remote files.
      await this.removeConfig(config).catch(() => undefined);
      throw err;
    }
  }

  list(): Promise<MachineConfig[]> {
    return this.store.list();
  }

  get(name: string): Promise<MachineConfig> {
    return this.store.get(name);
  }

  async state(config: MachineConfig): Promise<MachineState> {
    return config.driver === 'netns' ? engineState(this.store, config) : sshState(this.store, config);
  }

  url(config: MachineConfig): string {
    return `tcp://${config.ip}:${config.port}`;
  }

  /** The directory with ca.pem, cert.pem and key.pem for this machine (DOCKER_CERT_PATH). */
  certPath(config: MachineConfig): string {
    return this.store.machineDir(config.name);
  }

  /** A TLS address with the store's client cert, for EngineClient and cluster code. */
  address(config: MachineConfig): DaemonAddress {
    return tlsAddress(this.url(config), this.certPath(config));
  }

  async start(name: string, engineArgs: string[] = []): Promise<void> {
    const config = await this.get(name);
    if (config.driver === 'netns') await startEngine(this.store, config, engineArgs);
    else await startSshEngine(this.store, config);
  }

  async stop(name: string): Promise<void> {
    const config = await this.get(name);
    if (config.driver === 'netns') await stopEngine(this.store, config);
    else await stopSshEngine(this.store, config);
  }

  /** Removes the machine; with `force` the record goes even when some of the teardown failed. */
  async remove(name: string, force = false): Promise<void> {
    const config = await this.get(name);
    const problems = await this.removeConfig(config);
    if (problems.length && !force) throw systemError(`error removing host "${name}": ${problems.join('; ')}`);
  }

  private async removeConfig(config: MachineConfig): Promise<string[]> {
    const problems = config.driver === 'netns' ? await removeNetnsMachine(this.store, config) : await removeSshMachine(this.store, config);
    if (config.execRoot) await rmdir(dirname(config.execRoot)).catch(() => undefined);
    await rmdir(join(this.store.root, 'machines')).catch(() => undefined);
    return problems;
  }

  ssh(config: MachineConfig, argv: string[]): Promise<number> {
    return config.driver === 'netns' ? sshNetns(config, argv) : sshCommand(config, argv);
  }
}

export type Shell = 'bash' | 'sh' | 'zsh' | 'fish' | 'powershell' | 'cmd';

/** `machine env` output: the exports that point docker (and berth) at the machine, docker-machine's wording. */
export function envScript(m: Machines, config: MachineConfig, shell: Shell, unset: boolean, invocation: string): string {
  const vars: Array<[string, string]> = [
    ['DOCKER_TLS_VERIFY', '1'],
    ['DOCKER_HOST', m.url(config)],
    ['DOCKER_CERT_PATH', m.certPath(config)],
    ['DOCKER_MACHINE_NAME', config.name],
  ];
  const lines: string[] = [];
  for (const [k, v] of vars) {
    if (shell === 'fish') lines.push(unset ? `set -e ${k};` : `set -gx ${k} "${v}";`);
    else if (shell === 'powershell') lines.push(unset ? `Remove-Item Env:\\\\${k}` : `$Env:${k} = "${v}"`);
    else if (shell === 'cmd') lines.push(unset ? `SET ${k}=` : `SET ${k}=${v}`);
    else lines.push(unset ? `unset ${k}` : `export ${k}="${v}"`);
  }
  const hint =
    shell === 'fish' ? `eval (${invocation})` : shell === 'powershell' ? `& ${invocation} | Invoke-Expression` : shell === 'cmd' ? `@FOR /f "tokens=*" %i IN ('${invocation}') DO @%i` : `eval $(${invocation})`;
  const comment = shell === 'cmd' ? 'REM' : '#';
  lines.push(`${comment} Run this command to configure your shell: `, `${comment} ${hint}`);
  return lines.join('\n') + '\n';
}
