import { createHash } from 'node:crypto';
import { containerMachine, emptyContext, type ContainerContext } from '../machines/container.machine.js';
import { SCHEMAS } from '../machines/events.js';
import type { MachineState } from '../machines/lifecycle.js';
import { replay, replayFrom, type Replayed } from '../machines/replay.js';
import { isContainerStream } from '../ids.js';
import { isPlainObject } from './codec.js';
import type { EventLog, Snapshot, StoredEvent } from './eventLog.js';

/**
 * The projection cache (DESIGN rule 5): a container's machine state and context at version N,
 * stored beside its stream (`p\0<id>`, keys.ts) so that `list` over thousands of containers
 * folds only what happened since. It is a cache and never the record:
 *
 * - an entry is used only if its fingerprint is this build's (the machine's whole definition,
 *   inline guards included, the event schemas and the context's fields: any change to the law
 *   discards every entry) and the event at its version is still the one it was made from (same
 *   global position);
 * - anything else — undecodable, another fingerprint, a version the stream no longer has — is
 *   discarded and rebuilt from the log, then overwritten.
 */

export const PROJECTION_FINGERPRINT = createHash('sha256')
  .update(JSON.stringify({
    machine: containerMachine.config,
    implementations: containerMachine.implementations,
    schemas: SCHEMAS,
    context: Object.keys(emptyContext('x')).sort(),
  }, (_k, v: unknown) => (typeof v === 'function' ? v.toString() : v)))
  .digest('hex')
  .slice(0, 16);

interface Cached {
  version: number;
  position: number;
  state: MachineState;
  context: ContainerContext;
}

function decode(s: Snapshot | undefined): Cached | undefined {
  if (s === undefined) return undefined;
  const { fingerprint, position, state, context } = s.data;
  if (fingerprint !== PROJECTION_FINGERPRINT || typeof position !== 'number' || typeof state !== 'string' || !isPlainObject(context)) return undefined;
  return { version: s.version, position, state: state as MachineState, context: context as unknown as ContainerContext };
}

function encode(id: string, r: Replayed, last: StoredEvent): Snapshot {
  return { stream: id, version: r.version, data: { fingerprint: PROJECTION_FINGERPRINT, position: last.position, state: r.state, context: r.context } };
}

export interface ProjectOptions {
  /** Use and refresh the cache (default true); false folds every stream from its first event. */
  cache?: boolean;
}

export interface ProjectStats {
  streams: number;
  /** Streams whose cached projection was used. */
  hits: number;
  /** Entries found but discarded (fingerprint, shape or version mismatch). */
  discarded: number;
  /** Events folded. */
  folded: number;
}

/** Streams read at once: LevelDB serves reads from its thread pool, so a few in flight overlap. */
const READS_IN_FLIGHT = 32;

/** One stream's state: from its cache entry when that still holds, else folded from its first event. */
async function projectOne(log: EventLog, id: string, entry: Snapshot | undefined, stats: ProjectStats): Promise<{ r: Replayed; last?: StoredEvent }> {
  const cached = decode(entry);
  if (cached !== undefined) {
    // Read from the cached version itself: its event must still be the one the entry was made from.
    const events = await log.read(id, { from: cached.version });
    if (events[0]?.version === cached.version && events[0].position === cached.position) {
      const rest = events.slice(1);
      stats.hits += 1;
      stats.folded += rest.length;
      const r = replayFrom({ state: cached.state, context: cached.context }, cached.version, rest);
      // Nothing new: the entry is current and needs no rewrite.
      return rest.length === 0 ? { r } : { r, last: events.at(-1) };
    }
  }
  if (entry !== undefined) stats.discarded += 1;
  const events = await log.read(id);
  stats.folded += events.length;
  return { r: replay(id, events), last: events.at(-1) };
}

/**
 * Every stream's replayed state, from the cache where it holds, and the cache refreshed for
 * the streams it was missing or behind on (one unsynced batch).
 */
export async function projectAll(log: EventLog, opts: ProjectOptions = {}): Promise<{ states: Map<string, Replayed>; stats: ProjectStats }> {
  const useCache = opts.cache ?? true;
  const ids = (await log.streams()).filter(isContainerStream);
  const cache = useCache ? new Map((await log.readSnapshots()).map((s) => [s.stream, s])) : new Map<string, Snapshot>();
  const stats: ProjectStats = { streams: ids.length, hits: 0, discarded: 0, folded: 0 };
  const results: Array<{ r: Replayed; last?: StoredEvent }> = new Array(ids.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < ids.length; i = next++) results[i] = await projectOne(log, ids[i]!, cache.get(ids[i]!), stats);
  };
  await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, ids.length) }, worker));
  const states = new Map<string, Replayed>();
  const fresh: Snapshot[] = [];
  ids.forEach((id, i) => {
    const { r, last } = results[i]!;
    states.set(id, r);
    if (useCache && last !== undefined) fresh.push(encode(id, r, last));
  });
  // Another process may have appended meanwhile: a stale entry is only behind, never wrong.
  if (fresh.length > 0) await log.writeSnapshots(fresh).catch(() => undefined);
  return { states, stats };
}
