/**
 * Exec endpoints, plus the container's attach and resize: everything that carries a terminal
 * or stdin. Hijacked endpoints check what they can first, so a bad request still gets a plain
 * HTTP error, and only then answer 101 and hand the socket to the stream.
 */
import type { Router } from '../router.js';
import type { Daemon } from '../../daemon/daemon.js';
import { readJsonObject, sendJson, sendNoContent, queryBool } from '../io.js';
import { answerHijack, hijackError, readHijackJson } from '../hijack-io.js';
import { conflict, invalidParameter, systemError, errorMessage } from '../../util/errors.js';
import { parseDetachKeys } from '../../container/attach.js';
import { isActive } from '../../container/model.js';
import type { InteractiveServices } from '../../container/interactive.js';
import { resizeTerminal } from '../../runtime/exec.js';

/** h and w as dockerd parses them: integers, else 400 with strconv's words. */
function terminalSize(query: URLSearchParams): { height: number; width: number } {
  const parse = (key: string): number => {
    const raw = query.get(key) ?? '';
    const n = Number(raw);
    if (raw === '' || !Number.isInteger(n)) throw invalidParameter(`strconv.Atoi: parsing ${JSON.stringify(raw)}: invalid syntax`);
    if (n < 0) throw invalidParameter(`invalid terminal size: ${key}=${raw}`);
    return n;
  };
  return { height: parse('h'), width: parse('w') };
}

export function interactiveRoutes(router: Router, daemon: Daemon): void {
  const services = (): InteractiveServices => {
    if (!daemon.interactive) throw systemError('attach and exec are not wired in this daemon');
    return daemon.interactive;
  };
  const containers = daemon.containers;

  router.onHijack('POST', '/containers/{id}/attach', async (ctx) => {
    const { socket, params, query, upgrade } = ctx;
    let record;
    let detachKeys: Buffer;
    try {
      record = containers.store.get(params.id!);
      detachKeys = parseDetachKeys(query.get('detachKeys'));
      if (record.state.status === 'paused') throw conflict(`You cannot attach to a paused container, unpause it first`);
      services();
    } catch (err) {
      hijackError(socket, err);
      return;
    }
    answerHijack(socket, upgrade, record.config.Tty === true);
    if (ctx.head.length) socket.unshift(ctx.head);
    await services().attach.attach(record, socket, {
      stdin: queryBool(query, 'stdin'),
      stdout: queryBool(query, 'stdout'),
      stderr: queryBool(query, 'stderr'),
      stream: queryBool(query, 'stream'),
      logs: queryBool(query, 'logs'),
      detachKeys,
    });
  });

  router.on('POST', '/containers/{id}/resize', async ({ res, params, query }) => {
    const record = containers.store.get(params.id!);
    const { height, width } = terminalSize(query);
    if (!isActive(record.state.status)) throw conflict(`Container ${record.id} is not running`);
    // Like containerd, a container without a TTY takes the resize and ignores it.
    if (record.config.Tty === true) {
      const fifo = await services().controlFifo(record.id);
      if (!fifo) throw conflict(`Container ${record.id} is not running`);
      await resizeTerminal(fifo, height, width).catch((err: unknown) => {
        throw systemError(`cannot resize the terminal of ${record.id}: ${errorMessage(err)}`);
      });
    }
    sendNoContent(res, 200);
  });

  router.on('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    const body = await readJsonObject(req);
    sendJson(res, 201, services().execs.create(params.id!, body));
  });

  router.onHijack('POST', '/exec/{id}/start', async (ctx) => {
    const { socket, params, upgrade } = ctx;
    const execs = services().execs;
    let body: Record<string, unknown>;
    let tty: boolean;
    try {
      body = await readHijackJson(ctx);
      const instance = execs.checkStartable(params.id!);
      tty = typeof body.Tty === 'boolean' ? body.Tty : instance.config.Tty;
      if (body.Detach === true) {
        await execs.start(params.id!, undefined, { tty });
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n');
        return;
      }
    } catch (err) {
      hijackError(socket, err);
      return;
    }
    answerHijack(socket, upgrade, tty);
    const size = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? (body.ConsoleSize as [number, number]) : undefined;
    try {
      await execs.start(params.id!, socket, { tty, consoleSize: size });
    } catch (err) {
      // After the 101 the only way to report is the stream itself, as dockerd does.
      if (!socket.destroyed) socket.end(`${errorMessage(err)}\r\n`);
    }
  });

  router.on('POST', '/exec/{id}/resize', async ({ res, params, query }) => {
    const { height, width } = terminalSize(query);
    await services().execs.resize(params.id!, height, width);
    sendNoContent(res, 200);
  });

  router.on('GET', '/exec/{id}/json', ({ res, params }) => {
    sendJson(res, 200, services().execs.inspect(params.id!));
  });
}
