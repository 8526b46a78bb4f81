import type { CommandSpec } from './command.js';
import { formatFlagUsages, type FlagSpec } from './flags.js';
import { COMMON, GROUPS, HIDDEN_ALIASES, TOP } from './registry.js';

/** The usage line: the typed words replace the spec's own first word ("container ls [OPTIONS]"). */
export function useLine(path: string, spec: CommandSpec): string {
  const rest = spec.use.split(' ').slice(1).join(' ');
  return rest ? `${path} ${rest}` : path;
}

export function commandHelp(path: string, spec: CommandSpec): string {
  let s = `Usage:  ${useLine(path, spec)}\n\n${spec.short}\n`;
  if (spec.aliases?.length) s += `\nAliases:\n  ${spec.aliases.join(', ')}\n`;
  const flags = spec.flags.filter((f) => !f.hidden);
  if (flags.length) s += `\nOptions:\n${formatFlagUsages(flags)}\n`;
  return s;
}

function listing(names: string[], shortOf: (n: string) => string): string {
  const width = Math.max(12, ...names.map((n) => n.length + 2));
  return names.map((n) => `  ${n.padEnd(width)}${shortOf(n)}`).join('\n');
}

export function groupHelp(name: string): string {
  const g = GROUPS[name];
  if (!g) return '';
  // An alias name is hidden only where it is one (container ps = ls); service ps is a command.
  const isAlias = (n: string) => Object.entries(g.commands).some(([other, e]) => other !== n && e === g.commands[n]);
  const names = Object.keys(g.commands)
    .filter((n) => !HIDDEN_ALIASES.has(n) || !isAlias(n))
    .sort();
  return `Usage:  berth ${name} COMMAND\n\n${g.short}\n\nCommands:\n${listing(names, (n) => g.commands[n]?.short ?? '')}\n\nRun 'berth ${name} COMMAND --help' for more information on a command.\n`;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'config', type: 'string', help: 'Location of client config files', default: '/root/.berth' },
  { name: 'context', short: 'c', type: 'string', help: 'Name of the context to use to connect to the daemon (overrides BERTH_HOST and DOCKER_HOST env vars)' },
  { name: 'debug', short: 'D', type: 'bool', help: 'Enable debug mode' },
  { name: 'host', short: 'H', type: 'stringArray', help: 'Daemon socket to connect to' },
  { name: 'log-level', short: 'l', type: 'string', help: 'Set the logging level ("debug", "info", "warn", "error", "fatal")', default: 'info' },
  { name: 'tls', type: 'bool', help: 'Use TLS; implied by --tlsverify' },
  { name: 'tlscacert', type: 'string', help: 'Trust certs signed only by this CA', default: '~/.docker/ca.pem' },
  { name: 'tlscert', type: 'string', help: 'Path to TLS certificate file', default: '~/.docker/cert.pem' },
  { name: 'tlskey', type: 'string', help: 'Path to TLS key file', default: '~/.docker/key.pem' },
  { name: 'tlsverify', type: 'bool', help: 'Use TLS and verify the remote' },
  { name: 'version', short: 'v', type: 'bool', help: 'Print version information and quit' },
];

export function topHelp(): string {
  const others = Object.keys(TOP)
    .filter((n) => !COMMON.includes(n))
    .sort();
  const groups = Object.keys(GROUPS).sort();
  return (
    `Usage:  berth [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\n` +
    `Common Commands:\n${listing(COMMON, (n) => TOP[n]?.short ?? '')}\n\n` +
    `Management Commands:\n${listing(groups, (n) => GROUPS[n]?.short ?? '')}\n\n` +
    `Commands:\n${listing(others, (n) => TOP[n]?.short ?? '')}\n\n` +
    `Global Options:\n${formatFlagUsages(GLOBAL_FLAGS)}\n\n` +
    `Run 'berth COMMAND --help' for more information on a command.\n`
  );
}
