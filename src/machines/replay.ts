import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { containerMachine, type ContainerContext } from './container.machine.js';
import { RuntimeError } from '../errors.js';
import { fromLogEvent, type ContainerEvent } from './events.js';
import { leafState, ociStatus, type MachineState, type OciStatus } from './lifecycle.js';
import type { OciResources } from './spec.js';

/**
 * Replay: the pure fold of a container's log through the machine's `transition()`. No effect
 * runs; invoked actors are described by the returned actions and ignored.
 */

export type ContainerSnapshot = SnapshotFrom<typeof containerMachine>;

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
  snapshot: ContainerSnapshot;
  state: MachineState;
  context: ContainerContext;
  /** Version of the last event folded (0 for none). */
  version: number;
  /** Events the machine did not accept at that point (a log no live machine could write). */
  rejected: LoggedEvent[];
}

/**
 * One logged event folded into `snapshot`: the next snapshot, or null when the machine does not
 * accept the event there. An unknown type, or a payload the machine cannot apply (a buggy
 * writer, a damaged value that still parsed), is STORE_CORRUPT naming the container and version.
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

/** Fold `events` (in stream order); stops after version `at` when given. */
export function replay(id: string, events: readonly LoggedEvent[], at?: number): Replayed {
  return replayFrom(initialSnapshot(id), 0, events, at);
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

/** Fold `events` on top of `snapshot` (which reflects `version`). */
export function replayFrom(start: ContainerSnapshot, startVersion: number, events: readonly LoggedEvent[], at?: number): Replayed {
  let snapshot = start;
  let version = startVersion;
  const rejected: LoggedEvent[] = [];
  for (const e of events) {
    if (at !== undefined && e.version > at) break;
    const next = fold(start.context.id, snapshot, e);
    if (next === null) rejected.push(e);
    else snapshot = next;
    version = e.version;
  }
  return { snapshot, state: leafState(snapshot.value), context: snapshot.context, version, rejected };
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

