import { emptyContext, type ContainerContext, type Resumable } from './container.machine.js';
import type { ContainerEvent } from './events.js';
import type { MachineState } from './lifecycle.js';

/**
 * The read side's reducer (DESIGN, event sourcing rule 2): what `transition()` of the container
 * machine does to `(state, context)` for one logged event, as a plain function. Folding through
 * XState costs 100–200 µs per event (it resolves the whole state tree, evaluates every
 * candidate transition and builds action objects for effects replay ignores); this is a switch.
 *
 * The machine stays the law: commands are decided by the live actor, and
 * test/machines/evolve.unit.test.ts checks on random event sequences (accepted and refused,
 * from every state) that this function gives exactly the machine's state and context, or
 * refuses where the machine refuses. Any change to container.machine.ts must be mirrored here;
 * that test fails until it is.
 *
 * Handlers are looked up as XState does: the leaf state's own, then `alive`'s for the states
 * inside it, then the root's; within a node the first transition whose guard holds wins, and a
 * node whose guards all fail passes the event to its parent. Expressions are copied from the
 * machine's guards and assigns, so malformed payloads behave the same way too.
 */

export interface Folded {
  state: MachineState;
  context: ContainerContext;
}

type Ctx = ContainerContext;
type Ev = ContainerEvent;
/** undefined: this node has no enabled transition for the event (try the parent). */
type Out = Folded | undefined;

const ALIVE: ReadonlySet<MachineState> = new Set(['created', 'starting', 'running', 'paused', 'killing', 'pausing', 'resuming', 'execing', 'updating']);

const to = (state: MachineState, context: Ctx, patch?: Partial<Ctx>): Folded => ({ state, context: patch ? { ...context, ...patch } : context });

/** The machine's `back(...)`: where an operation started from a settled alive state lands. */
function back(c: Ctx, patch?: Partial<Ctx>): Folded {
  if (c.exit !== null) return to('stopped', c, patch);
  if (c.resume === 'created') return to('created', c, patch);
  if (c.resume === 'paused') return to('paused', c, patch);
  return to('running', c, patch);
}

const recordError = (e: Ev): Partial<Ctx> => ({ error: 'error' in e ? e.error : null });
const recordExit = (e: Ev): Partial<Ctx> => (e.type === 'Exited' ? { exit: { code: e.code, signal: e.signal } } : { exit: null });

function begin(e: Ev, resume: Resumable): Partial<Ctx> {
  return {
    resume,
    error: null,
    ...(e.type === 'KillRequested' ? { signal: e.signal, all: e.all } : {}),
    ...(e.type === 'UpdateRequested' ? { update: e.resources } : {}),
    ...(e.type === 'ExecRequested' ? { exec: { execId: e.execId, process: e.process, pidFile: e.pidFile } } : {}),
  };
}

function recordExec(c: Ctx, e: Ev): Partial<Ctx> {
  return e.type === 'ExecStarted' ? { execs: { ...c.execs, [e.execId]: { pid: e.pid, startTime: e.startTime, args: e.args } }, exec: null } : {};
}

function beginRestore(c: Ctx, e: Ev, from: 'checkpointed' | 'deleted'): Partial<Ctx> {
  if (e.type !== 'RestoreRequested') return {};
  const base = from === 'deleted' ? { ...emptyContext(c.id), owner: e.owner } : { error: null };
  return { ...base, bundle: e.bundle ?? c.bundle, pidFile: e.pidFile, restoreRequest: e.options, restoreFrom: from };
}

/** `absent` and `deleted` take the same two intents. */
function fresh(c: Ctx, e: Ev): Out {
  if (e.type === 'CreateRequested') return to('creating', c, { ...emptyContext(c.id), bundle: e.bundle, pidFile: e.pidFile, owner: e.owner });
  if (e.type === 'RestoreRequested') return to('restoring', c, beginRestore(c, e, 'deleted'));
  return undefined;
}

/** The leaf state's own transitions. */
function own(s: MachineState, c: Ctx, e: Ev): Out {
  switch (s) {
    case 'absent':
    case 'deleted':
      return fresh(c, e);
    case 'creating':
      if (e.type === 'Created') {
        return to('created', c, {
          pid: e.pid, startTime: e.startTime, created: e.created, rootfs: e.rootfs, config: e.config, cgroup: e.cgroup,
          resources: e.config.linux?.resources ?? null,
        });
      }
      if (e.type === 'CreateFailed') return to('deleted', c, recordError(e));
      return undefined;
    case 'created':
      if (e.type === 'StartRequested') return to('starting', c, { error: null });
      if (e.type === 'KillRequested') return to('killing', c, begin(e, 'created'));
      if (e.type === 'PauseRequested') return to('pausing', c, begin(e, 'created'));
      if (e.type === 'UpdateRequested') return to('updating', c, begin(e, 'created'));
      return undefined;
    case 'starting':
      if (e.type === 'Exited') return to(s, c, recordExit(e));
      if (e.type === 'Started') return to(c.exit !== null ? 'stopped' : 'running', c);
      if (e.type === 'StartFailed') return to(c.exit !== null ? 'stopped' : 'created', c, recordError(e));
      return undefined;
    case 'running':
      if (e.type === 'ExecRequested') return Object.hasOwn(c.execs, e.execId) ? undefined : to('execing', c, begin(e, 'running'));
      if (e.type === 'ExecStarted') return c.exec?.execId === e.execId ? to(s, c, recordExec(c, e)) : undefined;
      if (e.type === 'ExecFailed') return c.exec?.execId === e.execId ? to(s, c, { exec: null }) : undefined;
      if (e.type === 'CheckpointRequested') return to('checkpointing', c, { resume: 'running', error: null, checkpointRequest: e.options });
      if (e.type === 'KillRequested') return to('killing', c, begin(e, 'running'));
      if (e.type === 'PauseRequested') return to('pausing', c, begin(e, 'running'));
      if (e.type === 'UpdateRequested') return to('updating', c, begin(e, 'running'));
      return undefined;
    case 'paused':
      if (e.type === 'ResumeRequested') return to('resuming', c, begin(e, 'paused'));
      if (e.type === 'KillRequested') return to('killing', c, begin(e, 'paused'));
      if (e.type === 'UpdateRequested') return to('updating', c, begin(e, 'paused'));
      return undefined;
    case 'killing':
      if (e.type === 'Exited') return to(s, c, recordExit(e));
      if (e.type === 'Signaled') return back(c);
      if (e.type === 'KillFailed') return back(c, recordError(e));
      return undefined;
    case 'pausing':
      if (e.type === 'Exited') return to(s, c, recordExit(e));
      if (e.type === 'Paused') return c.exit !== null ? to('stopped', c) : to('paused', c, { pausedFrom: c.resume === 'created' ? 'created' : 'running' });
      if (e.type === 'PauseFailed') return back(c, recordError(e));
      return undefined;
    case 'resuming':
      if (e.type === 'Exited') return to(s, c, recordExit(e));
      if (e.type === 'Resumed') return to(c.exit !== null ? 'stopped' : c.pausedFrom === 'created' ? 'created' : 'running', c);
      if (e.type === 'ResumeFailed') return back(c, recordError(e));
      return undefined;
    case 'execing':
      if (e.type === 'Exited') return to(s, c, recordExit(e));
      if (e.type === 'ExecStarted') return back(c, recordExec(c, e));
      if (e.type === 'ExecFailed') return back(c, { ...recordError(e), exec: null });
      return undefined;
    case 'updating':
      if (e.type === 'Exited') return to(s, c, recordExit(e));
      if (e.type === 'Updated') return back(c, { resources: e.resources, update: null });
      if (e.type === 'UpdateFailed') return back(c, recordError(e));
      return undefined;
    case 'stopped':
      if (e.type === 'Exited') {
        const completes = (e.code !== null || e.signal !== null) && (c.exit === null || (c.exit.code === null && c.exit.signal === null));
        return completes ? to(s, c, recordExit(e)) : undefined;
      }
      if (e.type === 'OomKilled') return e.count > c.oomKills ? to(s, c, { oomKills: e.count }) : undefined;
      if (e.type === 'DeleteRequested') return to('deleting', c, { force: e.force, error: null });
      return undefined;
    case 'deleting':
      if (e.type === 'Deleted') return to('deleted', c, { exit: e.exit ?? c.exit, execs: {} });
      if (e.type === 'DeleteFailed') return to('reconciling', c, { ...recordError(e), restoredFrom: 'deleting' });
      return undefined;
    case 'checkpointing':
      if (e.type === 'Checkpointed') {
        const applied = { checkpoint: { imagePath: e.imagePath, criuVersion: e.criuVersion, options: e.options }, checkpointRequest: null };
        return e.leaveRunning ? to('running', c, applied) : to('checkpointed', c, { ...applied, cgroup: null, exit: null });
      }
      if (e.type === 'CheckpointFailed') return to('running', c, { checkpointRequest: null, ...recordError(e) });
      return undefined;
    case 'checkpointed':
      if (e.type === 'RestoreRequested') return to('restoring', c, beginRestore(c, e, 'checkpointed'));
      if (e.type === 'DeleteRequested') return to('deleting', c, { force: e.force, error: null });
      return undefined;
    case 'restoring':
      if (e.type === 'Restored') {
        return to('running', c, {
          pid: e.pid, startTime: e.startTime, created: e.created, rootfs: e.rootfs, config: e.config, cgroup: e.cgroup,
          resources: e.config.linux?.resources ?? null, exit: null, restoreRequest: null, resume: 'running',
        });
      }
      if (e.type === 'RestoreFailed') return to(c.restoreFrom === 'checkpointed' ? 'checkpointed' : 'deleted', c, { restoreRequest: null, ...recordError(e) });
      return undefined;
    default:
      return undefined;
  }
}

/** `alive`'s transitions, for the states inside it. */
function alive(s: MachineState, c: Ctx, e: Ev): Out {
  if (e.type === 'Exited') return to('stopped', c, recordExit(e));
  if (e.type === 'OomKilled') return e.count > c.oomKills ? to(s, c, { oomKills: e.count }) : undefined;
  if (e.type === 'DeleteRequested') return e.force ? to('deleting', c, { force: true, error: null }) : undefined;
  return undefined;
}

const OBSERVABLE: ReadonlySet<string> = new Set(['created', 'running', 'paused', 'stopped', 'deleted', 'checkpointed']);

/** The root's transitions: an exec's exit, and reconciliation's findings, in any state. */
function root(s: MachineState, c: Ctx, e: Ev): Out {
  if (e.type === 'ExecExited') {
    if (!Object.hasOwn(c.execs, e.execId)) return undefined;
    const { [e.execId]: _gone, ...rest } = c.execs;
    return to(s, c, { execs: rest });
  }
  if (e.type === 'Observed' && OBSERVABLE.has(e.status)) {
    return to(e.status as MachineState, c, {
      restoredFrom: null,
      checkpointRequest: null,
      restoreRequest: null,
      exit: e.exit ?? (e.status === 'stopped' ? c.exit : null),
      ...(e.status === 'paused' || e.status === 'created' || e.status === 'running' ? { resume: e.status } : {}),
      ...(e.resources ? { resources: e.resources, update: null } : {}),
      ...(e.pausedFrom ? { pausedFrom: e.pausedFrom } : {}),
    });
  }
  return undefined;
}

/** `(state, context)` after the machine accepts `event`, or null when it refuses it there. */
export function evolve(from: Folded, event: ContainerEvent): Folded | null {
  const { state: s, context: c } = from;
  return own(s, c, event) ?? (ALIVE.has(s) ? alive(s, c, event) : undefined) ?? root(s, c, event) ?? null;
}
