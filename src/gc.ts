import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isRuntimeError, RuntimeError, wrapSyscall } from './errors.js';
import { replay } from './machines/replay.js';
import type { EventLog, StoredEvent } from './store/eventLog.js';

/**
 * Retention (`berth gc`): the streams of deleted containers are archived (one NDJSON file per
 * stream, appended) and pruned from the log. A container that exists — in any state — is never
 * touched, and the prune is conditional on the version gc looked at, so a container re-created
 * meanwhile keeps everything. Global positions are never renumbered (store/eventLog.ts `prune`).
 */

export interface GcOptions {
  /** Archive each stream to `<archive>/<id>.ndjson` (synced) before pruning it. */
  archive?: string;
  /** Only streams whose last event is at least this old (ms). */
  olderThanMs?: number;
  now?: () => Date;
}

export interface GcEntry {
  id: string;
  /** Events removed from the log. */
  pruned: number;
  /** The archive file, when archiving. */
  archive?: string;
}

export interface GcResult {
  pruned: GcEntry[];
  /** Streams left alone: their container exists, is too recent, or changed while gc looked. */
  kept: string[];
}

/** `90s`, `15m`, `24h`, `7d` (or plain milliseconds `500ms`). */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new RuntimeError('INVALID_ARGUMENT', `duration ${JSON.stringify(text)}: use e.g. 90s, 15m, 24h, 7d`, { field: 'older-than' });
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** The last version already in an archive file (0 when there is none), so a retried gc never writes an event twice. */
function archivedUpTo(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 0;
  }
  const last = text.trimEnd().split('\n').at(-1);
  if (!last) return 0;
  try {
    const v = (JSON.parse(last) as { version?: unknown }).version;
    return typeof v === 'number' ? v : 0;
  } catch {
    throw new RuntimeError('STORE_CORRUPT', `archive ${file}: last line is not an event`, { field: file });
  }
}

function archive(dir: string, id: string, events: StoredEvent[]): string {
  const file = join(dir, `${id}.ndjson`);
  const done = archivedUpTo(file);
  const lines = events.filter((e) => e.version > done).map((e) => `${JSON.stringify(e)}\n`).join('');
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openSync(file, 'a', 0o600);
    writeSync(fd, lines);
    // The log forgets these events next: the archive must be on disk first.
    fsyncSync(fd);
  } catch (e) {
    throw wrapSyscall(`archive ${id} to ${file}`, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return file;
}

/** One stream: archive and prune it if its container is deleted (and old enough). */
export async function collectStream(log: EventLog, id: string, opts: GcOptions): Promise<GcEntry | null> {
  const events = await log.read(id);
  const r = replay(id, events);
  if (r.state !== 'deleted' || events.length === 0) return null;
  const last = events.at(-1)!;
  const now = (opts.now ?? (() => new Date()))().getTime();
  if (opts.olderThanMs !== undefined && now - Date.parse(last.at) < opts.olderThanMs) return null;
  const file = opts.archive === undefined ? undefined : archive(opts.archive, id, events);
  try {
    const res = await log.prune(id, { expectedVersion: r.version });
    return { id, pruned: res.pruned, ...(file === undefined ? {} : { archive: file }) };
  } catch (e) {
    // Re-created meanwhile: it is live now; what was archived is still in the log too.
    if (isRuntimeError(e, 'CONFLICT')) return null;
    throw e;
  }
}
