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

/**
 * Every stream's replayed state, from the cache where it holds, and the cache refreshed for
 * the streams it was missing or behind on (one unsynced batch).
 */
export async function projectAll(log: EventLog, opts: ProjectOptions = {}): Promise<{ states: Map<string, Replayed>; stats: ProjectStats }> {
  const useCache = opts.cache ?? true;
  const ids = (await log.streams()).filter(isContainerStream);
  const cache = useCache ? new Map((await log.readSnapshots()).map((s) => [s.stream, s])) : new Map<string, Snapshot>();
  const states = new Map<string, Replayed>();
  const fresh: Snapshot[] = [];
  const stats: ProjectStats = { streams: ids.length, hits: 0, discarded: 0, folded: 0 };
  for (const id of ids) {
    const entry = cache.get(id);
    const cached = decode(entry);
    let r: Replayed | undefined;
    let last: StoredEvent | undefined;
    if (cached !== undefined) {
      // Read from the cached version itself: its event must still be the one the entry was made from.
      const events = await log.read(id, { from: cached.version });
      if (events[0]?.version === cached.version && events[0].position === cached.position) {
        const rest = events.slice(1);
        r = replayFrom({ state: cached.state, context: cached.context }, cached.version, rest);
        last = events.at(-1);
        stats.hits += 1;
        stats.folded += rest.length;
        if (rest.length === 0) {
          states.set(id, r);
          continue;
        }
      }
    }
    if (entry !== undefined && r === undefined) stats.discarded += 1;
    if (r === undefined) {
      const events = await log.read(id);
      r = replay(id, events);
      last = events.at(-1);
      stats.folded += events.length;
    }
    states.set(id, r);
    if (useCache && last !== undefined) fresh.push(encode(id, r, last));
  }
  // Another process may have appended meanwhile: a stale entry is only behind, never wrong.
  if (fresh.length > 0) await log.writeSnapshots(fresh).catch(() => undefined);
  return { states, stats };
}
