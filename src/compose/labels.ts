/**
 * docker compose's object labels: how berth compose (and docker compose, and docker-compose 1.x)
 * find a project's containers, networks and volumes, and tell whether a container is current.
 */
import { createHash } from 'node:crypto';
import type { Service } from './model.js';

export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  configHash: 'com.docker.compose.config-hash',
  oneoff: 'com.docker.compose.oneoff',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  version: 'com.docker.compose.version',
  dependsOn: 'com.docker.compose.depends_on',
  image: 'com.docker.compose.image',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  replace: 'com.docker.compose.replace',
} as const;

/** The compose version berth's labels claim; docker-compose 1.x only reads it. */
export const COMPOSE_VERSION = '2.24.0';

/** JSON with sorted keys, so equal configs always hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * sha256 of the normalised service. The replica count is left out (scaling is not a change to
 * the containers that exist), and so are profiles (which only decide whether it runs).
 */
export function configHash(svc: Service): string {
  const { replicas: _replicas, profiles: _profiles, ...rest } = svc;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export function dependsOnLabel(svc: Service): string {
  return Object.entries(svc.depends_on).map(([n, d]) => `${n}:${d.condition}:${d.restart}`).join(',');
}

export function projectFilter(project: string, extra: string[] = []): Record<string, Record<string, boolean>> {
  return { label: Object.fromEntries([`${LABEL.project}=${project}`, ...extra].map((l) => [l, true])) };
}
