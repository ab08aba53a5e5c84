import { assign, emit, enqueueActions, fromCallback, fromPromise, raise, sendTo, setup } from 'xstate';
import type { ErrorInfo } from '../errors.js';
import type {
  ContainerEvent, Created, Deleted, ExecRequested, ExecStarted, ExitInfo, Fact, Observed, Paused, Resumed, Signaled, Started,
  Updated,
} from './events.js';
import type { CheckpointOptions, Checkpointed, RestoreOptions, Restored } from './events.js';
import type { OciConfig, OciResources } from './spec.js';
import { toErrorInfo } from './lifecycle.js';

/**
 * The lifecycle law of one container. Settled states: absent, created, running, paused,
 * stopped, checkpointed, deleted. Transitional states (creating, starting, killing, pausing,
 * resuming, updating, execing, checkpointing, restoring, deleting, reconciling) each invoke
 * exactly one effect actor; the runtime provides them (`machine.provide({ actors })`), so this
 * file imports no effect, no store and no node module.
 *
 * An effect resolves with a fact (or rejects); the machine raises that fact as its own event,
 * so the live path and replay (which feeds logged facts to `transition()`) take the same
 * transitions. Every accepted fact is emitted for the runtime to append.
 */

export interface ContainerContext {
  id: string;
  bundle: string | null;
  rootfs: string | null;
  config: OciConfig | null;
  pidFile: string | null;
  /** The checkpoint or restore in flight. */
  checkpointRequest: CheckpointOptions | null;
  restoreRequest: RestoreOptions | null;
  /** The last checkpoint criu took of this container. */
  checkpoint: { imagePath: string; criuVersion: string; options: CheckpointOptions } | null;
  /** Where a failed restore lands: back in checkpointed, or deleted (a restore into a new container). */
  restoreFrom: 'checkpointed' | 'deleted';
  owner: string;
  pid: number | null;
  startTime: string | null;
  created: string | null;
  exit: ExitInfo | null;
  error: ErrorInfo | null;
  /** The settled state a kill, pause, resume or update returns to. */
  resume: Resumable;
  /** The container's cgroup path, once created. */
  cgroup: string | null;
  /** The limits in force: the spec's `linux.resources` as created, then as updated. */
  resources: OciResources | null;
  /** The resources of the update in flight. */
  update: OciResources | null;
  /** OOM kills the kernel reported so far. */
  oomKills: number;
  /** Whether a paused container had been started: resume returns it there. */
  pausedFrom: 'created' | 'running';
  /** Arguments of the operation in flight. */
  signal: number;
  all: boolean;
  force: boolean;
  /** Set only while a loaded container reconciles: the state replay ended in. */
  restoredFrom: string | null;
  /** Exec'd processes that run (started, no exit seen yet), by exec id. */
  execs: Record<string, RunningExec>;
  /** The exec in flight (from ExecRequested until its outcome). */
  exec: Omit<ExecRequested, 'type'> | null;
}

export interface RunningExec {
  pid: number;
  startTime: string;
  args: string[];
}

export type Resumable = 'created' | 'running' | 'paused';

export interface ContainerInput {
  id: string;
  restore?: { state: string; context: ContainerContext };
}

/** What every effect actor receives: the container as the machine knows it. */
export type EffectInput = Readonly<ContainerContext>;

export function emptyContext(id: string): ContainerContext {
  return {
    checkpointRequest: null, restoreRequest: null, checkpoint: null, restoreFrom: 'deleted',
    id, bundle: null, rootfs: null, config: null, pidFile: null, owner: '', pid: null,
    startTime: null, created: null, exit: null, error: null, resume: 'created', signal: 0,
    all: false, force: false, restoredFrom: null, cgroup: null, resources: null, update: null,
    oomKills: 0, pausedFrom: 'running', execs: {}, exec: null,
  };
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`effect ${name} was not provided`);
};

/**
 * Where an operation started from a settled alive state lands: stopped if the init exited
 * meanwhile, else the state it came from. `extra` runs on every branch (emit, record error).
 */
const back = (actions: ('emitFact' | 'recordError' | 'applyUpdate' | 'recordExec' | 'watchExec' | 'clearExec')[]) => [
  { guard: 'exitKnown' as const, target: '#container.stopped', actions },
  { guard: { type: 'resumeIs' as const, params: 'created' as const }, target: 'created', actions },
  { guard: { type: 'resumeIs' as const, params: 'paused' as const }, target: 'paused', actions },
  { target: 'running', actions },
];

/**
 * An exit seen while an effect is in flight is recorded; that effect's own outcome then decides
 * where the container lands (the same in every transitional state inside `alive`).
 */
const exitMeanwhile = { actions: ['recordExit', 'emitFact'] as ('recordExit' | 'emitFact')[] };

export const containerMachine = setup({
  types: {
    context: {} as ContainerContext,
    events: {} as ContainerEvent,
    input: {} as ContainerInput,
    emitted: {} as Fact,
  },
  actors: {
    checkpointContainer: fromPromise<Checkpointed, EffectInput>(notProvided('checkpointContainer')),
    restoreContainer: fromPromise<Restored, EffectInput>(notProvided('restoreContainer')),
    createContainer: fromPromise<Created, EffectInput>(notProvided('createContainer')),
    startContainer: fromPromise<Started, EffectInput>(notProvided('startContainer')),
    signalContainer: fromPromise<Signaled, EffectInput>(notProvided('signalContainer')),
    pauseContainer: fromPromise<Paused, EffectInput>(notProvided('pauseContainer')),
    resumeContainer: fromPromise<Resumed, EffectInput>(notProvided('resumeContainer')),
    updateContainer: fromPromise<Updated, EffectInput>(notProvided('updateContainer')),
    deleteContainer: fromPromise<Deleted, EffectInput>(notProvided('deleteContainer')),
    probe: fromPromise<Observed, EffectInput>(notProvided('probe')),
    watchExit: fromCallback<ContainerEvent, EffectInput>(() => {
      throw new Error('effect watchExit was not provided');
    }),
    execProcess: fromPromise<ExecStarted, EffectInput>(notProvided('execProcess')),
    // Lives as long as the machine: watches every running exec (those of the restored context,
    // then each ExecStarted it is sent) and reports ExecExited.
    watchExecs: fromCallback<ExecStarted, EffectInput>(() => {
      throw new Error('effect watchExecs was not provided');
    }),
  },
  guards: {
    leftRunning: ({ event }) => event.type === 'Checkpointed' && event.leaveRunning,
    restoreFromCheckpointed: ({ context }) => context.restoreFrom === 'checkpointed',
    restoredAs: ({ context }, state: string) => context.restoredFrom === state,
    restoring: ({ context }) => context.restoredFrom !== null,
    exitKnown: ({ context }) => context.exit !== null,
    resumeIs: ({ context }, state: Resumable) => context.resume === state,
    // An exit first recorded without its status (seen by a process that was not the init's
    // parent) may be completed by the parent, which alone can reap it and learn the status.
    completesExit: ({ context, event }) => event.type === 'Exited'
      && (event.code !== null || event.signal !== null)
      && (context.exit === null || (context.exit.code === null && context.exit.signal === null)),
    forced: ({ event }) => event.type === 'DeleteRequested' && event.force,
    observed: ({ event }, status: string) => event.type === 'Observed' && event.status === status,
    moreOom: ({ context, event }) => event.type === 'OomKilled' && event.count > context.oomKills,
    execRunning: ({ context, event }) => event.type === 'ExecExited' && Object.hasOwn(context.execs, event.execId),
    execIdFree: ({ context, event }) => event.type === 'ExecRequested' && !Object.hasOwn(context.execs, event.execId),
    // The outcome of an exec whose intent another process's probe overtook (it settled the
    // container back in running while the exec was in flight): still a fact to keep.
    pendingExec: ({ context, event }) => (event.type === 'ExecStarted' || event.type === 'ExecFailed')
      && context.exec?.execId === event.execId,
  },
  actions: {
    emitFact: emit(({ event }) => event as Fact),
    recordExit: assign({
      exit: ({ event }) => (event.type === 'Exited' ? { code: event.code, signal: event.signal } : null),
    }),
    recordError: assign({ error: ({ event }) => ('error' in event ? event.error : null) }),
    recordOom: assign({ oomKills: ({ context, event }) => (event.type === 'OomKilled' ? event.count : context.oomKills) }),
    applyUpdate: assign({ resources: ({ context, event }) => (event.type === 'Updated' ? event.resources : context.resources), update: null }),
    recordExec: assign(({ context, event }) => event.type === 'ExecStarted'
      ? { execs: { ...context.execs, [event.execId]: { pid: event.pid, startTime: event.startTime, args: event.args } }, exec: null }
      : {}),
    clearExec: assign({ exec: null }),
    forgetExec: assign({
      execs: ({ context, event }) => {
        if (event.type !== 'ExecExited') return context.execs;
        const { [event.execId]: _gone, ...rest } = context.execs;
        return rest;
      },
    }),
    watchExec: sendTo('execs', ({ event }) => event as ExecStarted),
    beginCreate: assign(({ context, event }) => event.type === 'CreateRequested'
      ? { ...emptyContext(context.id), bundle: event.bundle, pidFile: event.pidFile, owner: event.owner }
      : {}),
    // A restore into a new container starts from nothing, as a create; in place it keeps the
    // checkpointed container's record (its bundle unless another is given).
    beginRestore: assign(({ context, event }, from: 'checkpointed' | 'deleted') => {
      if (event.type !== 'RestoreRequested') return {};
      const base = from === 'deleted' ? { ...emptyContext(context.id), owner: event.owner } : { error: null };
      return { ...base, bundle: event.bundle ?? context.bundle, pidFile: event.pidFile, restoreRequest: event.options, restoreFrom: from };
    }),
    applyCheckpoint: assign(({ event }) => event.type === 'Checkpointed'
      ? { checkpoint: { imagePath: event.imagePath, criuVersion: event.criuVersion, options: event.options }, checkpointRequest: null }
      : {}),
    // Starting an operation from a settled alive state: remember where to come back to.
    begin: assign(({ event }, resume: Resumable) => ({
      resume,
      error: null,
      ...(event.type === 'KillRequested' ? { signal: event.signal, all: event.all } : {}),
      ...(event.type === 'UpdateRequested' ? { update: event.resources } : {}),
      ...(event.type === 'ExecRequested' ? { exec: { execId: event.execId, process: event.process, pidFile: event.pidFile } } : {}),
    })),
    applyObserved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'Observed') return;
      // A finding that only confirms the state replay ended in is not a new fact.
      const confirms = context.restoredFrom === event.status && event.exit === null && !event.resources
        && (event.pausedFrom === undefined || event.pausedFrom === context.pausedFrom);
      enqueue.assign({
        restoredFrom: null,
        checkpointRequest: null,
        restoreRequest: null,
        exit: event.exit ?? (event.status === 'stopped' ? context.exit : null),
        ...(event.status === 'paused' || event.status === 'created' || event.status === 'running' ? { resume: event.status } : {}),
        ...(event.resources ? { resources: event.resources, update: null } : {}),
        ...(event.pausedFrom ? { pausedFrom: event.pausedFrom } : {}),
      });
      if (!confirms) enqueue.emit(event);
    }),
  },
}).createMachine({
  id: 'container',
  context: ({ input }) => input.restore
    ? { ...input.restore.context, restoredFrom: input.restore.state }
    : emptyContext(input.id),
  initial: 'boot',
  invoke: { id: 'execs', src: 'watchExecs', input: ({ context }) => context },
  on: {
    // Accepted in any state in which that exec runs: alive, and after the init's exit too (an
    // exec in the container's pid namespace dies with the init, and is reaped after it).
    ExecExited: { guard: 'execRunning', actions: ['forgetExec', 'emitFact'] },
    // Reconciliation: a probe's finding overrides whatever the log last said.
    Observed: [
      { guard: { type: 'observed', params: 'created' }, target: '#container.alive.created', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'running' }, target: '#container.alive.running', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'paused' }, target: '#container.alive.paused', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'stopped' }, target: '#container.stopped', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'deleted' }, target: '#container.deleted', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'checkpointed' }, target: '#container.checkpointed', actions: 'applyObserved' },
    ],
  },
  states: {
    boot: {
      always: [
        { guard: { type: 'restoredAs', params: 'stopped' }, target: 'stopped', actions: assign({ restoredFrom: null }) },
        { guard: { type: 'restoredAs', params: 'deleted' }, target: 'deleted', actions: assign({ restoredFrom: null }) },
        { guard: { type: 'restoredAs', params: 'checkpointed' }, target: 'checkpointed', actions: assign({ restoredFrom: null }) },
        { guard: 'restoring', target: 'reconciling' },
        { target: 'absent' },
      ],
    },
    absent: {
      on: {
        CreateRequested: { target: 'creating', actions: 'beginCreate' },
        RestoreRequested: { target: 'restoring', actions: { type: 'beginRestore', params: 'deleted' } },
      },
    },
    creating: {
      invoke: {
            src: 'createContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'CreateFailed' as const, error: toErrorInfo(event.error) })) },
          },
      on: {
        Created: {
          target: 'alive.created',
          actions: [
            assign(({ event }) => ({
              pid: event.pid, startTime: event.startTime, created: event.created,
              rootfs: event.rootfs, config: event.config, cgroup: event.cgroup,
              resources: event.config.linux?.resources ?? null,
            })),
            'emitFact',
          ],
        },
        CreateFailed: { target: 'deleted', actions: ['recordError', 'emitFact'] },
      },
    },
    alive: {
      invoke: { src: 'watchExit', input: ({ context }) => context },
      on: {
        Exited: { target: 'stopped', actions: ['recordExit', 'emitFact'] },
        OomKilled: { guard: 'moreOom', actions: ['recordOom', 'emitFact'] },
        DeleteRequested: { guard: 'forced', target: 'deleting', actions: assign({ force: true, error: null }) },
      },
      initial: 'created',
      states: {
        created: {
          on: {
            StartRequested: { target: 'starting', actions: assign({ error: null }) },
            KillRequested: { target: 'killing', actions: { type: 'begin', params: 'created' } },
            PauseRequested: { target: 'pausing', actions: { type: 'begin', params: 'created' } },
            UpdateRequested: { target: 'updating', actions: { type: 'begin', params: 'created' } },
          },
        },
        starting: {
          invoke: {
            src: 'startContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'StartFailed' as const, error: toErrorInfo(event.error) })) },
          },
          on: {
            Exited: exitMeanwhile,
            Started: [
              { guard: 'exitKnown', target: '#container.stopped', actions: 'emitFact' },
              { target: 'running', actions: 'emitFact' },
            ],
            StartFailed: [
              { guard: 'exitKnown', target: '#container.stopped', actions: ['recordError', 'emitFact'] },
              { target: 'created', actions: ['recordError', 'emitFact'] },
            ],
          },
        },
        running: {
          on: {
            ExecRequested: { guard: 'execIdFree', target: 'execing', actions: { type: 'begin', params: 'running' } },
            ExecStarted: { guard: 'pendingExec', actions: ['recordExec', 'watchExec', 'emitFact'] },
            ExecFailed: { guard: 'pendingExec', actions: ['clearExec', 'emitFact'] },
            CheckpointRequested: {
              target: '#container.checkpointing',
              actions: assign(({ event }) => ({ resume: 'running' as const, error: null, ...(event.type === 'CheckpointRequested' ? { checkpointRequest: event.options } : {}) })),
            },
            KillRequested: { target: 'killing', actions: { type: 'begin', params: 'running' } },
            PauseRequested: { target: 'pausing', actions: { type: 'begin', params: 'running' } },
            UpdateRequested: { target: 'updating', actions: { type: 'begin', params: 'running' } },
          },
        },
        paused: {
          on: {
            ResumeRequested: { target: 'resuming', actions: { type: 'begin', params: 'paused' } },
            KillRequested: { target: 'killing', actions: { type: 'begin', params: 'paused' } },
            UpdateRequested: { target: 'updating', actions: { type: 'begin', params: 'paused' } },
          },
        },
        killing: {
          invoke: {
            src: 'signalContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'KillFailed' as const, error: toErrorInfo(event.error) })) },
          },
          on: {
            Exited: exitMeanwhile,
            Signaled: back(['emitFact']),
            KillFailed: back(['recordError', 'emitFact']),
          },
        },
        pausing: {
          invoke: {
            src: 'pauseContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'PauseFailed' as const, error: toErrorInfo(event.error) })) },
          },
          on: {
            Exited: exitMeanwhile,
            Paused: [
              { guard: 'exitKnown', target: '#container.stopped', actions: 'emitFact' },
              {
                target: 'paused',
                actions: [assign({ pausedFrom: ({ context }) => (context.resume === 'created' ? 'created' : 'running') }), 'emitFact'],
              },
            ],
            PauseFailed: back(['recordError', 'emitFact']),
          },
        },
        resuming: {
          invoke: {
            src: 'resumeContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'ResumeFailed' as const, error: toErrorInfo(event.error) })) },
          },
          on: {
            Exited: exitMeanwhile,
            // A resumed container is running, or created if it was paused before it started.
            Resumed: [
              { guard: 'exitKnown', target: '#container.stopped', actions: 'emitFact' },
              { guard: ({ context }) => context.pausedFrom === 'created', target: 'created', actions: 'emitFact' },
              { target: 'running', actions: 'emitFact' },
            ],
            ResumeFailed: back(['recordError', 'emitFact']),
          },
        },
        execing: {
          invoke: {
            src: 'execProcess',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: {
              actions: raise(({ context, event }) => ({
                type: 'ExecFailed' as const, execId: context.exec?.execId ?? '', error: toErrorInfo(event.error),
              })),
            },
          },
          on: {
            Exited: exitMeanwhile,
            ExecStarted: back(['recordExec', 'watchExec', 'emitFact']),
            ExecFailed: back(['recordError', 'clearExec', 'emitFact']),
          },
        },
        updating: {
          invoke: {
            src: 'updateContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'UpdateFailed' as const, error: toErrorInfo(event.error) })) },
          },
          on: {
            Exited: exitMeanwhile,
            Updated: back(['applyUpdate', 'emitFact']),
            UpdateFailed: back(['recordError', 'emitFact']),
          },
        },
      },
    },
    stopped: {
      on: {
        Exited: { guard: 'completesExit', actions: ['recordExit', 'emitFact'] },
        OomKilled: { guard: 'moreOom', actions: ['recordOom', 'emitFact'] },
        DeleteRequested: {
          target: 'deleting',
          actions: assign(({ event }) => ({ force: event.force, error: null })),
        },
      },
    },
    deleting: {
      invoke: {
            src: 'deleteContainer',
            input: ({ context }) => context,
            onDone: { actions: raise(({ event }) => event.output) },
            onError: { actions: raise(({ event }) => ({ type: 'DeleteFailed' as const, error: toErrorInfo(event.error) })) },
          },
      on: {
        Deleted: {
          target: 'deleted',
          // The cgroup is gone, so no exec'd process can still run.
          actions: [assign({ exit: ({ context, event }) => event.exit ?? context.exit, execs: {} }), 'emitFact'],
        },
        // A failed delete leaves the container in a state only the kernel can tell.
        DeleteFailed: {
          target: 'reconciling',
          actions: ['recordError', 'emitFact', assign({ restoredFrom: 'deleting' })],
        },
      },
    },
    reconciling: {
      invoke: {
        src: 'probe',
        input: ({ context }) => context,
        onDone: { actions: raise(({ event }) => event.output) },
        onError: {
          actions: raise(({ event }) => ({
            type: 'Observed' as const, status: 'stopped' as const, exit: null,
            reason: `probe failed: ${toErrorInfo(event.error).message}`,
          })),
        },
      },
    },
    deleted: {
      on: {
        CreateRequested: { target: 'creating', actions: 'beginCreate' },
        RestoreRequested: { target: 'restoring', actions: { type: 'beginRestore', params: 'deleted' } },
      },
    },
    /*
     * Outside `alive`: the exit watcher is stopped while criu works, so the init's death at the
     * end of a dump is the checkpoint's own outcome, not an `Exited` fact racing with it. A
     * container left running (or one a failed dump left alive) re-enters `alive`, whose
     * watcher reports at once an exit that happened meanwhile.
     */
    checkpointing: {
      invoke: {
        src: 'checkpointContainer',
        input: ({ context }) => context,
        onDone: { actions: raise(({ event }) => event.output) },
        onError: { actions: raise(({ event }) => ({ type: 'CheckpointFailed' as const, error: toErrorInfo(event.error) })) },
      },
      on: {
        Checkpointed: [
          { guard: 'leftRunning', target: '#container.alive.running', actions: ['applyCheckpoint', 'emitFact'] },
          // criu killed the processes and the effect removed the emptied cgroup.
          { target: 'checkpointed', actions: ['applyCheckpoint', assign({ cgroup: null, exit: null }), 'emitFact'] },
        ],
        CheckpointFailed: { target: '#container.alive.running', actions: [assign({ checkpointRequest: null }), 'recordError', 'emitFact'] },
      },
    },
    /** Its processes are gone, its images on disk: OCI status `stopped`; restore or delete it. */
    checkpointed: {
      on: {
        RestoreRequested: { target: 'restoring', actions: { type: 'beginRestore', params: 'checkpointed' } },
        DeleteRequested: { target: 'deleting', actions: assign(({ event }) => ({ force: event.force, error: null })) },
      },
    },
    restoring: {
      invoke: {
        src: 'restoreContainer',
        input: ({ context }) => context,
        onDone: { actions: raise(({ event }) => event.output) },
        onError: { actions: raise(({ event }) => ({ type: 'RestoreFailed' as const, error: toErrorInfo(event.error) })) },
      },
      on: {
        Restored: {
          target: '#container.alive.running',
          actions: [
            assign(({ event }) => ({
              pid: event.pid, startTime: event.startTime, created: event.created, rootfs: event.rootfs,
              config: event.config, cgroup: event.cgroup, resources: event.config.linux?.resources ?? null,
              exit: null, restoreRequest: null, resume: 'running' as const,
            })),
            'emitFact',
          ],
        },
        RestoreFailed: [
          { guard: 'restoreFromCheckpointed', target: 'checkpointed', actions: [assign({ restoreRequest: null }), 'recordError', 'emitFact'] },
          { target: 'deleted', actions: [assign({ restoreRequest: null }), 'recordError', 'emitFact'] },
        ],
      },
    },
  },
});

export type ContainerMachine = typeof containerMachine;
