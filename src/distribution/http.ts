/**
 * One HTTP exchange with a registry over node's http/https, with keep-alive agents so a pull's
 * many small requests reuse connections. Responses come back with their body unread.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16 });
/** For insecure registries: https without certificate checks, as docker's insecure-registries does. */
const insecureAgent = new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false });

/**
 * docker's per-registry TLS files: CERTS_DIR/HOST:PORT/*.crt are extra CAs (on top of the
 * system's), a *.cert with its *.key a client certificate. The directory is
 * /etc/docker/certs.d as for dockerd; BERTH_REGISTRY_CERTS_DIR moves it (tests, rootless).
 */
export function registryCertsDir(): string {
  return process.env.BERTH_REGISTRY_CERTS_DIR || '/etc/docker/certs.d';
}

const hostAgents = new Map<string, { stamp: number; agent: https.Agent }>();

/** The agent for a verified https host: its certs.d files when present, else the default one. */
function httpsAgentFor(host: string): https.Agent {
  const dir = join(registryCertsDir(), host);
  let stamp: number;
  try {
    stamp = statSync(dir).mtimeMs;
  } catch {
    return httpsAgent;
  }
  const cached = hostAgents.get(host);
  if (cached && cached.stamp === stamp) return cached.agent;
  const files = readdirSync(dir).sort();
  const cas = files.filter((f) => f.endsWith('.crt')).map((f) => readFileSync(join(dir, f), 'utf8'));
  const certFile = files.find((f) => f.endsWith('.cert') && files.includes(`${f.slice(0, -5)}.key`));
  const agent = new https.Agent({
    keepAlive: true,
    maxSockets: 16,
    ...(cas.length > 0 ? { ca: [...rootCertificates, ...cas] } : {}),
    ...(certFile ? { cert: readFileSync(join(dir, certFile)), key: readFileSync(join(dir, `${certFile.slice(0, -5)}.key`)) } : {}),
  });
  cached?.agent.destroy();
  hostAgents.set(host, { stamp, agent });
  return agent;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string | Readable;
  insecure?: boolean;
  /** Milliseconds without a response head before giving up. */
  timeoutMs?: number;
}

export function httpRequest(opts: HttpRequest): Promise<IncomingMessage> {
  const url = new URL(opts.url);
  const isHttps = url.protocol === 'https:';
  const mod = isHttps ? https : http;
  const agent = isHttps ? (opts.insecure ? insecureAgent : httpsAgentFor(url.host)) : httpAgent;
  const headers: OutgoingHttpHeaders = { 'User-Agent': 'berth/0.1 (linux)', ...opts.headers };
  if (typeof opts.body === 'string' || Buffer.isBuffer(opts.body)) headers['Content-Length'] = Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: opts.method, headers, agent }, (res) => {
      req.setTimeout(0);
      resolve(res);
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error(`${opts.method} ${opts.url}: no answer in ${(opts.timeoutMs ?? 60_000) / 1000}s`)));
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

export async function readBody(res: IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.destroy();
      throw new Error(`response from ${res.url ?? 'registry'} larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
