/**
 * HostConfig.SecurityOpt as dockerd reads it: "no-new-privileges[=|:true|false]",
 * "seccomp=unconfined", "seccomp=<profile JSON>" (the CLI sends a profile file's content),
 * and apparmor/label options, which are accepted and have no effect on a host without them.
 */
import { invalidParameter } from '../util/errors.js';
import { parseProfile, type DockerSeccompProfile } from '../runtime/seccomp.js';

export interface SecurityOptions {
  noNewPrivileges: boolean;
  seccomp: 'default' | 'unconfined' | DockerSeccompProfile;
}

export function parseSecurityOpts(opts: readonly string[]): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: 'default' };
  for (const opt of opts) {
    if (opt === 'no-new-privileges') {
      out.noNewPrivileges = true;
      continue;
    }
    // docker accepts both separators ("label:disable" is the old form).
    const match = /^([^=:]+)[=:]([\s\S]*)$/.exec(opt);
    if (!match) throw invalidParameter(`invalid --security-opt 1: ${JSON.stringify(opt)}`);
    const [, key, value] = match as unknown as [string, string, string];
    switch (key) {
      case 'no-new-privileges':
        if (value !== 'true' && value !== 'false') throw invalidParameter(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
        out.noNewPrivileges = value === 'true';
        break;
      case 'seccomp':
        out.seccomp = value === 'unconfined' ? 'unconfined' : value === 'builtin' || value === '' ? 'default' : parseProfile(value);
        break;
      case 'apparmor':
      case 'label':
      case 'systempaths':
        break;
      default:
        throw invalidParameter(`invalid --security-opt 2: ${JSON.stringify(opt)}`);
    }
  }
  return out;
}
