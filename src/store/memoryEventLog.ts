import { defer, filter, Subject, throwError, type Observable } from 'rxjs';
import type { AppendOptions, AppendResult, EventLog, NewEvent, PruneResult, ReadOptions, Snapshot, StoredEvent } from './eventLog.js';
import { createCodec, type CodecOptions, type Pointer } from './codec.js';
import {
  checkAppendOptions, checkExpectedVersion, checkPruneOptions, checkReadAllOptions, checkReadOptions, checkSnapshots, closedError, firstKept,
  snapshotAhead,
} from './checks.js';
import { compareKeys, streamKey, validateStream } from './keys.js';
import { Mutex } from './mutex.js';

export interface MemoryEventLogOptions extends CodecOptions {
  /** Clock for `at` (tests pin it). */
  now?: () => Date;
  /** Names the log in error messages. */
  name?: string;
}

/**
 * The reference EventLog (unit tests, --dry-run). It stores the same encoded JSON the LevelDB
 * log stores and decodes it on every read, so both give the same copies, upcasts and errors.
 */
export function createMemoryEventLog(opts: MemoryEventLogOptions = {}): EventLog {
  const codec = createCodec(opts);
  const now = opts.now ?? (() => new Date());
  const name = opts.name ?? 'memory';
  // A pruned event's slot is undefined: versions and positions are never reused.
  const streams = new Map<string, Array<string | undefined>>();
  const pruned = new Map<string, number>();
  const global: Pointer[] = [];
  const snapshots = new Map<string, string>();
  const committed = new Subject<StoredEvent>();
  // Appends are serialized like the LevelDB log's, so a subscriber that appends while an
  // event is being delivered cannot slip its events in between the current append's events.
  const mutex = new Mutex();
  let closed = false;
  let closing: Promise<void> | undefined;

  const decode = (stream: string, version: number): StoredEvent => {
    const raw = streams.get(stream)?.[version - 1];
    if (raw === undefined) throw new Error(`memory log lost ${stream}@${version}`);
    return codec.decode(streamKey(stream, version), stream, version, raw);
  };

  const guard = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    if (closing !== undefined) throw closedError(name);
    return await fn();
  };

  return {
    append(stream: string, events: NewEvent[], options: AppendOptions): Promise<AppendResult> {
      return guard(() => {
        validateStream(stream);
        const { expected } = checkAppendOptions(stream, options);
        const prepared = codec.prepare(stream, events);
        return mutex.run(() => {
          if (closed) throw closedError(name);
          const history = streams.get(stream) ?? [];
          checkExpectedVersion(stream, expected, history.length);
          const at = now().toISOString();
          const encoded = prepared.map((ev, i) => codec.encode({ position: global.length + i + 1, at, ...ev }));
          // Everything that can throw has run: commit.
          streams.set(stream, history);
          for (const raw of encoded) {
            history.push(raw);
            global.push({ stream, version: history.length });
          }
          const first = history.length - encoded.length + 1;
          const stored = encoded.map((_, i) => decode(stream, first + i));
          for (const ev of stored) committed.next(ev);
          return { nextVersion: history.length, lastPosition: global.length, events: stored };
        });
      });
    },

    read(stream: string, options?: ReadOptions) {
      return guard(() => {
        validateStream(stream);
        const opts = checkReadOptions(stream, options);
        const to = opts.to;
        const from = firstKept(opts.from, pruned.get(stream) ?? 0);
        const last = Math.min(to ?? Infinity, streams.get(stream)?.length ?? 0);
        const out: StoredEvent[] = [];
        for (let v = from; v <= last; v++) out.push(decode(stream, v));
        return out;
      });
    },

    readAll(options?: { from?: number; limit?: number }) {
      return guard(() => {
        const { from, limit } = checkReadAllOptions(options);
        const kept = global.slice(from - 1).filter((p) => !p.pruned);
        return kept.slice(0, limit).map((p) => decode(p.stream, p.version));
      });
    },

    version(stream: string) {
      return guard(() => {
        validateStream(stream);
        return streams.get(stream)?.length ?? 0;
      });
    },

    streams() {
      return guard(() => [...streams].filter(([s, h]) => h.length > (pruned.get(s) ?? 0)).map(([s]) => s).sort(compareKeys));
    },

    prune(stream: string, options: { expectedVersion: number }): Promise<PruneResult> {
      return guard(() => {
        validateStream(stream);
        const expected = checkPruneOptions(stream, options);
        return mutex.run(() => {
          if (closed) throw closedError(name);
          const history = streams.get(stream) ?? [];
          checkExpectedVersion(stream, expected, history.length, `prune stream ${stream}`);
          let count = 0;
          for (let v = (pruned.get(stream) ?? 0) + 1; v <= history.length; v++) {
            const { position } = decode(stream, v);
            history[v - 1] = undefined;
            global[position - 1] = { stream, version: v, pruned: true };
            count++;
          }
          pruned.set(stream, history.length);
          snapshots.delete(stream);
          return { pruned: count, version: history.length };
        });
      });
    },

    readSnapshots(): Promise<Snapshot[]> {
      return guard(() => [...snapshots].map(([stream, raw]) => ({ stream, ...(JSON.parse(raw) as { version: number; data: Record<string, unknown> }) })));
    },

    writeSnapshots(list: Snapshot[]): Promise<void> {
      return guard(() => {
        const checked = checkSnapshots(list);
        for (const s of checked) {
          const current = streams.get(s.stream)?.length ?? 0;
          if (s.version > current) throw snapshotAhead(s.stream, s.version, current);
        }
        // Stored as JSON, as the LevelDB log does: readers get copies.
        for (const s of checked) if (s.version > (pruned.get(s.stream) ?? 0)) snapshots.set(s.stream, JSON.stringify({ version: s.version, data: s.data }));
      });
    },

    events$(stream?: string): Observable<StoredEvent> {
      return defer(() => {
        if (closing !== undefined) return throwError(() => closedError(name));
        if (stream === undefined) return committed.asObservable();
        validateStream(stream);
        return committed.pipe(filter((ev) => ev.stream === stream));
      });
    },

    close() {
      closing ??= mutex.run(() => {
        closed = true;
        committed.complete();
      });
      return closing;
    },
  };
}
