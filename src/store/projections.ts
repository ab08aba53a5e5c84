import { Observable } from 'rxjs';
import { emptyContext } from '../machines/container.machine.js';
import { exists } from '../machines/lifecycle.js';
import { foldFast, publicState, replay, type ContainerState, type Folded, type Replayed } from '../machines/replay.js';
import type { EventLog, StoredEvent } from './eventLog.js';
import { compareKeys } from './keys.js';
import { isContainerStream } from '../ids.js';

const absent = (id: string): Folded => ({ state: 'absent', context: emptyContext(id) });

/**
 * state$: a container's public state derived from its log alone: the current state first, then
 * one value per committed event, folded through the machine's pure transition. It subscribes
 * to new events before reading the history, so nothing committed in between is missed, and
 * completes once the container is deleted or the log closes.
 */
export function state$(log: EventLog, id: string): Observable<ContainerState> {
  return new Observable<ContainerState>((sub) => {
    let cur = absent(id);
    let version = 0;
    let ready = false;
    const early: StoredEvent[] = [];
    const apply = (e: StoredEvent): void => {
      if (e.version <= version) return;
      cur = foldFast(id, cur, e) ?? cur;
      version = e.version;
      emitCurrent();
    };
    const emitCurrent = (): void => {
      const { state } = cur;
      if (state === 'absent') return;
      sub.next(publicState(state, cur.context, version));
      if (state === 'deleted') sub.complete();
    };
    const live = log.events$(id).subscribe({
      next: (e) => {
        try {
          if (ready) apply(e);
          else early.push(e);
        } catch (err) {
          sub.error(err); // a corrupt event ends the stream with STORE_CORRUPT
        }
      },
      error: (e: unknown) => sub.error(e),
      complete: () => sub.complete(),
    });
    log.read(id).then(
      (events) => {
        try {
          for (const e of events) {
            cur = foldFast(id, cur, e) ?? cur;
            version = e.version;
          }
          ready = true;
          emitCurrent();
          for (const e of early.splice(0)) apply(e);
        } catch (err) {
          sub.error(err);
        }
      },
      (e: unknown) => sub.error(e),
    );
    return () => live.unsubscribe();
  });
}

/**
 * A container's events: its whole history first, then each event as it is committed, with no
 * gap and no repeat; completes once the container is deleted (at once if it already is) or
 * the log closes.
 */
export function containerEvents$(log: EventLog, id: string): Observable<StoredEvent> {
  return new Observable<StoredEvent>((sub) => {
    let cur = absent(id);
    let version = 0;
    let ready = false;
    const early: StoredEvent[] = [];
    const deliver = (e: StoredEvent): void => {
      if (e.version <= version || sub.closed) return;
      cur = foldFast(id, cur, e) ?? cur;
      version = e.version;
      sub.next(e);
      if (cur.state === 'deleted') sub.complete();
    };
    const live = log.events$(id).subscribe({
      next: (e) => (ready ? deliver(e) : early.push(e)),
      error: (e: unknown) => sub.error(e),
      complete: () => sub.complete(),
    });
    log.read(id).then(
      (events) => {
        // Earlier incarnations of the id may have been deleted: only the end of the history counts.
        for (const e of events) {
          cur = foldFast(id, cur, e) ?? cur;
          version = e.version;
          sub.next(e);
        }
        if (events.length > 0 && cur.state === 'deleted') return sub.complete();
        ready = true;
        for (const e of early.splice(0)) deliver(e);
      },
      (e: unknown) => sub.error(e),
    );
    return () => live.unsubscribe();
  });
}

/** Every event from global position `from` on, then each one committed after; completes when the log closes. */
export function allEvents$(log: EventLog, from = 1): Observable<StoredEvent> {
  return new Observable<StoredEvent>((sub) => {
    let next = from;
    let ready = false;
    const early: StoredEvent[] = [];
    const deliver = (e: StoredEvent): void => {
      if (e.position < next) return;
      next = e.position + 1;
      sub.next(e);
    };
    const live = log.events$().subscribe({
      next: (e) => (ready ? deliver(e) : early.push(e)),
      error: (e: unknown) => sub.error(e),
      complete: () => sub.complete(),
    });
    log.readAll({ from }).then(
      (events) => {
        for (const e of events) deliver(e);
        ready = true;
        for (const e of early.splice(0)) deliver(e);
      },
      (e: unknown) => sub.error(e),
    );
    return () => live.unsubscribe();
  });
}

/**
 * The set of containers and their states: `initial` (the states now, reconciled by the
 * runtime, keyed by id) first, then a new set after every committed event that changes one.
 * Deleted containers leave the set. Completes when the log closes. Events are folded in commit
 * order; an id this view has not seen from its first event is read from the log once.
 */
export function containers$(log: EventLog, initial: () => Promise<Map<string, Replayed>>): Observable<ContainerState[]> {
  return new Observable<ContainerState[]>((sub) => {
    const known = new Map<string, { at: Folded; version: number }>();
    let queue: Promise<void> = Promise.resolve();
    let ready = false;
    const early: StoredEvent[] = [];
    const current = (): ContainerState[] => {
      const out: ContainerState[] = [];
      for (const [id, k] of [...known].sort(([a], [b]) => compareKeys(a, b))) {
        if (exists(k.at.state)) out.push(publicState(k.at.state, k.at.context, k.version));
        else known.delete(id);
      }
      return out;
    };
    const apply = async (e: StoredEvent): Promise<void> => {
      let k = known.get(e.stream);
      if (k !== undefined && e.version <= k.version) return;
      if (k === undefined && e.version === 1) k = { at: absent(e.stream), version: 0 };
      if (k === undefined || e.version !== k.version + 1) {
        // Seen mid-stream (an id used again, or events this view missed): fold it from the log.
        const r = replay(e.stream, await log.read(e.stream, { to: e.version }));
        known.set(e.stream, { at: { state: r.state, context: r.context }, version: r.version });
      } else {
        known.set(e.stream, { at: foldFast(e.stream, k.at, e) ?? k.at, version: e.version });
      }
      if (!sub.closed) sub.next(current());
    };
    const enqueue = (e: StoredEvent): void => {
      queue = queue.then(() => apply(e)).catch((err: unknown) => sub.error(err));
    };
    const live = log.events$().subscribe({
      next: (e) => {
        if (!isContainerStream(e.stream)) return;
        if (ready) enqueue(e);
        else early.push(e);
      },
      error: (e: unknown) => sub.error(e),
      complete: () => void queue.then(() => sub.complete()),
    });
    initial().then(
      (states) => {
        // State and context only: a Replayed keeps its events for the machine snapshot it can resolve.
        for (const [id, r] of states) known.set(id, { at: { state: r.state, context: r.context }, version: r.version });
        sub.next(current());
        ready = true;
        for (const e of early.splice(0)) enqueue(e);
      },
      (e: unknown) => sub.error(e),
    );
    return () => live.unsubscribe();
  });
}
