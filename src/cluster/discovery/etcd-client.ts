/**
 * One etcd v3 client for discovery and election, configured so an etcd that is down or a
 * member that died never hangs a call: each request has a deadline, a failing member is
 * skipped for a while (circuit breaker) and the request retried on another, and watches
 * reconnect with a capped back-off. Errors that leave here name the endpoints.
 */
import { Etcd3, isRecoverableError } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry, type IBackoff } from 'cockatiel';
import { BerthError, errorMessage, isBerthError } from '../../util/errors.js';
import { DEFAULT_BACKOFF, type BackoffOptions } from '../backoff.js';

export interface EtcdClientOptions {
  /** Deadline of one request, ms (default 5000). */
  callTimeoutMs?: number;
  /** Back-off of watch reconnection and of the retry loops built on this client. */
  backoff?: BackoffOptions;
}

export interface EtcdConnection {
  client: Etcd3;
  endpoints: string[];
  callTimeoutMs: number;
  /** A failure as a BerthError that says which etcd could not be reached, for users and logs. */
  describe(err: unknown, doing: string): BerthError;
}

export function connectEtcd(endpoints: string[], options: EtcdClientOptions = {}): EtcdConnection {
  const callTimeoutMs = options.callTimeoutMs ?? 5_000;
  const maxDelay = options.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs;
  const client = new Etcd3({
    hosts: endpoints.map((e) => `http://${e}`),
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // A dead member is skipped for a second after two failures in a row, then tried again.
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(2) }),
      // Each retry goes to another member, so one dead member costs one failed attempt.
      global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(2, endpoints.length) }),
      // etcd3 1.1 types this as an IBackoff but calls it as a factory (next() first), which
      // is what ExponentialBackoff is; its own default is the same object.
      watchBackoff: new ExponentialBackoff({ initialDelay: options.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs, maxDelay }) as unknown as IBackoff<unknown>,
    },
  });
  const list = endpoints.join(',');
  return {
    client,
    endpoints,
    callTimeoutMs,
    describe(err, doing) {
      if (isBerthError(err)) return err;
      // grpc's texts carry a status number and an often empty "Resolution note"; keep the cause.
      const text = errorMessage(err).replace(/\s*Resolution note:\s*$/, '').replace(/^\d+ [A-Z_]+: /, '');
      return new BerthError('unavailable', `etcd at ${list}: ${doing}: ${text}`, { cause: err });
    },
  };
}

/** Rejects after `ms` with a timeout error: for etcd3 calls on streams, which carry no deadline. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
