import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { containerMachine, emptyContext, type ContainerContext } from './container.machine.js';
import { evolve, type Folded } from './evolve.js';
import { RuntimeError } from '../errors.js';
import { fromLogEvent, type ContainerEvent } from './events.js';
import { leafState, ociStatus, type MachineState, type OciStatus } from './lifecycle.js';
import type { OciResources } from './spec.js';

/**
 * Replay: the pure fold of a container's log. No effect runs. It folds through `evolve`
 * (src/machines/evolve.ts), the machine's transitions as a plain function, which a property
 * test proves equal to the machine's `transition()`; `fold` and `step` go through XState itself.
 */

export type ContainerSnapshot = SnapshotFrom<typeof containerMachine>;
export type { Folded };

export interface LoggedEvent {
  version: number;
  type: string;
  data: Record<string, unknown>;
  at: string;
}

export function initialSnapshot(id: string): ContainerSnapshot {
  return initialTransition(containerMachine, { id })[0];
}

export function step(snapshot: ContainerSnapshot, event: ContainerEvent): ContainerSnapshot {
  return transition(containerMachine, snapshot, event)[0];
}

export interface Replayed {
  /** The machine's snapshot at that point (resolved on first use: most readers need only state and context). */
  readonly snapshot: ContainerSnapshot;
  state: MachineState;
  context: ContainerContext;
  /** Version of the last event folded (0 for none). */
  version: number;
  /** Events the machine did not accept at that point (a log no live machine could write). */
  rejected: LoggedEvent[];
}

/**
 * One logged event folded into `snapshot` through the machine's `transition()`: the next
 * snapshot, or null when the machine does not accept the event there. An unknown type, or a
 * payload the machine cannot apply (a buggy writer, a damaged value that still parsed), is
 * STORE_CORRUPT naming the container and version.
 */
export function fold(id: string, snapshot: ContainerSnapshot, e: LoggedEvent): ContainerSnapshot | null {
  const event = fromLogEvent(e);
  let next: ContainerSnapshot;
  try {
    if (!snapshot.can(event)) return null;
    next = step(snapshot, event);
  } catch (err) {
    throw new RuntimeError('STORE_CORRUPT', `log of ${id}: event ${e.version} (${e.type}) cannot be applied: ${err instanceof Error ? err.message : String(err)}`, { field: `${id}@${e.version}`, cause: err });
  }
  if (next.status === 'error') {
    throw new RuntimeError('STORE_CORRUPT', `log of ${id}: event ${e.version} (${e.type}) cannot be applied`, { field: `${id}@${e.version}`, cause: next.error });
  }
  return next;
}

/**
 * The same fold through `evolve` (src/machines/evolve.ts, proven equal to the machine by
 * test/machines/evolve.unit.test.ts): null when the machine refuses the event. A payload that
 * makes `evolve` throw is folded through the machine instead, so a damaged event gets exactly
 * the machine's STORE_CORRUPT.
 */
export function foldFast(id: string, from: Folded, e: LoggedEvent): Folded | null {
  const event = fromLogEvent(e);
  try {
    return evolve(from, event);
  } catch {
    const next = fold(id, snapshotAt(from.state, from.context), e);
    return next === null ? null : { state: leafState(next.value), context: next.context };
  }
}

/** Fold `events` (in stream order); stops after version `at` when given. */
export function replay(id: string, events: readonly LoggedEvent[], at?: number): Replayed {
  return foldAll({ state: 'absent', context: emptyContext(id) }, () => initialSnapshot(id), 0, events, at);
}

/** The machine's states nested in `alive` (read from the machine, so new states need no edit here). */
const ALIVE: ReadonlySet<string> = new Set(Object.keys(containerMachine.config.states?.alive?.states ?? {}));

/**
 * The snapshot a fold would have reached in `state` with `context`: where a cached projection
 * (src/store/snapshots.ts) resumes folding. Resolving a state runs no action and no effect.
 */
export function snapshotAt(state: MachineState, context: ContainerContext): ContainerSnapshot {
  const value = ALIVE.has(state) ? { alive: state } : state;
  return containerMachine.resolveState({ value: value as never, context });
}

/** Fold `events` on top of `start` (a state and context, or a machine snapshot, at `startVersion`). */
export function replayFrom(start: Folded | ContainerSnapshot, startVersion: number, events: readonly LoggedEvent[], at?: number): Replayed {
  if ('value' in start) return foldAll({ state: leafState(start.value), context: start.context }, () => start, startVersion, events, at);
  return foldAll(start, () => snapshotAt(start.state, start.context), startVersion, events, at);
}

/** The fold itself; `origin` is the machine snapshot `start` stands for, resolved only if asked for. */
function foldAll(start: Folded, origin: () => ContainerSnapshot, startVersion: number, events: readonly LoggedEvent[], at?: number): Replayed {
  let cur = start;
  const id = cur.context.id;
  let version = startVersion;
  const rejected: LoggedEvent[] = [];
  let n = 0;
  for (const e of events) {
    if (at !== undefined && e.version > at) break;
    const next = foldFast(id, cur, e);
    if (next === null) rejected.push(e);
    else cur = next;
    version = e.version;
    n++;
  }
  let snapshot: ContainerSnapshot | undefined;
  return {
    // The machine's own snapshot, folded through XState only if asked for: a snapshot resolved
    // from a state and context lacks the invoked children (the exec watcher) a fold has.
    get snapshot() {
      if (snapshot !== undefined) return snapshot;
      let s = origin();
      for (const e of events.slice(0, n)) s = fold(id, s, e) ?? s;
      return (snapshot = s);
    },
    state: cur.state,
    context: cur.context,
    version,
    rejected,
  };
}

/** The public view of a container: OCI `state` fields plus what berth knows. */
export interface ContainerState {
  ociVersion: string;
  id: string;
  status: OciStatus;
  /** 0 once stopped, as runc shows it. */
  pid: number;
  bundle: string;
  rootfs: string;
  created: string;
  owner: string;
  annotations: Record<string, string>;
  /** berth's details: the machine state, the log version it reflects, the exit once known. */
  state: MachineState;
  version: number;
  exit: { code: number | null; signal: number | null } | null;
  /** The resource limits in force (the spec's, as updated since). */
  resources: OciResources | null;
  oomKills: number;
  /** Exec'd processes that run, as the log says. */
  execs: { execId: string; pid: number; args: string[] }[];
  /** The last checkpoint criu took (image path, criu version, options), if any. */
  checkpoint: ContainerContext['checkpoint'];
}

export const OCI_VERSION = '1.0.2';

export function publicState(state: MachineState, ctx: ContainerContext, version: number): ContainerState {
  const status = ociStatus(state, ctx);
  return {
    ociVersion: OCI_VERSION,
    id: ctx.id,
    status,
    pid: status === 'stopped' || ctx.pid === null ? 0 : ctx.pid,
    bundle: ctx.bundle ?? '',
    rootfs: ctx.rootfs ?? '',
    created: ctx.created ?? '',
    owner: ctx.owner,
    annotations: ctx.config?.annotations ?? {},
    state,
    version,
    exit: ctx.exit,
    resources: ctx.resources,
    oomKills: ctx.oomKills,
    execs: Object.entries(ctx.execs ?? {}).map(([execId, e]) => ({ execId, pid: e.pid, args: e.args })),
    checkpoint: ctx.checkpoint,
  };
}

