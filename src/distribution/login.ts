/**
 * POST /auth: checks credentials against a registry the way docker login does. Basic-auth
 * registries get the password on GET /v2/; token registries get a token request with
 * offline access, and the refresh token they return becomes the IdentityToken.
 */
import { BerthError, systemError } from '../util/errors.js';
import { basicHeader, parseChallenge, type AuthConfig } from './auth.js';
import { domainOfServerAddress, endpointsFor, isEndpointFailure } from './endpoints.js';
import { httpRequest, readBody } from './http.js';
import { fetchToken, RegistryResponseError } from './registry-client.js';
import type { DistributionConfig } from './types.js';

export interface LoginResult {
  Status: string;
  IdentityToken: string;
}

export async function login(config: DistributionConfig, auth: AuthConfig): Promise<LoginResult> {
  const domain = domainOfServerAddress(auth.serveraddress ?? '');
  const endpoints = endpointsFor(domain, config).filter((e) => !e.mirror);
  let lastError: unknown;
  for (const endpoint of endpoints) {
    const url = `${endpoint.base}/v2/`;
    try {
      const first = await httpRequest({ method: 'GET', url, insecure: endpoint.insecure, timeoutMs: 15_000 });
      await readBody(first);
      if (first.statusCode === 200) return { Status: 'Login Succeeded', IdentityToken: '' };
      if (first.statusCode !== 401) throw systemError(`login attempt to ${url} failed with status: ${first.statusCode} ${first.statusMessage ?? ''}`);
      const challenge = parseChallenge(first.headers['www-authenticate'] as string | undefined);
      let authorization: string | undefined;
      let identityToken = '';
      if (challenge?.scheme === 'bearer') {
        try {
          const got = await fetchToken(challenge, auth, [], endpoint.insecure, true);
          authorization = `Bearer ${got.token}`;
          identityToken = got.refreshToken ?? '';
        } catch (err) {
          if (err instanceof RegistryResponseError && (err.status === 401 || err.status === 403)) {
            throw new BerthError('unauthorized', `Get "${url}": unauthorized: incorrect username or password`);
          }
          throw err;
        }
      } else {
        authorization = basicHeader(auth);
      }
      const second = await httpRequest({ method: 'GET', url, headers: authorization ? { Authorization: authorization } : {}, insecure: endpoint.insecure, timeoutMs: 15_000 });
      await readBody(second);
      if (second.statusCode === 200) return { Status: 'Login Succeeded', IdentityToken: identityToken };
      throw new BerthError('unauthorized', `login attempt to ${url} failed with status: ${second.statusCode} ${second.statusMessage ?? ''}`);
    } catch (err) {
      lastError = err;
      if (isEndpointFailure(err)) continue;
      throw err;
    }
  }
  throw systemError(`Get "${endpoints.at(-1)?.base}/v2/": ${(lastError as Error | undefined)?.message ?? 'no endpoint answered'}`);
}
