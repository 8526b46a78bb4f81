/** An Engine API call answered with a non-2xx status; `message` is the body's "message". */
export class ClientError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.name = 'ClientError';
    this.statusCode = statusCode;
  }
}

/** The daemon could not be reached at all (socket missing, connection refused). */
export class DaemonUnreachableError extends Error {
  readonly host: string;
  constructor(host: string, options?: { cause?: unknown }) {
    super(`Cannot connect to the Berth daemon at ${host}. Is the berth daemon running?`, options);
    this.name = 'DaemonUnreachableError';
    this.host = host;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ClientError && err.statusCode === 404;
}
