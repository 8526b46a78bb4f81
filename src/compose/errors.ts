/**
 * A compose file problem the user can fix. The message always leads with where it is — the
 * file, then the dotted key path (services.web.ports[0]) — so one line tells what to edit.
 */
export interface ErrorPlace {
  file?: string;
  /** Dotted path from the document root, e.g. "services.web.environment". */
  key?: string;
}

export class ComposeError extends Error {
  readonly file?: string;
  readonly key?: string;
  constructor(message: string, place: ErrorPlace = {}) {
    const where = [place.file, place.key].filter(Boolean).join(': ');
    super(where ? `${where}: ${message}` : message);
    this.name = 'ComposeError';
    this.file = place.file;
    this.key = place.key;
  }
}

/** "services.web.ports" -> the service name ("web"), when the path is inside a service. */
export function serviceOfKey(key: string): string | undefined {
  const m = /^services\.([^.[]+)/.exec(key);
  return m?.[1];
}
