import { chmod, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Subscription } from 'rxjs';
import { errnoOf, RuntimeError, wrapSyscall } from '../errors.js';
import type { EventLog } from './eventLog.js';
import { isPlainObject } from './codec.js';
import { lineSplitter, OPS, PROTOCOL_VERSION, socketPathError, toWireError, type Op } from './protocol.js';

export interface LogServer {
  /** Answers requests already received, ends every subscription and connection, removes the socket file. */
  close(): Promise<void>;
}

/** How long close() lets a client take to hang up after we ended the connection. */
const HANGUP_GRACE_MS = 1000;

/** True when something accepts connections on the socket (a live owner); a connect timeout counts as alive. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: socketPath });
    const done = (alive: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => done(true), 1000);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Removes a socket file left by an owner that died; refuses to touch a live socket or any other file. */
async function clearStaleSocket(socketPath: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(socketPath)).isSocket();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw wrapSyscall(`inspect socket ${socketPath}`, e);
  }
  if (!isSocket) throw new RuntimeError('INVALID_ARGUMENT', `${socketPath} exists and is not a socket`, { field: 'socketPath' });
  if (await answers(socketPath)) throw new RuntimeError('STORE_LOCKED', `socket ${socketPath} is served by another process`);
  await unlink(socketPath).catch((e: unknown) => {
    if (errnoOf(e) !== 'ENOENT') throw wrapSyscall(`remove stale socket ${socketPath}`, e);
  });
}

function listen(server: Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(wrapSyscall(`listen on ${socketPath}`, e));
    server.once('error', onError);
    server.listen(socketPath, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Serves `log` to other processes on a unix socket (docs/log.md, "Owner socket"). The socket
 * file is made 0600 right after listen; the root directory (0700) keeps others out before that.
 */
export async function serveEventLog(log: EventLog, socketPath: string): Promise<LogServer> {
  const tooLong = socketPathError(socketPath);
  if (tooLong) throw tooLong;
  await clearStaleSocket(socketPath);
  const connections = new Set<Connection>();
  const server = createServer((sock) => {
    const conn = new Connection(sock, log, () => closing !== undefined);
    connections.add(conn);
    sock.once('close', () => connections.delete(conn));
  });
  let closing: Promise<void> | undefined;
  await listen(server, socketPath);
  try {
    await chmod(socketPath, 0o600);
  } catch (e) {
    server.close();
    await unlink(socketPath).catch(() => undefined);
    throw wrapSyscall(`chmod socket ${socketPath}`, e);
  }
  server.on('error', () => undefined); // after listen, errors belong to connections

  return {
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...connections].map((c) => c.shutdown()));
        await stopped;
        await unlink(socketPath).catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** One client: requests in order of arrival, responses as they complete, pushes for its subscriptions. */
class Connection {
  readonly #sock: Socket;
  readonly #log: EventLog;
  readonly #closing: () => boolean;
  readonly #pending = new Set<Promise<void>>();
  readonly #subs = new Map<number | string, Subscription>();
  #broken = false;

  constructor(sock: Socket, log: EventLog, closing: () => boolean) {
    this.#sock = sock;
    this.#log = log;
    this.#closing = closing;
    sock.on('data', lineSplitter((line) => this.#onLine(line), () => this.#fail('request line too long')));
    sock.on('error', () => sock.destroy());
    sock.once('close', () => this.#unsubscribeAll());
  }

  #send(msg: object): void {
    if (!this.#sock.destroyed && this.#sock.writable) this.#sock.write(`${JSON.stringify(msg)}\n`);
  }

  /**
   * A malformed request: say why, read nothing more (the stream can't be trusted to be in
   * sync), answer what was already started, then hang up.
   */
  #fail(message: string, id: unknown = null): void {
    this.#broken = true;
    this.#send({ id, ok: false, error: { code: 'INVALID_ARGUMENT', message: `bad request: ${message}` } });
    void Promise.allSettled([...this.#pending]).then(() => this.#sock.end());
  }

  #onLine(line: string): void {
    if (this.#broken) return;
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      return this.#fail('invalid json');
    }
    if (!isPlainObject(req)) return this.#fail('not an object');
    const { id, op, args = [] } = req;
    if (!(typeof id === 'number' || typeof id === 'string')) return this.#fail('id must be a number or string');
    if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) return this.#fail(`unknown op ${JSON.stringify(op)}`, id);
    if (!Array.isArray(args)) return this.#fail('args must be an array', id);
    if (this.#closing()) {
      this.#send({ id, ok: false, error: { code: 'ILLEGAL_STATE', message: 'event log owner is closing' } });
      return;
    }
    // Dispatch synchronously, so requests reach the log in the order they arrived.
    let result: Promise<unknown>;
    try {
      result = Promise.resolve(this.#dispatch(id, op as Op, args as unknown[]));
    } catch (e) {
      result = Promise.reject(e);
    }
    const answered = result.then(
      (value) => this.#send({ id, ok: true, result: value ?? null }),
      (e: unknown) => this.#send({ id, ok: false, error: toWireError(e) }),
    );
    this.#pending.add(answered);
    void answered.then(() => this.#pending.delete(answered));
  }

  #dispatch(id: number | string, op: Op, args: unknown[]): unknown {
    const log = this.#log;
    // The log validates its arguments itself: they are untrusted JSON here.
    const [a0, a1, a2] = args as [never, never, never];
    switch (op) {
      case 'hello':
        return { protocol: PROTOCOL_VERSION };
      case 'append':
        return log.append(a0, a1, a2);
      case 'read':
        return log.read(a0, a1);
      case 'readAll':
        return log.readAll(a0);
      case 'version':
        return log.version(a0);
      case 'streams':
        return log.streams();
      case 'prune':
        return log.prune(a0, a1);
      case 'readSnapshots':
        return log.readSnapshots();
      case 'writeSnapshots':
        return log.writeSnapshots(a0);
      case 'subscribe':
        return this.#subscribe(id, args[0]);
      case 'unsubscribe':
        this.#subs.get(args[0] as number | string)?.unsubscribe();
        this.#subs.delete(args[0] as number | string);
        return null;
    }
  }

  #subscribe(id: number | string, stream: unknown): null {
    if (stream !== undefined && typeof stream !== 'string') {
      throw new RuntimeError('INVALID_ARGUMENT', 'subscribe: stream must be a string', { field: 'stream' });
    }
    if (this.#subs.has(id)) throw new RuntimeError('INVALID_ARGUMENT', `subscribe: id ${id} is in use`, { field: 'id' });
    const sub = this.#log.events$(stream).subscribe({
      next: (event) => this.#send({ sub: id, event }),
      error: (e: unknown) => {
        this.#subs.delete(id);
        this.#send({ sub: id, error: toWireError(e) });
      },
      complete: () => {
        this.#subs.delete(id);
        this.#send({ sub: id, done: true });
      },
    });
    if (!sub.closed) this.#subs.set(id, sub);
    return null;
  }

  #unsubscribeAll(): void {
    for (const sub of this.#subs.values()) sub.unsubscribe();
    this.#subs.clear();
  }

  /** Server closing: finish answering, complete subscriptions, hang up. */
  async shutdown(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    for (const id of this.#subs.keys()) this.#send({ sub: id, done: true });
    this.#unsubscribeAll();
    if (this.#sock.destroyed) return;
    const closed = new Promise<void>((resolve) => this.#sock.once('close', () => resolve()));
    this.#sock.end();
    const grace = setTimeout(() => this.#sock.destroy(), HANGUP_GRACE_MS);
    await closed;
    clearTimeout(grace);
  }
}
