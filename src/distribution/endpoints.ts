/**
 * Where a repository's registry answers. Docker Hub names (docker.io) go to the configured
 * mirrors first, then to registry-1.docker.io. Everything is https, except registries listed
 * in insecure-registries (https without certificate checks, then plain http) and loopback
 * hosts, which docker also treats as insecure.
 */
import { isIP } from 'node:net';
import type { Endpoint } from './registry-client.js';

export const DOCKER_HUB_DOMAIN = 'docker.io';
const DOCKER_HUB_API = 'https://registry-1.docker.io';
/** The server address docker stores Hub credentials under. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export interface EndpointConfig {
  insecureRegistries: string[];
  registryMirrors: string[];
}

function hostOf(domain: string): string {
  const m = /^\[([^\]]+)\]|^([^:]+)/.exec(domain);
  return (m?.[1] ?? m?.[2] ?? domain).toLowerCase();
}

function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsRaw] = cidr.split('/');
  if (!net || bitsRaw === undefined || isIP(ip) !== 4 || isIP(net) !== 4) return false;
  const bits = Number(bitsRaw);
  const toInt = (a: string): number => a.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(net) & mask);
}

export function isInsecure(domain: string, config: EndpointConfig): boolean {
  const host = hostOf(domain);
  if (host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))) return true;
  return config.insecureRegistries.some((entry) => {
    const e = entry.replace(/^https?:\/\//, '').replace(/\/$/, '');
    return e === domain || e === host || (e.includes('/') && inCidr(host, e));
  });
}

/** Endpoints to try, in order. */
export function endpointsFor(domain: string, config: EndpointConfig): Endpoint[] {
  const out: Endpoint[] = [];
  if (domain === DOCKER_HUB_DOMAIN) {
    for (const mirror of config.registryMirrors) {
      const url = new URL(mirror);
      const insecure = url.protocol === 'http:' || isInsecure(url.host, config);
      out.push({ base: `${url.protocol}//${url.host}`, insecure, mirror: true });
    }
    out.push({ base: DOCKER_HUB_API, insecure: false, mirror: false });
    return out;
  }
  if (isInsecure(domain, config)) {
    const host = hostOf(domain);
    // Loopback registries are almost always plain http: ask there first to skip a TLS round trip.
    const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
    const tls: Endpoint = { base: `https://${domain}`, insecure: true, mirror: false };
    const plain: Endpoint = { base: `http://${domain}`, insecure: true, mirror: false };
    return loopback ? [plain, tls] : [tls, plain];
  }
  return [{ base: `https://${domain}`, insecure: false, mirror: false }];
}

/** True for errors that mean "this endpoint does not speak to us", so the next may be tried. */
export function isEndpointFailure(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return /^(ECONNREFUSED|ECONNRESET|EPROTO|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|ERR_SSL_.*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|ERR_TLS_CERT_ALTNAME_INVALID|HPE_INVALID_CONSTANT)$/.test(code)
    || /wrong version number|packet length too long|socket hang up/i.test((err as Error | undefined)?.message ?? '');
}

/** The key credentials are stored and looked up under (docker's: the Hub's v1 URL, else host[:port]). */
export function authKeyFor(domain: string): string {
  return domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_AUTH_KEY : domain;
}

/** "https://host:5000/" or "host:5000" (what login receives) -> the registry domain. */
export function domainOfServerAddress(address: string): string {
  if (!address) return DOCKER_HUB_DOMAIN;
  const trimmed = address.trim();
  const withScheme = /^[a-z]+:\/\//i.test(trimmed) ? trimmed : `dummy://${trimmed}`;
  const host = new URL(withScheme).host;
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io') return DOCKER_HUB_DOMAIN;
  return host;
}
