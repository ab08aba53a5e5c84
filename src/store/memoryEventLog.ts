import { defer, filter, Subject, throwError, type Observable } from 'rxjs';
import type { AppendOptions, AppendResult, EventLog, NewEvent, ReadOptions, StoredEvent } from './eventLog.js';
import { createCodec, type CodecOptions, type Pointer } from './codec.js';
import { checkAppendOptions, checkExpectedVersion, checkReadAllOptions, checkReadOptions, closedError } from './checks.js';
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
  const streams = new Map<string, string[]>();
  const global: Pointer[] = [];
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
        const { from, to } = checkReadOptions(stream, options);
        const last = Math.min(to ?? Infinity, streams.get(stream)?.length ?? 0);
        const out: StoredEvent[] = [];
        for (let v = from; v <= last; v++) out.push(decode(stream, v));
        return out;
      });
    },

    readAll(options?: { from?: number; limit?: number }) {
      return guard(() => {
        const { from, limit } = checkReadAllOptions(options);
        const slice = global.slice(from - 1, limit === undefined ? undefined : from - 1 + limit);
        return slice.map((p) => decode(p.stream, p.version));
      });
    },

    version(stream: string) {
      return guard(() => {
        validateStream(stream);
        return streams.get(stream)?.length ?? 0;
      });
    },

    streams() {
      return guard(() => [...streams.keys()].sort(compareKeys));
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
