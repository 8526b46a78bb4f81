/** The PATH docker gives a Linux container whose image sets none. */
export const DEFAULT_PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * Docker's ReplaceOrAppendEnvValues: an override replaces the default with the same key in
 * place, a new key is appended, and a bare "KEY" (no '=') removes KEY.
 */
export function replaceOrAppendEnv(defaults: string[], overrides: string[]): string[] {
  const result = [...defaults];
  for (const entry of overrides) {
    const key = envKey(entry);
    const index = result.findIndex((existing) => envKey(existing) === key);
    if (!entry.includes('=')) {
      if (index !== -1) result.splice(index, 1);
      continue;
    }
    if (index === -1) result.push(entry);
    else result[index] = entry;
  }
  return result;
}

/**
 * The container process environment the way dockerd builds it: PATH, HOSTNAME and (with a tty)
 * TERM first, the configured env over them, then HOME from the passwd entry if still unset
 * (runc would otherwise fill it in itself; setting it here keeps the spec complete).
 */
export function containerEnv(options: { env: string[]; hostname: string; tty: boolean; home: string }): string[] {
  const defaults = [`PATH=${DEFAULT_PATH_ENV}`, `HOSTNAME=${options.hostname}`];
  if (options.tty) defaults.push('TERM=xterm');
  const env = replaceOrAppendEnv(defaults, options.env);
  if (!env.some((entry) => envKey(entry) === 'HOME')) env.push(`HOME=${options.home || '/'}`);
  return env;
}
