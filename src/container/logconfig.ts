/**
 * HostConfig.LogConfig: which logging driver keeps a container's output. berth's monitor writes
 * one on-disk log format (see logs.ts) and reads it back for `logs`, so the drivers that store
 * output locally (json-file, local) share it, and `none` keeps nothing. Anything else (syslog,
 * fluentd, ...) would ship output elsewhere, which berth doesn't do: refused at create like
 * dockerd refuses a driver it has no plugin for.
 */
import { invalidParameter } from '../util/errors.js';

export type LogDriver = 'json-file' | 'local' | 'none';

export interface LogConfig {
  Type: LogDriver;
  Config: Record<string, string>;
}

/** dockerd's default logging driver (daemon.json "log-driver"). */
export const DEFAULT_LOG_DRIVER: LogDriver = 'json-file';

/** The options each driver's validator accepts in dockerd (unknown ones are refused). */
const KNOWN_OPTS: Record<Exclude<LogDriver, 'none'>, readonly string[]> = {
  'json-file': ['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag'],
  local: ['max-file', 'max-size', 'compress'],
};

/**
 * Reads LogConfig from a create body: an empty or absent Type takes the daemon's default (and its
 * options), as dockerd fills it in at create so inspect never shows an empty driver.
 */
export function parseLogConfig(raw: unknown, defaults: LogConfig = { Type: DEFAULT_LOG_DRIVER, Config: {} }): LogConfig {
  if (raw === undefined || raw === null) return { Type: defaults.Type, Config: { ...defaults.Config } };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalidParameter('json: cannot unmarshal into Go struct field HostConfig.LogConfig of type container.LogConfig');
  }
  const { Type, Config } = raw as Record<string, unknown>;
  if (Type !== undefined && Type !== null && typeof Type !== 'string') {
    throw invalidParameter('json: cannot unmarshal into Go struct field LogConfig.HostConfig.LogConfig.Type of type string');
  }
  if (Config !== undefined && Config !== null && (typeof Config !== 'object' || Array.isArray(Config) || Object.values(Config).some((v) => typeof v !== 'string'))) {
    throw invalidParameter('json: cannot unmarshal into Go struct field LogConfig.HostConfig.LogConfig.Config of type map[string]string');
  }
  const options = { ...((Config as Record<string, string> | null | undefined) ?? {}) };
  if (!Type) {
    const merged = { ...defaults.Config, ...options };
    return { Type: validateLogDriver(defaults.Type, merged), Config: merged };
  }
  return { Type: validateLogDriver(Type, options), Config: options };
}

/** dockerd's logger.ValidateLogOpts: same messages. */
export function validateLogDriver(type: string, options: Record<string, string>): LogDriver {
  if (type === 'none') return 'none';
  if (type !== 'json-file' && type !== 'local') throw invalidParameter(`logger: no log driver named '${type}' is registered`);
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTS[type].includes(key)) throw invalidParameter(`unknown log opt '${key}' for ${type} log driver`);
  }
  return type;
}

/** A record's driver; records made before LogConfig was kept used the default. */
export function logDriverOf(hostConfig: Record<string, unknown>): LogDriver {
  const config = hostConfig.LogConfig as Partial<LogConfig> | null | undefined;
  return config?.Type || DEFAULT_LOG_DRIVER;
}

/** For inspect: docker always shows the driver and its options. */
export function logConfigView(hostConfig: Record<string, unknown>): LogConfig {
  const config = hostConfig.LogConfig as Partial<LogConfig> | null | undefined;
  return { Type: logDriverOf(hostConfig), Config: config?.Config ?? {} };
}
