import { Observable } from 'rxjs';
import { leafState } from '../machines/lifecycle.js';
import { fold, initialSnapshot, publicState, type ContainerState } from '../machines/replay.js';
import type { EventLog, StoredEvent } from './eventLog.js';

/**
 * state$: a container's public state derived from its log alone: the current state first, then
 * one value per committed event, folded through the machine's pure transition. It subscribes
 * to new events before reading the history, so nothing committed in between is missed, and
 * completes once the container is deleted or the log closes.
 */
export function state$(log: EventLog, id: string): Observable<ContainerState> {
  return new Observable<ContainerState>((sub) => {
    let snapshot = initialSnapshot(id);
    let version = 0;
    let ready = false;
    const early: StoredEvent[] = [];
    const apply = (e: StoredEvent): void => {
      if (e.version <= version) return;
      snapshot = fold(id, snapshot, e) ?? snapshot;
      version = e.version;
      emitCurrent();
    };
    const emitCurrent = (): void => {
      const state = leafState(snapshot.value);
      if (state === 'absent') return;
      sub.next(publicState(state, snapshot.context, version));
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
            snapshot = fold(id, snapshot, e) ?? snapshot;
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
