import type { ErrorKind } from '../util/errors.js';
import { isBerthError } from '../util/errors.js';

/** The one place error kinds become HTTP statuses. */
const STATUS_BY_KIND: Record<ErrorKind, number> = {
  invalidParameter: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  notModified: 304,
  unavailable: 503,
  notImplemented: 501,
  system: 500,
};

export function statusOf(err: unknown): number {
  return isBerthError(err) ? STATUS_BY_KIND[err.kind] : 500;
}
