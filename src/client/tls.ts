/**
 * Client TLS the way the docker CLI settles it: --tlsverify (or DOCKER_TLS_VERIFY) implies --tls;
 * the files come from --tlscacert/--tlscert/--tlskey, else from the cert directory
 * (DOCKER_CERT_PATH, default ~/.docker) as ca.pem, cert.pem and key.pem. BERTH_TLS_VERIFY and
 * BERTH_CERT_PATH win over the DOCKER_ names so berth and docker can point at different daemons.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseHost, type ClientTls, type DaemonAddress } from './host.js';

export interface ClientTlsFlags {
  tls?: boolean;
  tlsVerify?: boolean;
  tlsCaCert?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** The directory holding ca.pem, cert.pem and key.pem when no flag names the files. */
export function defaultCertDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BERTH_CERT_PATH || env.DOCKER_CERT_PATH || join(homedir(), '.docker');
}

function tlsVerifyFromEnv(env: NodeJS.ProcessEnv): boolean {
  const value = env.BERTH_TLS_VERIFY ?? env.DOCKER_TLS_VERIFY;
  // docker treats any non-empty value as on; "0" and "false" are kinder to read as off.
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

function readPem(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`could not read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** TLS material from a docker-style cert directory (ca.pem, cert.pem, key.pem): all three must exist. */
export function tlsFromCertDir(certDir: string, verify = true): ClientTls {
  return {
    ca: readPem('CA certificate', join(certDir, 'ca.pem')),
    cert: readPem('certificate', join(certDir, 'cert.pem')),
    key: readPem('key', join(certDir, 'key.pem')),
    verify,
  };
}

/**
 * A TCP address that talks TLS with the files of `certDir`: what cluster code uses to dial a
 * machine's berthd ("tcp://192.168.99.2:2376" or "192.168.99.2:2376") with the machine store's
 * client cert.
 */
export function tlsAddress(host: string, certDir: string, verify = true): DaemonAddress {
  const addr = parseHost(host.includes('://') ? host : `tcp://${host}`);
  if (addr.kind !== 'tcp') throw new Error(`invalid host: ${host}: TLS needs a tcp:// address`);
  return { ...addr, tls: tlsFromCertDir(certDir, verify) };
}

/**
 * The address the CLI dials: `host` as given, with TLS when the flags or the environment ask
 * for it. A unix socket never uses TLS. Files named by flags must exist; the default client
 * cert and key are optional when only --tls (no verify) is asked for, as with docker.
 */
export function resolveClientAddress(host: string, flags: ClientTlsFlags, env: NodeJS.ProcessEnv = process.env): DaemonAddress {
  const addr = parseHost(host);
  const verify = flags.tlsVerify ?? tlsVerifyFromEnv(env);
  const useTls = verify || flags.tls === true || host.startsWith('https://');
  if (addr.kind !== 'tcp' || !useTls) return addr;
  const dir = defaultCertDir(env);
  const optional = (flag: string | undefined, file: string): Buffer | undefined => {
    if (flag) return readPem(file, flag);
    const path = join(dir, file);
    return existsSync(path) ? readPem(file, path) : undefined;
  };
  const tls: ClientTls = { verify, cert: optional(flags.tlsCert, 'cert.pem'), key: optional(flags.tlsKey, 'key.pem') };
  if (verify) tls.ca = flags.tlsCaCert ? readPem('CA certificate', flags.tlsCaCert) : readPem('CA certificate', join(dir, 'ca.pem'));
  return { ...addr, tls };
}
