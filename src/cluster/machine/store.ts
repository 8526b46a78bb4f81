/**
 * The machine store, laid out as docker-machine's: certs/ (the shared CA and the one client
 * cert) and machines/NAME/ (config.json plus that machine's copy of the CA, its server cert and
 * the client cert, so `DOCKER_CERT_PATH=machines/NAME` works on its own).
 */
import { readFile, readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { atomicWriteFile } from '../../util/atomic.js';
import { conflict, invalidParameter, isErrno, notFound } from '../../util/errors.js';

export type DriverName = 'netns' | 'ssh';

export interface NetnsDriverConfig {
  netns: string;
  bridge: string;
  subnet: string;
  gateway: string;
  hostVeth: string;
}

export interface SshDriverConfig {
  host: string;
  user: string;
  port: number;
  keyPath: string;
  /** Where berth lives on the remote host (bin/berthd below it). */
  berthPath: string;
  /** The remote directory holding daemon.json, certs, data and exec roots. */
  remoteDir: string;
}

export interface MachineConfig {
  name: string;
  driver: DriverName;
  /** The address the engine listens on (and the server cert's SAN). */
  ip: string;
  port: number;
  /** Engine labels, key=value, passed to berthd as --label. */
  labels: string[];
  created: string;
  /** Runtime state of a netns machine's berthd: short, so unix socket paths fit in 108 bytes. */
  execRoot?: string;
  netns?: NetnsDriverConfig;
  ssh?: SshDriverConfig;
}

/** docker-machine's name rule: a letter or digit first, then letters, digits, '-' and '.'. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$/;

export function validateMachineName(name: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw invalidParameter(`invalid machine name "${name}": use letters, digits, '-' and '.', starting with a letter or digit (at most 63 characters)`);
  }
}

/** --storage-path, else BERTH_MACHINE_STORAGE_PATH, else MACHINE_STORAGE_PATH, else ~/.berth/machine. */
export function storagePath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag || env.BERTH_MACHINE_STORAGE_PATH || env.MACHINE_STORAGE_PATH || join(homedir(), '.berth', 'machine'));
}

export class MachineStore {
  constructor(readonly root: string) {}

  get certDir(): string {
    return join(this.root, 'certs');
  }

  machineDir(name: string): string {
    return join(this.root, 'machines', name);
  }

  private configPath(name: string): string {
    return join(this.machineDir(name), 'config.json');
  }

  async exists(name: string): Promise<boolean> {
    return (await this.read(name)) !== undefined;
  }

  async read(name: string): Promise<MachineConfig | undefined> {
    try {
      return JSON.parse(await readFile(this.configPath(name), 'utf8')) as MachineConfig;
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  async get(name: string): Promise<MachineConfig> {
    validateMachineName(name);
    const config = await this.read(name);
    if (!config) throw notFound(`Host does not exist: "${name}"`);
    return config;
  }

  async save(config: MachineConfig): Promise<void> {
    await atomicWriteFile(this.configPath(config.name), JSON.stringify(config, null, 2) + '\n', 0o600);
  }

  async assertFree(name: string): Promise<void> {
    if (await this.exists(name)) throw conflict(`Host already exists: "${name}"`);
  }

  async list(): Promise<MachineConfig[]> {
    let names: string[];
    try {
      names = await readdir(join(this.root, 'machines'));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const configs: MachineConfig[] = [];
    for (const name of names.sort()) {
      const config = await this.read(name);
      if (config) configs.push(config);
    }
    return configs;
  }
}
