import type { CommandSpec } from './command.js';

/**
 * Every command is loaded on demand so `berth version` parses only what it runs. The short
 * descriptions live here too, so `berth --help` never loads a command module.
 */
export interface Entry {
  short: string;
  load: () => Promise<CommandSpec>;
}

const ps: Entry = { short: 'List containers', load: async () => (await import('./commands/ps.js')).command };
const run: Entry = { short: 'Create and run a new container from an image', load: async () => (await import('./commands/run.js')).command };
const create: Entry = { short: 'Create a new container', load: async () => (await import('./commands/create.js')).command };
const start: Entry = { short: 'Start one or more stopped containers', load: async () => (await import('./commands/start.js')).command };
const stop: Entry = { short: 'Stop one or more running containers', load: async () => (await import('./commands/lifecycle.js')).stop };
const restart: Entry = { short: 'Restart one or more containers', load: async () => (await import('./commands/lifecycle.js')).restart };
const kill: Entry = { short: 'Kill one or more running containers', load: async () => (await import('./commands/lifecycle.js')).kill };
const rm: Entry = { short: 'Remove one or more containers', load: async () => (await import('./commands/rm.js')).command };
const wait: Entry = { short: 'Block until one or more containers stop, then print their exit codes', load: async () => (await import('./commands/wait.js')).command };
const logs: Entry = { short: 'Fetch the logs of a container', load: async () => (await import('./commands/logs.js')).command };
const rename: Entry = { short: 'Rename a container', load: async () => (await import('./commands/rename.js')).command };
const images: Entry = { short: 'List images', load: async () => (await import('./commands/images.js')).command };
const rmi: Entry = { short: 'Remove one or more images', load: async () => (await import('./commands/rmi.js')).command };
const tag: Entry = { short: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', load: async () => (await import('./commands/tag.js')).command };
const importCmd: Entry = { short: 'Import the contents from a tarball to create a filesystem image', load: async () => (await import('./commands/import.js')).command };
const history: Entry = { short: 'Show the history of an image', load: async () => (await import('./commands/history.js')).command };
const events: Entry = { short: 'Get real time events from the server', load: async () => (await import('./commands/events.js')).command };
const info: Entry = { short: 'Display system-wide information', load: async () => (await import('./commands/info.js')).command };
const version: Entry = { short: 'Show the Berth version information', load: async () => (await import('./commands/version.js')).command };
const build: Entry = { short: 'Build an image from a Dockerfile', load: async () => (await import('./commands/build.js')).command };
const attach: Entry = { short: 'Attach local standard input, output, and error streams to a running container', load: async () => (await import('./commands/attach.js')).command };
const exec: Entry = { short: 'Execute a command in a running container', load: async () => (await import('./commands/exec.js')).command };
const compose: Entry = { short: 'Define and run multi-container applications', load: async () => (await import('./commands/compose.js')).command };
const pull: Entry = { short: 'Download an image from a registry', load: async () => (await import('./commands/pull.js')).command };
const push: Entry = { short: 'Upload an image to a registry', load: async () => (await import('./commands/push.js')).command };
const login: Entry = { short: 'Log in to a registry', load: async () => (await import('./commands/login.js')).command };
const logout: Entry = { short: 'Log out from a registry', load: async () => (await import('./commands/logout.js')).command };
const search: Entry = { short: "Search a registry's catalog for images", load: async () => (await import('./commands/search.js')).command };
const inspect: Entry = { short: 'Return low-level information on Berth objects', load: async () => (await import('./commands/inspect.js')).command };
const commit: Entry = { short: "Create a new image from a container's changes", load: async () => (await import('./commands/commit.js')).command };
const diff: Entry = { short: "Inspect changes to files or directories on a container's filesystem", load: async () => (await import('./commands/diff.js')).command };
const pause: Entry = { short: 'Pause all processes within one or more containers', load: async () => (await import('./commands/pause.js')).pause };
const unpause: Entry = { short: 'Unpause all processes within one or more containers', load: async () => (await import('./commands/pause.js')).unpause };
const top: Entry = { short: 'Display the running processes of a container', load: async () => (await import('./commands/top.js')).command };
const stats: Entry = { short: 'Display a live stream of container(s) resource usage statistics', load: async () => (await import('./commands/stats.js')).command };
const update: Entry = { short: 'Update configuration of one or more containers', load: async () => (await import('./commands/update.js')).command };

const save: Entry = { short: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: async () => (await import('./commands/save.js')).save };
const load: Entry = { short: 'Load an image from a tar archive or STDIN', load: async () => (await import('./commands/save.js')).load };
const cp: Entry = { short: 'Copy files/folders between a container and the local filesystem', load: async () => (await import('./commands/cp.js')).command };
const exportCmd: Entry = { short: "Export a container's filesystem as a tar archive", load: async () => (await import('./commands/save.js')).exportCommand };

const port: Entry = { short: 'List port mappings or a specific mapping for the container', load: async () => (await import('./commands/port.js')).command };

export const TOP: Record<string, Entry> = {
  save, load, export: exportCmd, cp,
  pause, unpause, top, stats, update,
  commit, diff,
  pull, push, login, logout, search,
  run, ps, images, version, info, build, create, events, history, import: importCmd, inspect, kill, logs, rename,
  restart, rm, rmi, start, stop, tag, wait, compose,
  attach, exec, port,
};

export const COMMON = ['run', 'ps', 'images', 'version', 'info'];

export interface Group {
  short: string;
  commands: Record<string, Entry>;
}

const containerPrune: Entry = { short: 'Remove all stopped containers', load: async () => (await import('./commands/prune.js')).containerPrune };
const imagePrune: Entry = { short: 'Remove unused images', load: async () => (await import('./commands/prune.js')).imagePrune };

const volumeCommand = (name: 'volumeCreate' | 'volumeLs' | 'volumeInspect' | 'volumeRm' | 'volumePrune', short: string): Entry => ({
  short,
  load: async () => (await import('./commands/volume.js'))[name],
});
const volumeLs = volumeCommand('volumeLs', 'List volumes');
type NetworkCommand = 'networkCreate' | 'networkLs' | 'networkInspect' | 'networkRm' | 'networkPrune' | 'networkConnect' | 'networkDisconnect';
const networkCommand = (name: NetworkCommand, short: string): Entry => ({ short, load: async () => (await import('./commands/network.js'))[name] });
const networkLs = networkCommand('networkLs', 'List networks');
const networkRm = networkCommand('networkRm', 'Remove one or more networks');
const volumeRm = volumeCommand('volumeRm', 'Remove one or more volumes');

type MachineCommand = 'machineCreate' | 'machineEnv' | 'machineInspect' | 'machineIp' | 'machineLs' | 'machineRm' | 'machineSsh' | 'machineStart' | 'machineStop' | 'machineUrl';
const machineCommand = (name: MachineCommand, short: string): Entry => ({ short, load: async () => (await import('./commands/machine.js'))[name] });
const machineLs = machineCommand('machineLs', 'List machines');
const machineRm = machineCommand('machineRm', 'Remove a machine');

type ServiceCommand = 'serviceCreate' | 'serviceInspect' | 'serviceLogs' | 'serviceLs' | 'servicePs' | 'serviceRm' | 'serviceRollback' | 'serviceScale' | 'serviceUpdate';
const serviceCommand = (name: ServiceCommand, short: string): Entry => ({ short, load: async () => (await import('./commands/service.js'))[name] });
const serviceLs = serviceCommand('serviceLs', 'List services');
const serviceRm = serviceCommand('serviceRm', 'Remove one or more services');
type NodeCommand = 'nodeInspect' | 'nodeLs' | 'nodePs' | 'nodeRm' | 'nodeUpdate';
const nodeCommand = (name: NodeCommand, short: string): Entry => ({ short, load: async () => (await import('./commands/node.js'))[name] });
const nodeLs = nodeCommand('nodeLs', 'List nodes in the swarm');
const nodeRm = nodeCommand('nodeRm', 'Remove one or more nodes from the swarm');

export const GROUPS: Record<string, Group> = {
  service: {
    short: 'Manage services (on a cluster manager)',
    commands: {
      create: serviceCommand('serviceCreate', 'Create a new service'),
      inspect: serviceCommand('serviceInspect', 'Display detailed information on one or more services'),
      logs: serviceCommand('serviceLogs', 'Fetch the logs of a service or task'),
      ls: serviceLs, list: serviceLs,
      ps: serviceCommand('servicePs', 'List the tasks of one or more services'),
      rm: serviceRm, remove: serviceRm,
      rollback: serviceCommand('serviceRollback', "Revert changes to a service's configuration"),
      scale: serviceCommand('serviceScale', 'Scale one or multiple replicated services'),
      update: serviceCommand('serviceUpdate', 'Update a service'),
    },
  },
  node: {
    short: 'Manage cluster nodes (on a cluster manager)',
    commands: {
      inspect: nodeCommand('nodeInspect', 'Display detailed information on one or more nodes'),
      ls: nodeLs, list: nodeLs,
      ps: nodeCommand('nodePs', 'List tasks running on one or more nodes, defaults to current node'),
      rm: nodeRm, remove: nodeRm,
      update: nodeCommand('nodeUpdate', 'Update a node'),
    },
  },
  builder: {
    short: 'Manage builds',
    commands: { build, prune: { short: 'Remove build cache', load: async () => (await import('./commands/builder.js')).prune } },
  },
  network: {
    short: 'Manage networks',
    commands: {
      connect: networkCommand('networkConnect', 'Connect a container to a network'),
      create: networkCommand('networkCreate', 'Create a network'),
      disconnect: networkCommand('networkDisconnect', 'Disconnect a container from a network'),
      inspect: networkCommand('networkInspect', 'Display detailed information on one or more networks'),
      ls: networkLs, list: networkLs,
      prune: networkCommand('networkPrune', 'Remove all unused networks'),
      rm: networkRm, remove: networkRm,
    },
  },
  volume: {
    short: 'Manage volumes',
    commands: {
      create: volumeCommand('volumeCreate', 'Create a volume'),
      inspect: volumeCommand('volumeInspect', 'Display detailed information on one or more volumes'),
      ls: volumeLs, list: volumeLs,
      prune: volumeCommand('volumePrune', 'Remove all unused local volumes'),
      rm: volumeRm, remove: volumeRm,
    },
  },
  container: {
    short: 'Manage containers',
    commands: {
      commit, cp, diff, export: exportCmd,
      pause, unpause, top, stats, update,
      attach, exec, port,
      create, inspect: { short: 'Display detailed information on one or more containers', load: async () => (await import('./commands/inspect.js')).containerInspect },
      kill, logs, ls: ps, list: ps, ps, prune: containerPrune, rename, restart, rm, remove: rm, run, start, stop, wait,
    },
  },
  image: {
    short: 'Manage images',
    commands: {
      build, history, import: importCmd, save, load, inspect: { short: 'Display detailed information on one or more images', load: async () => (await import('./commands/inspect.js')).imageInspect },
      ls: images, list: images, prune: imagePrune, pull, push, rm: rmi, remove: rmi, tag,
    },
  },
  registry: {
    short: 'Run an OCI Distribution registry (serve) and collect its garbage (gc)',
    commands: {
      serve: { short: 'Run an OCI Distribution registry', load: async () => (await import('./commands/registry.js')).serve },
      gc: { short: 'Delete blobs no manifest references', load: async () => (await import('./commands/registry.js')).gc },
    },
  },
  swarm: {
    short: 'Manage a cluster: managers, node agents and discovery',
    commands: {
      manage: { short: 'Run a cluster manager that serves the Engine API for a set of nodes', load: async () => (await import('./commands/swarm-manage.js')).command },
      join: { short: 'Run a node agent that keeps an engine registered in discovery', load: async () => (await import('./commands/swarm.js')).join },
      list: { short: 'List the engine addresses registered in discovery', load: async () => (await import('./commands/swarm.js')).list },
      etcd: { short: 'Run a single-member etcd for trials', load: async () => (await import('./commands/swarm.js')).etcd },
    },
  },
  machine: {
    short: 'Create and manage machines: local netns nodes or SSH hosts running berthd with TLS',
    commands: {
      create: machineCommand('machineCreate', 'Create a machine'),
      env: machineCommand('machineEnv', 'Display the commands to set up the environment for the Docker client'),
      inspect: machineCommand('machineInspect', 'Inspect information about a machine'),
      ip: machineCommand('machineIp', 'Get the IP address of a machine'),
      ls: machineLs, list: machineLs,
      rm: machineRm, remove: machineRm,
      ssh: machineCommand('machineSsh', 'Log into or run a command on a machine'),
      start: machineCommand('machineStart', 'Start a machine'),
      stop: machineCommand('machineStop', "Stop a machine's engine"),
      url: machineCommand('machineUrl', 'Get the URL of a machine'),
    },
  },
  system: {
    short: 'Manage Berth',
    commands: {
      df: { short: 'Show berth disk usage', load: async () => (await import('./commands/system-df.js')).df },
      events, info,
      prune: { short: 'Remove unused data', load: async () => (await import('./commands/system-prune.js')).systemPrune },
    },
  },
};

/** Names hidden from group help because they are aliases of a listed name. */
export const HIDDEN_ALIASES = new Set(['list', 'ps', 'remove']);
