/**
 * Errors carry a kind, and the API layer maps each kind to an HTTP status in one place
 * (moby's errdefs idea). Everything below the API throws these instead of picking codes.
 */
export type ErrorKind =
  | 'invalidParameter' // 400
  | 'unauthorized' // 401
  | 'forbidden' // 403
  | 'notFound' // 404
  | 'conflict' // 409
  | 'notModified' // 304
  | 'unavailable' // 503
  | 'notImplemented' // 501
  | 'system'; // 500

export class BerthError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'BerthError';
  }
}

export const invalidParameter = (message: string): BerthError => new BerthError('invalidParameter', message);
export const notFound = (message: string): BerthError => new BerthError('notFound', message);
export const conflict = (message: string): BerthError => new BerthError('conflict', message);
export const forbidden = (message: string): BerthError => new BerthError('forbidden', message);
export const systemError = (message: string, cause?: unknown): BerthError => new BerthError('system', message, { cause });
export const notImplemented = (message: string): BerthError => new BerthError('notImplemented', message);

export function isBerthError(err: unknown, kind?: ErrorKind): err is BerthError {
  return err instanceof BerthError && (kind === undefined || err.kind === kind);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True for a Node fs error with the given code (ENOENT, EEXIST, ...). */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
