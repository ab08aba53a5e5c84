import { mkdir } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import { defer, filter, Subject, throwError, type Observable } from 'rxjs';
import { RuntimeError } from '../errors.js';
import type { AppendOptions, AppendResult, EventLog, ExpectedVersion, NewEvent, PruneResult, ReadOptions, Snapshot, StoredEvent } from './eventLog.js';
import {
  corrupt, createCodec, decodeCount, decodePointer, decodeSnapshot, encodeCount, encodePointer, encodeSnapshot, type CodecOptions, type EventCodec,
  type PreparedEvent,
} from './codec.js';
import {
  checkAppendOptions, checkExpectedVersion, checkPruneOptions, checkReadAllOptions, checkReadOptions, checkSnapshots, closedError, firstKept,
  snapshotAhead,
} from './checks.js';
import {
  compareKeys,
  describeKey,
  globalKey,
  globalRange,
  HEAD_KEY,
  parseGlobalKey,
  parsePrunedKey,
  parseSnapshotKey,
  parseStreamHeadKey,
  parseStreamKey,
  PRUNED_RANGE,
  prunedKey,
  SNAPSHOT_RANGE,
  snapshotKey,
  STREAM_HEAD_RANGE,
  streamHeadKey,
  streamKey,
  streamRange,
  validateStream,
} from './keys.js';
import { Mutex } from './mutex.js';

export interface LevelEventLogOptions extends CodecOptions {
  /** fsync default for appends that do not say (default false). */
  sync?: boolean;
  /** Clock for `at` (tests pin it). */
  now?: () => Date;
}

type Db = ClassicLevel<string, string>;

/** An append waiting for the next group write. */
interface Queued {
  stream: string;
  expected: ExpectedVersion;
  sync: boolean;
  prepared: PreparedEvent[];
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/**
 * How much a stream read fetches per trip to LevelDB's thread pool. The default (16 KiB, about
 * 50 events) made reading a long stream cost a round trip per 50 events; a read returns the
 * whole range anyway.
 */
const READ_CHUNK_BYTES = 1 << 20;

/** Events in one group write at most (one append larger than that is written alone). */
const GROUP_EVENTS = 4096;
type Put = { type: 'put'; key: string; value: string };
type Op = Put | { type: 'del'; key: string };

/** The LEVEL_* code of a classic-level error, looking through the LEVEL_DATABASE_NOT_OPEN wrapper. */
function levelCodes(e: unknown): string[] {
  const err = e as { code?: unknown; cause?: { code?: unknown } } | null;
  return [err?.code, err?.cause?.code].filter((c): c is string => typeof c === 'string');
}

function storeError(what: string, e: unknown): RuntimeError {
  if (e instanceof RuntimeError) return e;
  const err = e as { message?: unknown; cause?: { message?: unknown } } | null;
  // classic-level's useful text ("IO error: …") is often on the cause.
  const msg = [err?.message ?? String(e), err?.cause?.message].filter((m) => typeof m === 'string').join(': ');
  const code = levelCodes(e).includes('LEVEL_CORRUPTION') ? 'STORE_CORRUPT' : 'INTERNAL';
  return new RuntimeError(code, `${what}: ${msg}`, { cause: e });
}

/**
 * classic-level 3 reports a held lock as LEVEL_DATABASE_NOT_OPEN whose cause has code
 * LEVEL_LOCKED ("lock <dir>/LOCK: Resource temporarily unavailable" from another process,
 * "already held by process" from this one).
 */
function openError(dir: string, e: unknown): RuntimeError {
  if (levelCodes(e).includes('LEVEL_LOCKED')) {
    const inProcess = /already held by process/.test(String((e as { cause?: { message?: unknown } }).cause?.message));
    const by = inProcess ? 'is already open in this process' : 'is locked by another process';
    return new RuntimeError('STORE_LOCKED', `event log ${dir} ${by}`, { cause: e });
  }
  return storeError(`open event log ${dir}`, e);
}

interface Heads {
  head: number;
  versions: Map<string, number>;
  /** Per stream, the last version gc removed. */
  pruned: Map<string, number>;
}

/** Loads the head position and every stream's version, and checks the head against the last global key. */
async function loadHeads(db: Db): Promise<Heads> {
  const rawHead = await db.get(HEAD_KEY);
  const head = rawHead === undefined ? 0 : decodeCount(HEAD_KEY, rawHead);
  const versions = new Map<string, number>();
  for await (const [key, value] of db.iterator(STREAM_HEAD_RANGE)) {
    versions.set(parseStreamHeadKey(key), decodeCount(key, value));
  }
  const pruned = new Map<string, number>();
  for await (const [key, value] of db.iterator(PRUNED_RANGE)) {
    pruned.set(parsePrunedKey(key), decodeCount(key, value));
  }
  const [last] = await db.keys({ ...globalRange(1), reverse: true, limit: 1 }).all();
  const lastPosition = last === undefined ? 0 : parseGlobalKey(last);
  if (lastPosition !== head) {
    throw corrupt(HEAD_KEY, 'head', `says ${head} but the last global key is ${last === undefined ? 'absent' : describeKey(last)}`);
  }
  return { head, versions, pruned };
}

export async function openLevelEventLog(dir: string, opts: LevelEventLogOptions = {}): Promise<EventLog> {
  const codec = createCodec(opts);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw storeError(`open event log ${dir}`, e);
  }
  const db: Db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  try {
    await db.open();
  } catch (e) {
    throw openError(dir, e);
  }
  let heads: Heads;
  try {
    heads = await loadHeads(db);
  } catch (e) {
    await db.close();
    throw storeError(`open event log ${dir}`, e);
  }
  return new LevelEventLog(dir, db, codec, heads, opts);
}

class LevelEventLog implements EventLog {
  readonly #dir: string;
  readonly #db: Db;
  readonly #codec: EventCodec;
  readonly #now: () => Date;
  readonly #defaultSync: boolean;
  readonly #committed = new Subject<StoredEvent>();
  // One mutex for the whole log: global positions are assigned in append order.
  readonly #mutex = new Mutex();
  readonly #pending = new Set<Promise<unknown>>();
  /** Appends waiting for the next group write (#commitGroup), in call order. */
  readonly #queue: Queued[] = [];
  #head: number;
  readonly #versions: Map<string, number>;
  readonly #pruned: Map<string, number>;
  #closing: Promise<void> | undefined;

  constructor(dir: string, db: Db, codec: EventCodec, heads: Heads, opts: LevelEventLogOptions) {
    this.#dir = dir;
    this.#db = db;
    this.#codec = codec;
    this.#head = heads.head;
    this.#versions = heads.versions;
    this.#pruned = heads.pruned;
    this.#now = opts.now ?? (() => new Date());
    this.#defaultSync = opts.sync ?? false;
  }

  /** Every operation is tracked so close() lets started ones finish before the database closes. */
  #op<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) return Promise.reject(closedError(this.#dir));
    const p = (async () => {
      try {
        return await fn();
      } catch (e) {
        throw storeError(what, e);
      }
    })();
    this.#pending.add(p);
    void p.then(
      () => this.#pending.delete(p),
      () => this.#pending.delete(p),
    );
    return p;
  }

  append(stream: string, events: NewEvent[], options: AppendOptions): Promise<AppendResult> {
    return this.#op(`append to stream ${stream}`, async () => {
      validateStream(stream);
      const { expected, sync } = checkAppendOptions(stream, options);
      const prepared = this.#codec.prepare(stream, events);
      return new Promise<AppendResult>((resolve, reject) => {
        this.#queue.push({ stream, expected, sync: sync ?? this.#defaultSync, prepared, resolve, reject });
        if (this.#queue.length === 1) void this.#mutex.run(() => this.#commitGroup());
      });
    });
  }

  /**
   * Group commit: every append queued while the previous write was in flight goes into one
   * atomic batch, synced if any of them asked for it, so concurrent appenders share one write
   * and one fsync. Each append is still checked on its own, in call order, against its
   * stream's version as the appends before it in the group leave it: a stale one gets
   * CONFLICT and is left out, the others are written. Positions follow call order.
   */
  async #commitGroup(): Promise<void> {
    const group: Queued[] = [];
    let size = 0;
    while (this.#queue.length > 0 && (group.length === 0 || size + this.#queue[0]!.prepared.length <= GROUP_EVENTS)) {
      const q = this.#queue.shift()!;
      group.push(q);
      size += q.prepared.length;
    }
    // Appends queued beyond this group's size wait for the next write.
    if (this.#queue.length > 0) void this.#mutex.run(() => this.#commitGroup());
    const versions = new Map<string, number>();
    let head = this.#head;
    const at = this.#now().toISOString();
    const ops: Put[] = [];
    const done: Array<{ q: Queued; result: AppendResult }> = [];
    for (const q of group) {
      try {
        const current = versions.get(q.stream) ?? this.#versions.get(q.stream) ?? 0;
        checkExpectedVersion(q.stream, q.expected, current);
        const mine: Put[] = [];
        const stored: StoredEvent[] = [];
        q.prepared.forEach((ev, i) => {
          const version = current + i + 1;
          const key = streamKey(q.stream, version);
          const value = this.#codec.encode({ position: head + i + 1, at, ...ev });
          mine.push({ type: 'put', key, value });
          mine.push({ type: 'put', key: globalKey(head + i + 1), value: encodePointer({ stream: q.stream, version }) });
          // What read() will return: a fresh copy, upcast, exactly as stored.
          stored.push(this.#codec.decode(key, q.stream, version, value));
        });
        const nextVersion = current + q.prepared.length;
        head += q.prepared.length;
        versions.set(q.stream, nextVersion);
        ops.push(...mine, { type: 'put', key: streamHeadKey(q.stream), value: encodeCount(nextVersion) });
        done.push({ q, result: { nextVersion, lastPosition: head, events: stored } });
      } catch (e) {
        q.reject(e);
      }
    }
    if (done.length === 0) return;
    ops.push({ type: 'put', key: HEAD_KEY, value: encodeCount(head) });
    try {
      // The one atomic write of the group: its events, global entries and heads, or nothing.
      // A chained batch: abstract-level's array batch costs several times more per operation.
      const batch = this.#db.batch();
      for (const op of ops) batch.put(op.key, op.value);
      await batch.write({ sync: done.some((d) => d.q.sync) });
    } catch (e) {
      for (const d of done) d.q.reject(e);
      return;
    }
    for (const [stream, v] of versions) this.#versions.set(stream, v);
    this.#head = head;
    // Still under the mutex: subscribers see events in global order.
    for (const d of done) for (const ev of d.result.events) this.#committed.next(ev);
    for (const d of done) d.q.resolve(d.result);
  }

  read(stream: string, options?: ReadOptions): Promise<StoredEvent[]> {
    return this.#op(`read stream ${stream}`, async () => {
      validateStream(stream);
      const opts = checkReadOptions(stream, options);
      const to = opts.to;
      const from = firstKept(opts.from, this.#pruned.get(stream) ?? 0);
      if (to !== undefined && to < from) return [];
      const entries = await this.#db.iterator({ ...streamRange(stream, from, to), highWaterMarkBytes: READ_CHUNK_BYTES }).all();
      return entries.map(([key, value], i) => {
        const { version } = parseStreamKey(key);
        if (version !== from + i) throw corrupt(key, 'stream', `expected version ${from + i} of ${stream}`);
        return this.#codec.decode(key, stream, version, value);
      });
    });
  }

  readAll(options?: { from?: number; limit?: number }): Promise<StoredEvent[]> {
    return this.#op('read all', async () => {
      const { from, limit } = checkReadAllOptions(options);
      if (limit === 0) return [];
      // Pruned positions keep a marked pointer: they are checked for gaps like any other and
      // skipped, so `limit` counts events returned.
      const pointers: Array<{ key: string; position: number; stream: string; version: number }> = [];
      let position = from;
      for await (const [key, value] of this.#db.iterator(globalRange(from))) {
        if (parseGlobalKey(key) !== position) throw corrupt(key, 'global entry', `expected position ${position}`);
        const p = decodePointer(key, value);
        if (!p.pruned) pointers.push({ key, position, stream: p.stream, version: p.version });
        position += 1;
        if (limit !== undefined && pointers.length >= limit) break;
      }
      // Appends only add keys and prune happens under the mutex with its tombstones, so the
      // events these pointers name are still there unless the log is corrupt.
      const keys = pointers.map((p) => streamKey(p.stream, p.version));
      const values = await this.#db.getMany(keys);
      return pointers.map((p, i) => {
        const key = keys[i] as string;
        const raw = values[i];
        if (raw === undefined) throw corrupt(p.key, 'global entry', `points to missing key ${describeKey(key)}`);
        const ev = this.#codec.decode(key, p.stream, p.version, raw);
        if (ev.position !== p.position) throw corrupt(key, 'event', `position ${ev.position} but global key says ${p.position}`);
        return ev;
      });
    });
  }

  version(stream: string): Promise<number> {
    return this.#op(`version of stream ${stream}`, async () => {
      validateStream(stream);
      return this.#versions.get(stream) ?? 0;
    });
  }

  streams(): Promise<string[]> {
    return this.#op('list streams', async () =>
      [...this.#versions].filter(([s, v]) => v > (this.#pruned.get(s) ?? 0)).map(([s]) => s).sort(compareKeys));
  }

  prune(stream: string, options: { expectedVersion: number }): Promise<PruneResult> {
    return this.#op(`prune stream ${stream}`, async () => {
      validateStream(stream);
      const expected = checkPruneOptions(stream, options);
      return this.#mutex.run(async () => {
        const current = this.#versions.get(stream) ?? 0;
        checkExpectedVersion(stream, expected, current, `prune stream ${stream}`);
        const first = (this.#pruned.get(stream) ?? 0) + 1;
        const entries = await this.#db.iterator(streamRange(stream, first)).all();
        const ops: Op[] = [];
        entries.forEach(([key, value], i) => {
          const { version } = parseStreamKey(key);
          if (version !== first + i) throw corrupt(key, 'stream', `expected version ${first + i} of ${stream}`);
          const { position } = this.#codec.decode(key, stream, version, value);
          ops.push({ type: 'del', key });
          ops.push({ type: 'put', key: globalKey(position), value: encodePointer({ stream, version, pruned: true }) });
        });
        ops.push({ type: 'put', key: prunedKey(stream), value: encodeCount(current) });
        ops.push({ type: 'del', key: snapshotKey(stream) });
        // Synced: the caller may have archived these events and will not look at them again.
        await this.#db.batch(ops, { sync: true });
        this.#pruned.set(stream, current);
        return { pruned: entries.length, version: current };
      });
    });
  }

  readSnapshots(): Promise<Snapshot[]> {
    return this.#op('read snapshots', async () => {
      const out: Snapshot[] = [];
      for await (const [key, value] of this.#db.iterator(SNAPSHOT_RANGE)) {
        const stream = parseSnapshotKey(key);
        const snap = decodeSnapshot(value);
        if (stream !== undefined && snap !== undefined) out.push({ stream, ...snap });
      }
      return out;
    });
  }

  writeSnapshots(snapshots: Snapshot[]): Promise<void> {
    return this.#op('write snapshots', async () => {
      const checked = checkSnapshots(snapshots);
      if (checked.length === 0) return;
      await this.#mutex.run(async () => {
        for (const s of checked) {
          const current = this.#versions.get(s.stream) ?? 0;
          if (s.version > current) throw snapshotAhead(s.stream, s.version, current);
        }
        // A stream gc pruned meanwhile keeps no snapshot.
        const kept = checked.filter((s) => s.version > (this.#pruned.get(s.stream) ?? 0));
        await this.#db.batch(kept.map((s) => ({ type: 'put' as const, key: snapshotKey(s.stream), value: encodeSnapshot(s.version, s.data) })));
      });
    });
  }

  events$(stream?: string): Observable<StoredEvent> {
    return defer(() => {
      if (this.#closing !== undefined) return throwError(() => closedError(this.#dir));
      if (stream === undefined) return this.#committed.asObservable();
      validateStream(stream);
      return this.#committed.pipe(filter((ev) => ev.stream === stream));
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#pending]);
      this.#committed.complete();
      await this.#db.close();
    })();
    return this.#closing;
  }
}
