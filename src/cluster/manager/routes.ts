/**
 * The manager's Engine API: the endpoints classic swarm served. Cluster-wide reads are
 * aggregated from the healthy nodes; container calls are routed to the node that owns the
 * container (by ID, ID prefix, name or `node/name`); create goes through the scheduler; the rest
 * answers 501 naming what is not supported, never a daemon route of berthd's.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Router, type RequestContext } from '../../api/router.js';
import { readBody, readJsonObject, sendJson, sendText } from '../../api/io.js';
import type { ContainerCreateBody, ContainerSummary, ImageSummary } from '../../client/types.js';
import type { ClusterNode, PlacementRequest, StrategyName } from '../types.js';
import { BerthError, conflict, errorMessage, invalidParameter, notFound } from '../../util/errors.js';
import { clusterInfo, managerVersion, type ClusterSummary } from './info.js';
import type { ManagedNode, NodeRegistry } from './nodes.js';
import { forwardableHeaders, proxyHijack, proxyHttp } from './proxy.js';
import { answerError, exchange, openRequest, unreachable } from './upstream.js';

/** What the router needs from the scheduler: placement, and the create body without scheduling hints. */
export interface Placement {
  schedule: (nodes: ClusterNode[], request: PlacementRequest, strategy: StrategyName) => ClusterNode;
  stripHints: (body: ContainerCreateBody) => ContainerCreateBody;
}

export interface ManagerRoutesDeps {
  registry: NodeRegistry;
  placement: Placement;
  strategy: StrategyName;
  summary: () => ClusterSummary;
  log: (message: string) => void;
}

/** A hijacked request as the manager's server hands it over (Upgrade: tcp). */
export interface UpgradeContext {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  params: Record<string, string>;
  query: URLSearchParams;
  apiVersion: string;
}
export type UpgradeHandler = (ctx: UpgradeContext) => Promise<void>;

/** Container sub-resources routed to the owning node as they are. */
const CONTAINER_ACTIONS: Array<[string, string]> = [
  ['GET', 'top'], ['GET', 'logs'], ['GET', 'changes'], ['GET', 'export'], ['GET', 'stats'],
  ['POST', 'resize'], ['POST', 'start'], ['POST', 'stop'], ['POST', 'restart'], ['POST', 'kill'],
  ['POST', 'update'], ['POST', 'pause'], ['POST', 'unpause'], ['POST', 'wait'],
  ['GET', 'archive'], ['HEAD', 'archive'], ['PUT', 'archive'], ['POST', 'attach'],
];

function nodeJson(n: ManagedNode): Record<string, unknown> {
  const host = n.upstream.addr.kind === 'tcp' ? n.upstream.addr.host : '';
  return { ID: n.id, IP: host, Addr: n.addr, Name: n.name, Cpus: n.info?.NCPU ?? 0, Memory: n.info?.MemTotal ?? 0, Labels: n.entry.labels ?? {} };
}

function withQuery(path: string, query: URLSearchParams): string {
  const q = query.toString();
  return q ? `${path}?${q}` : path;
}

/** Splits "name[:tag]" / "name@digest" for a pull (fromImage + tag). */
function splitImage(image: string): { name: string; tag?: string } {
  if (image.includes('@')) return { name: image };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  return colon > slash ? { name: image.slice(0, colon), tag: image.slice(colon + 1) } : { name: image, tag: 'latest' };
}

/** Splits a response stream into lines; the last partial line is kept until more arrives. */
function onLines(stream: NodeJS.ReadableStream, each: (line: string) => void, done: () => void): void {
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    rest += chunk.toString('utf8');
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) each(line);
  });
  stream.on('end', () => {
    if (rest.trim()) each(rest);
    done();
  });
  stream.on('error', done);
}

export function managerRoutes(deps: ManagerRoutesDeps): { http: Router; upgrade: Record<'attach' | 'exec', UpgradeHandler> } {
  const { registry } = deps;
  const router = new Router();
  /** Which node made each exec instance: /exec/{id}/... has no container in its path. */
  const execNodes = new Map<string, ManagedNode>();
  let creating: Promise<unknown> = Promise.resolve();

  const healthy = (): ManagedNode[] => {
    const nodes = registry.healthyNodes();
    if (nodes.length === 0) throw new BerthError('unavailable', 'no healthy node in the cluster: check discovery and the engines (berth swarm list)');
    return nodes;
  };

  const ping = ({ res }: RequestContext): void => {
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    res.setHeader('Builder-Version', '1');
    sendText(res, 200, 'OK');
  };
  router.on('GET', '/_ping', ping);
  router.on('HEAD', '/_ping', ping);
  router.on('GET', '/version', ({ res }) => sendJson(res, 200, managerVersion()));
  router.on('GET', '/info', ({ res }) => sendJson(res, 200, clusterInfo(deps.summary())));

  // Containers: the list from every node, names as node/name.
  router.on('GET', '/containers/json', async ({ res, query }) => {
    const q = new URLSearchParams(query);
    const limit = Number(q.get('limit') ?? -1);
    q.delete('limit');
    const lists = await Promise.all(
      healthy().map(async (node) => {
        const answer = await exchange(node.upstream, 'GET', withQuery('/containers/json', q));
        if (answer.status !== 200) throw answerError(answer, node.upstream);
        const list = JSON.parse(answer.body.toString('utf8')) as ContainerSummary[];
        return list.map((c) => ({ ...c, Names: (c.Names ?? []).map((n) => `/${node.name}${n.startsWith('/') ? n : `/${n}`}`) }));
      }),
    );
    const all = lists.flat().sort((a, b) => (b.Created ?? 0) - (a.Created ?? 0));
    sendJson(res, 200, limit > 0 ? all.slice(0, limit) : all);
  });

  router.on('POST', '/containers/create', async ({ req, res, query }) => {
    const body = (await readJsonObject(req)) as unknown as ContainerCreateBody;
    const name = query.get('name') || undefined;
    if (name && !/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) {
      throw invalidParameter(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    // One placement at a time: each decision must see the containers the previous one added.
    const run = creating.then(() => createOn(body, name, query, req.headers['x-registry-auth']));
    creating = run.catch(() => undefined);
    const { status, answer } = await run;
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': answer.length });
    res.end(answer);
  });

  async function createOn(body: ContainerCreateBody, name: string | undefined, query: URLSearchParams, auth: string | string[] | undefined): Promise<{ status: number; answer: Buffer }> {
    if (name) {
      const bare = name.replace(/^\//, '');
      const taken = registry.findContainer(bare);
      if (taken && taken.container.facts.names.includes(bare)) {
        throw conflict(`Conflict. The container name "/${bare}" is already in use by container "${taken.container.summary.Id}" on node ${taken.node.name}. You have to remove (or rename) that container to be able to reuse that name.`);
      }
    }
    const nodes = registry.clusterNodes();
    if (nodes.length === 0) throw new BerthError('unavailable', 'no node in the cluster to place the container on: check discovery (berth swarm list)');
    const chosen = deps.placement.schedule(nodes, { name, body }, deps.strategy);
    const node = registry.nodes().find((n) => n.addr === chosen.addr);
    if (!node) throw new BerthError('system', `the scheduler chose ${chosen.name}, which the manager does not know`);
    const forwarded = Buffer.from(JSON.stringify(deps.placement.stripHints(body)));
    const path = withQuery('/containers/create', query);
    let answer = await exchange(node.upstream, 'POST', path, forwarded);
    if (answer.status === 404 && body.Image && /no such image/i.test(answer.body.toString('utf8'))) {
      // As classic swarm did: pull the image on the chosen node, then create again.
      deps.log(`pulling ${body.Image} on ${node.name} for a new container`);
      await pullOn(node, body.Image, auth);
      answer = await exchange(node.upstream, 'POST', path, forwarded);
    }
    if (answer.status === 201) {
      const { Id } = JSON.parse(answer.body.toString('utf8')) as { Id: string };
      const hc = body.HostConfig ?? {};
      const ports: ClusterNode['containers'][number]['publishedPorts'] = [];
      for (const [key, list] of Object.entries(((hc as Record<string, unknown>).PortBindings ?? {}) as Record<string, unknown>)) {
        for (const b of (list ?? []) as { HostIp?: string; HostPort?: string }[]) {
          const hostPort = Number(b.HostPort);
          if (hostPort > 0) ports.push({ hostIp: b.HostIp ?? '', hostPort, protocol: (key.split('/')[1] ?? 'tcp') as 'tcp' });
        }
      }
      registry.noteCreated(node, Id, name?.replace(/^\//, ''), {
        image: body.Image ?? '',
        imageId: '',
        labels: body.Labels ?? {},
        running: false,
        publishedPorts: ports,
        memory: hc.Memory ?? 0,
        cpus: hc.NanoCpus ? hc.NanoCpus / 1e9 : hc.CpuQuota ? hc.CpuQuota / (hc.CpuPeriod || 100_000) : 0,
      });
      deps.log(`created ${Id.slice(0, 12)}${name ? ` (${name})` : ''} on ${node.name}`);
      return { status: 201, answer: answer.body };
    }
    throw answerError(answer, node.upstream);
  }

  async function pullOn(node: ManagedNode, image: string, auth: string | string[] | undefined): Promise<void> {
    const { name, tag } = splitImage(image);
    const q = new URLSearchParams({ fromImage: name });
    if (tag) q.set('tag', tag);
    const answer = await exchange(node.upstream, 'POST', `/images/create?${q}`, undefined, auth ? { 'X-Registry-Auth': auth } : {}, 600_000);
    if (answer.status !== 200) throw new BerthError('notFound', `No such image: ${image} (pulling it on node ${node.name} failed: ${errorMessage(answerError(answer, node.upstream))})`);
    for (const line of answer.body.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const m = JSON.parse(line) as { error?: string };
        if (m.error) throw new BerthError('notFound', `No such image: ${image} (pulling it on node ${node.name} failed: ${m.error})`);
      } catch (err) {
        if (err instanceof BerthError) throw err;
      }
    }
  }

  router.on('POST', '/containers/prune', async ({ res, query }) => {
    const reports = await Promise.all(
      healthy().map(async (node) => {
        const answer = await exchange(node.upstream, 'POST', withQuery('/containers/prune', query));
        if (answer.status !== 200) throw answerError(answer, node.upstream);
        return JSON.parse(answer.body.toString('utf8')) as { ContainersDeleted?: string[] | null; SpaceReclaimed?: number };
      }),
    );
    void registry.refreshAll();
    sendJson(res, 200, {
      ContainersDeleted: reports.flatMap((r) => r.ContainersDeleted ?? []),
      SpaceReclaimed: reports.reduce((s, r) => s + (r.SpaceReclaimed ?? 0), 0),
    });
  });

  /** The node-local path for a container call: the reference becomes the container's full ID. */
  const localPath = (apiVersion: string, id: string, action: string | undefined, query: URLSearchParams): string =>
    withQuery(`/v${apiVersion}/containers/${id}${action ? `/${action}` : ''}`, query);

  router.on('GET', '/containers/{ref*}/json', async ({ res, params, query, apiVersion }) => {
    const { node, container } = await registry.locate(params.ref!);
    const answer = await exchange(node.upstream, 'GET', localPath(apiVersion, container.summary.Id, 'json', query));
    if (answer.status !== 200) throw answerError(answer, node.upstream);
    sendJson(res, 200, { ...(JSON.parse(answer.body.toString('utf8')) as object), Node: nodeJson(node) });
  });

  for (const [method, action] of CONTAINER_ACTIONS) {
    router.on(method, `/containers/{ref*}/${action}`, async ({ req, res, params, query, apiVersion }) => {
      const { node, container } = await registry.locate(params.ref!);
      await proxyHttp(node.upstream, req, res, {
        path: localPath(apiVersion, container.summary.Id, action, query),
        onStatus: (status) => {
          if (status < 300 && action !== 'logs' && action !== 'stats' && action !== 'top') void registry.refreshNode(node);
        },
      });
    });
  }

  router.on('POST', '/containers/{ref*}/rename', async ({ req, res, params, query, apiVersion }) => {
    const { node, container } = await registry.locate(params.ref!);
    const wanted = query.get('name') ?? '';
    const taken = wanted ? registry.findContainer(wanted) : undefined;
    if (taken && taken.container.summary.Id !== container.summary.Id && taken.container.facts.names.includes(wanted.replace(/^\//, ''))) {
      throw conflict(`Conflict. The container name "/${wanted.replace(/^\//, '')}" is already in use by container "${taken.container.summary.Id}" on node ${taken.node.name}.`);
    }
    await proxyHttp(node.upstream, req, res, { path: localPath(apiVersion, container.summary.Id, 'rename', query), onStatus: () => void registry.refreshNode(node) });
  });

  router.on('POST', '/containers/{ref*}/exec', async ({ req, res, params, query, apiVersion }) => {
    const { node, container } = await registry.locate(params.ref!);
    const body = await readBody(req);
    const answer = await exchange(node.upstream, 'POST', localPath(apiVersion, container.summary.Id, 'exec', query), body);
    if (answer.status === 201) {
      const { Id } = JSON.parse(answer.body.toString('utf8')) as { Id: string };
      execNodes.set(Id, node);
    }
    res.writeHead(answer.status, { 'Content-Type': String(answer.headers['content-type'] ?? 'application/json'), 'Content-Length': answer.body.length });
    res.end(answer.body);
  });

  router.on('DELETE', '/containers/{ref*}', async ({ req, res, params, query, apiVersion }) => {
    const { node, container } = await registry.locate(params.ref!);
    await proxyHttp(node.upstream, req, res, {
      path: localPath(apiVersion, container.summary.Id, undefined, query),
      onStatus: (status) => {
        if (status < 300) registry.noteRemoved(node, container.summary.Id);
      },
    });
  });

  /** The node of an exec instance: remembered at create, else asked of every node (another manager may have made it). */
  async function execNode(id: string): Promise<ManagedNode> {
    const known = execNodes.get(id);
    if (known) return known;
    for (const node of registry.healthyNodes()) {
      const answer = await exchange(node.upstream, 'GET', `/exec/${encodeURIComponent(id)}/json`).catch(() => undefined);
      if (answer?.status === 200) {
        execNodes.set(id, node);
        return node;
      }
    }
    throw notFound(`No such exec instance: ${id}`);
  }
  for (const [method, action] of [['GET', 'json'], ['POST', 'resize'], ['POST', 'start']] as const) {
    router.on(method, `/exec/{id}/${action}`, async ({ req, res, params }) => {
      const node = await execNode(params.id!);
      await proxyHttp(node.upstream, req, res);
    });
  }

  // Hijacked: attach and exec start splice the client's socket to the node's.
  const upgrade: Record<'attach' | 'exec', UpgradeHandler> = {
    attach: async ({ req, socket, head, params, query, apiVersion }) => {
      const { node, container } = await registry.locate(params.ref!);
      await proxyHijack(node.upstream, req, socket, head, localPath(apiVersion, container.summary.Id, 'attach', query));
    },
    exec: async ({ req, socket, head, params }) => {
      const node = await execNode(params.id!);
      await proxyHijack(node.upstream, req, socket, head);
    },
  };

  // Images: the union over the nodes.
  router.on('GET', '/images/json', async ({ res, query }) => {
    const lists = await Promise.all(
      healthy().map(async (node) => {
        const answer = await exchange(node.upstream, 'GET', withQuery('/images/json', query));
        if (answer.status !== 200) throw answerError(answer, node.upstream);
        return JSON.parse(answer.body.toString('utf8')) as ImageSummary[];
      }),
    );
    const byId = new Map<string, ImageSummary>();
    for (const image of lists.flat()) {
      const seen = byId.get(image.Id);
      if (!seen) byId.set(image.Id, { ...image });
      else seen.RepoTags = [...new Set([...(seen.RepoTags ?? []), ...(image.RepoTags ?? [])])];
    }
    sendJson(res, 200, [...byId.values()].sort((a, b) => b.Created - a.Created));
  });

  // Pull (and import) on every node; progress lines carry the node's name.
  router.on('POST', '/images/create', async ({ req, res, query }) => {
    const nodes = healthy();
    const headers = forwardableHeaders(req.headers);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const importing = query.has('fromSrc');
    await Promise.all(
      nodes.map(
        (node) =>
          new Promise<void>((resolve) => {
            const upstream = openRequest(node.upstream, 'POST', withQuery('/images/create', query), headers);
            const fail = (err: unknown): void => {
              res.write(`${JSON.stringify({ error: `${node.name}: ${errorMessage(unreachable(node.upstream, err))}`, errorDetail: { message: `${node.name}: ${errorMessage(err)}` } })}\n`);
              resolve();
            };
            upstream.on('error', fail);
            upstream.on('response', (answer) => {
              onLines(
                answer,
                (line) => {
                  let m: Record<string, unknown>;
                  try {
                    m = JSON.parse(line) as Record<string, unknown>;
                  } catch {
                    m = { error: line };
                  }
                  if (answer.statusCode !== 200 && typeof m.message === 'string') m = { error: m.message, errorDetail: { message: m.message } };
                  if (typeof m.status === 'string') m.status = `${node.name}: ${m.status}`;
                  if (typeof m.id === 'string') m.id = `${node.name}/${m.id}`;
                  if (typeof m.error === 'string') {
                    m.error = `${node.name}: ${m.error}`;
                    m.errorDetail = { message: m.error };
                  }
                  res.write(`${JSON.stringify(m)}\n`);
                },
                () => {
                  void registry.refreshNode(node);
                  resolve();
                },
              );
            });
            if (importing) req.pipe(upstream);
            else upstream.end();
          }),
      ),
    );
    res.end();
  });

  router.on('GET', '/images/{name*}/json', async ({ res, params }) => {
    for (const node of healthy()) {
      const answer = await exchange(node.upstream, 'GET', `/images/${encodeURIComponent(params.name!)}/json`);
      if (answer.status === 200) {
        sendJson(res, 200, JSON.parse(answer.body.toString('utf8')));
        return;
      }
    }
    throw notFound(`No such image: ${params.name}`);
  });

  router.on('GET', '/images/{name*}/history', async ({ req, res, params }) => {
    for (const node of healthy()) {
      const answer = await exchange(node.upstream, 'GET', `/images/${encodeURIComponent(params.name!)}/json`);
      if (answer.status === 200) {
        await proxyHttp(node.upstream, req, res);
        return;
      }
    }
    throw notFound(`No such image: ${params.name}`);
  });

  /** Tag and remove act on every node that has the image; no node having it is a 404. */
  const onEveryHolder = (method: 'POST' | 'DELETE', suffix: string) => async ({ res, params, query, apiVersion }: RequestContext): Promise<void> => {
    const results: unknown[] = [];
    let holders = 0;
    for (const node of healthy()) {
      const answer = await exchange(node.upstream, method, withQuery(`/v${apiVersion}/images/${encodeURIComponent(params.name!)}${suffix}`, query));
      if (answer.status === 404) continue;
      holders++;
      if (answer.status >= 300) throw answerError(answer, node.upstream);
      const text = answer.body.toString('utf8').trim();
      if (text) results.push(...[JSON.parse(text) as unknown].flat());
      void registry.refreshNode(node);
    }
    if (holders === 0) throw notFound(`No such image: ${params.name}`);
    if (method === 'DELETE') sendJson(res, 200, results);
    else {
      res.writeHead(201);
      res.end();
    }
  };
  router.on('POST', '/images/{name*}/tag', onEveryHolder('POST', '/tag'));
  router.on('DELETE', '/images/{name*}', onEveryHolder('DELETE', ''));

  // Events: every node's stream, each event saying which node it came from.
  router.on('GET', '/events', ({ req, res, query }) => {
    const nodes = healthy();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    let open = nodes.length;
    const streams = nodes.map((node) => {
      const upstream = openRequest(node.upstream, 'GET', withQuery('/events', query));
      const finish = (): void => {
        if (--open === 0) res.end();
      };
      upstream.on('error', finish);
      upstream.on('response', (answer) => {
        if (answer.statusCode !== 200) {
          answer.resume();
          finish();
          return;
        }
        onLines(
          answer,
          (line) => {
            try {
              const e = JSON.parse(line) as Record<string, unknown> & { Actor?: { Attributes?: Record<string, string> } };
              e.node = nodeJson(node);
              if (e.Actor) e.Actor.Attributes = { ...(e.Actor.Attributes ?? {}), 'node.name': node.name, 'node.id': node.id, 'node.addr': node.addr };
              res.write(`${JSON.stringify(e)}\n`);
            } catch {
              res.write(`${line}\n`);
            }
          },
          finish,
        );
      });
      upstream.end();
      return upstream;
    });
    req.on('close', () => {
      for (const s of streams) s.destroy();
    });
  });

  return { http: router, upgrade };
}

/** The upgrade handler for a hijacked path and its parameters. */
export function matchUpgrade(path: string): { kind: 'attach' | 'exec'; params: Record<string, string> } | undefined {
  const exec = /^\/exec\/([^/]+)\/start$/.exec(path);
  if (exec) return { kind: 'exec', params: { id: decodeURIComponent(exec[1]!) } };
  const attach = /^\/containers\/(.+)\/attach$/.exec(path);
  if (attach) return { kind: 'attach', params: { ref: decodeURIComponent(attach[1]!) } };
  return undefined;
}
