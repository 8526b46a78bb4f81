import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** What a route handler receives: parsed path params, the query and the raw request. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Negotiated API version from the /v1.xx prefix, or the server's default. */
  apiVersion: string;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

/** A hijacked connection: the handler owns the raw socket after the request head. */
export interface HijackContext extends Omit<RequestContext, 'res'> {
  socket: Duplex;
  head: Buffer;
  /** True when the client asked for `Upgrade: tcp` (docker CLI does); the 101 answer differs. */
  upgrade: boolean;
}
export type HijackHandler = (ctx: HijackContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  handler?: Handler;
  hijack?: HijackHandler;
}

/**
 * Path patterns use `{name}` segments as in the Engine API reference; `{name*}` matches the
 * rest of the path including slashes (image names contain them: /images/a/b:1/json).
 */
function compile(path: string): { pattern: RegExp; keys: string[] } {
  const keys: string[] = [];
  const source = path.replace(/[.+?^$()[\]|\\]/g, '\\$&').replace(/\{(\w+)(\*?)\}/g, (_m, key: string, star: string) => {
    keys.push(key);
    return star ? '(.+)' : '([^/]+)';
  });
  return { pattern: new RegExp(`^${source}$`), keys };
}

export class Router {
  private readonly routes: Route[] = [];

  on(method: string, path: string, handler: Handler): this {
    this.routes.push({ method, ...compile(path), handler });
    return this;
  }

  /** Registers a route that takes over the connection (attach, exec start). */
  onHijack(method: string, path: string, hijack: HijackHandler): this {
    this.routes.push({ method, ...compile(path), hijack });
    return this;
  }

  /** Finds the route for a method and path; `allowed` lists methods that would match the path. */
  match(method: string, path: string): { route?: Route; params: Record<string, string>; pathKnown: boolean } {
    let pathKnown = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathKnown = true;
      const wanted = method === 'HEAD' && route.method === 'GET' ? 'GET' : method;
      if (route.method !== wanted && !(route.method === 'HEAD' && method === 'HEAD')) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((key, i) => {
        params[key] = decodeURIComponent(m[i + 1]!);
      });
      return { route, params, pathKnown };
    }
    return { params: {}, pathKnown };
  }
}
