/**
 * GET /images/search against a registry's _catalog: the term is "registry[:port]/filter",
 * and repositories whose name contains the filter are listed. (Docker Hub's own search
 * service has descriptions and stars; a plain registry has only names.)
 */
import { invalidParameter, systemError } from '../util/errors.js';
import type { AuthConfig } from './auth.js';
import { endpointsFor, isEndpointFailure } from './endpoints.js';
import { readBody } from './http.js';
import { nextLink, RegistryClient } from './registry-client.js';
import type { DistributionConfig } from './types.js';

export interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

export async function search(config: DistributionConfig, term: string, limit: number, auth: AuthConfig): Promise<SearchResult[]> {
  const slash = term.indexOf('/');
  const first = slash < 0 ? term : term.slice(0, slash);
  if (!/[.:]/.test(first) && first !== 'localhost') {
    throw invalidParameter(`search needs a registry in the term ("HOST:PORT/filter"); berth searches a registry's catalog, not Docker Hub`);
  }
  const domain = first;
  const filter = slash < 0 ? '' : term.slice(slash + 1);
  let lastError: unknown;
  for (const endpoint of endpointsFor(domain, config).filter((e) => !e.mirror)) {
    // The catalog scope is registry-wide; the repository part of the client is unused.
    const client = new RegistryClient(endpoint, 'catalog', auth, [], ['registry:catalog:*']);
    try {
      const names: string[] = [];
      let next: string | undefined = '_catalog?n=1000';
      while (next && names.length < 100_000) {
        const res = await client.request('GET', next);
        const doc = JSON.parse((await readBody(res)).toString('utf8')) as { repositories?: string[] | null };
        names.push(...(doc.repositories ?? []));
        next = nextLink(res);
      }
      return names
        .filter((n) => n.includes(filter))
        .slice(0, limit)
        .map((n) => ({ name: `${domain}/${n}`, description: '', star_count: 0, is_official: false, is_automated: false }));
    } catch (err) {
      lastError = err;
      if (isEndpointFailure(err)) continue;
      throw err;
    }
  }
  throw systemError(`search ${domain}: ${(lastError as Error | undefined)?.message ?? 'no endpoint answered'}`);
}
