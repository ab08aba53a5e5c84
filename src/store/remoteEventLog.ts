import { createConnection, type Socket } from 'node:net';
import { Observable, type Subscriber } from 'rxjs';
import { RuntimeError, wrapSyscall } from '../errors.js';
import type { AppendOptions, AppendResult, EventLog, NewEvent, PruneResult, ReadOptions, Snapshot, StoredEvent } from './eventLog.js';
import { closedError } from './checks.js';
import { validateStream } from './keys.js';
import { fromWireError, lineSplitter, PROTOCOL_VERSION, socketPathError, type Op } from './protocol.js';

export interface ConnectOptions {
  /** How long the owner may take to answer the `hello` handshake (default 2000 ms). */
  helloTimeoutMs?: number;
}

/** How long close() lets the owner take to hang up after we ended the connection. */
const HANGUP_GRACE_MS = 1000;

interface Pending {
  resolve(value: unknown): void;
  reject(e: RuntimeError): void;
}

function connect(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path: socketPath });
    const onError = (e: Error) => reject(wrapSyscall(`connect to event log owner at ${socketPath}`, e));
    sock.once('error', onError);
    sock.once('connect', () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

/**
 * An EventLog served by the process that owns the root (logServer.ts). Errors come back as
 * RuntimeErrors with the owner's code. If the connection drops, pending and later calls fail
 * with INTERNAL and live subscriptions error: an append in flight may or may not have been
 * committed, so callers re-read the stream's version.
 */
export async function connectEventLog(socketPath: string, opts: ConnectOptions = {}): Promise<EventLog> {
  const tooLong = socketPathError(socketPath);
  if (tooLong) throw tooLong;
  const log = new RemoteEventLog(socketPath, await connect(socketPath));
  const timeoutMs = opts.helloTimeoutMs ?? 2000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const hello = await Promise.race([
      log.request('hello', []),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RuntimeError('INTERNAL', `event log owner at ${socketPath} did not answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const protocol = (hello as { protocol?: unknown } | null)?.protocol;
    if (protocol !== PROTOCOL_VERSION) {
      throw new RuntimeError('INTERNAL', `event log owner at ${socketPath} speaks protocol ${String(protocol)}, not ${PROTOCOL_VERSION}`);
    }
  } catch (e) {
    log.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return log;
}

class RemoteEventLog implements EventLog {
  readonly #path: string;
  readonly #sock: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #subs = new Map<number, Subscriber<StoredEvent>>();
  /** Requests close() waits for. */
  readonly #inflight = new Set<Promise<unknown>>();
  #nextId = 0;
  #closing: Promise<void> | undefined;
  #lost: RuntimeError | undefined;

  constructor(socketPath: string, sock: Socket) {
    this.#path = socketPath;
    this.#sock = sock;
    sock.on('data', lineSplitter((line) => this.#onLine(line), () => this.#drop('response line too long')));
    sock.on('error', (e) => this.#drop(e.message));
    sock.once('close', () => this.#drop('connection closed'));
  }

  /** Fails everything outstanding; after a local close() that is nothing, and subscriptions complete. */
  #drop(reason: string): void {
    if (this.#lost === undefined && this.#closing === undefined) {
      this.#lost = new RuntimeError('INTERNAL', `lost connection to event log owner at ${this.#path}: ${reason}`);
    }
    const err = this.#lost ?? closedError(this.#path);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const s of subs) {
      if (this.#lost === undefined) s.complete();
      else s.error(this.#lost);
    }
    this.#sock.destroy();
  }

  #onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.#drop('owner sent invalid json');
    }
    if (typeof msg.sub === 'number') return this.#onPush(msg.sub, msg);
    if (typeof msg.id !== 'number') return;
    const pending = this.#pending.get(msg.id);
    if (pending !== undefined) {
      this.#pending.delete(msg.id);
      if (msg.ok === true) pending.resolve(msg.result);
      else pending.reject(fromWireError(msg.error));
      return;
    }
    // A refused subscribe (its response carries the subscription's id).
    const sub = this.#subs.get(msg.id);
    if (sub !== undefined && msg.ok !== true) {
      this.#subs.delete(msg.id);
      sub.error(fromWireError(msg.error));
    }
  }

  #onPush(id: number, msg: Record<string, unknown>): void {
    const sub = this.#subs.get(id);
    if (sub === undefined) return; // unsubscribed while the event was on its way
    if (msg.event !== undefined) return sub.next(msg.event as StoredEvent);
    this.#subs.delete(id);
    if (msg.done === true) sub.complete();
    else sub.error(fromWireError(msg.error));
  }

  #write(msg: object): void {
    this.#sock.write(`${JSON.stringify(msg)}\n`);
  }

  #unavailable(): RuntimeError | undefined {
    if (this.#closing !== undefined) return closedError(this.#path);
    return this.#lost;
  }

  request(op: Op, args: unknown[]): Promise<unknown> {
    const down = this.#unavailable();
    if (down) return Promise.reject(down);
    const id = ++this.#nextId;
    let line: string;
    try {
      line = `${JSON.stringify({ id, op, args })}\n`;
    } catch (e) {
      return Promise.reject(new RuntimeError('INVALID_ARGUMENT', `${op}: arguments are not JSON: ${(e as Error).message}`, { cause: e }));
    }
    const answer = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#sock.write(line);
    });
    this.#inflight.add(answer);
    const forget = () => this.#inflight.delete(answer);
    answer.then(forget, forget);
    return answer;
  }

  append(stream: string, events: NewEvent[], opts: AppendOptions): Promise<AppendResult> {
    return this.request('append', [stream, events, opts]) as Promise<AppendResult>;
  }

  read(stream: string, opts?: ReadOptions): Promise<StoredEvent[]> {
    return this.request('read', opts === undefined ? [stream] : [stream, opts]) as Promise<StoredEvent[]>;
  }

  readAll(opts?: { from?: number; limit?: number }): Promise<StoredEvent[]> {
    return this.request('readAll', opts === undefined ? [] : [opts]) as Promise<StoredEvent[]>;
  }

  version(stream: string): Promise<number> {
    return this.request('version', [stream]) as Promise<number>;
  }

  streams(): Promise<string[]> {
    return this.request('streams', []) as Promise<string[]>;
  }

  prune(stream: string, opts: { expectedVersion: number }): Promise<PruneResult> {
    return this.request('prune', [stream, opts]) as Promise<PruneResult>;
  }

  readSnapshots(): Promise<Snapshot[]> {
    return this.request('readSnapshots', []) as Promise<Snapshot[]>;
  }

  async writeSnapshots(snapshots: Snapshot[]): Promise<void> {
    await this.request('writeSnapshots', [snapshots]);
  }

  /** The subscription starts when the owner receives it; requests sent after it on this client are ordered after it. */
  events$(stream?: string): Observable<StoredEvent> {
    return new Observable<StoredEvent>((subscriber) => {
      const down = this.#unavailable();
      if (down) return subscriber.error(down);
      if (stream !== undefined) validateStream(stream);
      const id = ++this.#nextId;
      this.#subs.set(id, subscriber);
      this.#write({ id, op: 'subscribe', args: stream === undefined ? [] : [stream] });
      return () => {
        if (!this.#subs.delete(id) || this.#unavailable()) return;
        // Fire and forget: the owner answers, nobody waits.
        const unsub = ++this.#nextId;
        this.#pending.set(unsub, { resolve: () => undefined, reject: () => undefined });
        this.#write({ id: unsub, op: 'unsubscribe', args: [id] });
      };
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
      if (this.#sock.destroyed) return this.#drop('closed');
      const closed = new Promise<void>((resolve) => this.#sock.once('close', () => resolve()));
      this.#sock.end();
      const grace = setTimeout(() => this.#sock.destroy(), HANGUP_GRACE_MS);
      await closed;
      clearTimeout(grace);
    })();
    return this.#closing;
  }

  /** Drops the connection without waiting (a failed handshake). */
  destroy(): void {
    this.#closing ??= Promise.resolve();
    this.#drop('destroyed');
  }
}
