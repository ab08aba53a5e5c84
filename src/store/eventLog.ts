import type { Observable } from 'rxjs';

/**
 * The event log: per-stream histories (one stream per container id) and one global order.
 * Two implementations (memoryEventLog, levelEventLog) and a remote client (remoteEventLog,
 * talking to the process that owns a root) all pass test/store/eventLog.contract.ts.
 */

/** `'no_stream'`: the stream must be empty; `'any'`: no check; a number: the stream's current version. */
export type ExpectedVersion = 'no_stream' | 'any' | number;

export interface NewEvent {
  type: string;
  data: Record<string, unknown>;
  /** Payload schema number; the codec writes the current one when absent. */
  schema?: number;
  /** About the append, not the event (the runtime records who carries out an intent); plain JSON. */
  meta?: Record<string, unknown>;
}

export interface StoredEvent {
  stream: string;
  /** 1-based position within the stream. */
  version: number;
  /** 1-based position in the whole log. */
  position: number;
  type: string;
  schema: number;
  data: Record<string, unknown>;
  /** ISO-8601 time the event was recorded. */
  at: string;
  /** Present when the appender gave one. */
  meta?: Record<string, unknown>;
}

/**
 * A cached projection of one stream at `version` (DESIGN rule 5): opaque to the log, checked by
 * whoever reads it, dropped or overwritten at any time. Never part of the record.
 */
export interface Snapshot {
  stream: string;
  version: number;
  data: Record<string, unknown>;
}

export interface PruneResult {
  /** Events removed now. */
  pruned: number;
  /** The stream's version, unchanged: an id used again continues after it. */
  version: number;
}

export interface AppendOptions {
  expectedVersion: ExpectedVersion;
  /** fsync before acknowledging (intents that precede irreversible host changes). */
  sync?: boolean;
}

export interface AppendResult {
  /** The stream's version after the append (the version of the last event appended). */
  nextVersion: number;
  /** Global position of the last event appended. */
  lastPosition: number;
  events: StoredEvent[];
}

export interface ReadOptions {
  /** First version (inclusive, default 1). */
  from?: number;
  /** Last version (inclusive, default: the end). */
  to?: number;
}

export interface EventLog {
  /** Appends all events atomically, or none: a version mismatch raises RuntimeError CONFLICT. */
  append(stream: string, events: NewEvent[], opts: AppendOptions): Promise<AppendResult>;
  read(stream: string, opts?: ReadOptions): Promise<StoredEvent[]>;
  /** Events in global order, positions `from` (inclusive, default 1) onwards. */
  readAll(opts?: { from?: number; limit?: number }): Promise<StoredEvent[]>;
  /** Current version of a stream; 0 when it has no events. */
  version(stream: string): Promise<number>;
  /** Every stream that has at least one event (not pruned), in key order. */
  streams(): Promise<string[]>;
  /**
   * Removes every remaining event of a stream whose version is exactly `expectedVersion`
   * (CONFLICT otherwise), atomically. The stream's version stays (a later append continues
   * after it) and each removed event's global position stays taken (readAll skips it): the
   * global order is never renumbered. Drops the stream's snapshot.
   */
  prune(stream: string, opts: { expectedVersion: number }): Promise<PruneResult>;
  /** Every cached snapshot that decodes; an undecodable entry is left out (a cache, never fatal). */
  readSnapshots(): Promise<Snapshot[]>;
  /** Stores snapshots (one unsynced batch); one ahead of its stream's version is INVALID_ARGUMENT. */
  writeSnapshots(snapshots: Snapshot[]): Promise<void>;
  /**
   * Events appended after subscription, after they are committed; one stream or all.
   * Completes when the log closes.
   */
  events$(stream?: string): Observable<StoredEvent>;
  close(): Promise<void>;
}
