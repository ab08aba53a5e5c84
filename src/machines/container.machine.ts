import { assign, emit, enqueueActions, fromCallback, fromPromise, raise, setup } from 'xstate';
import type { ErrorInfo } from '../errors.js';
import type {
  ContainerEvent, Created, Deleted, ExitInfo, Fact, Observed, Paused, Resumed, Signaled, Started, Updated,
} from './events.js';
import type { OciConfig, OciResources } from './spec.js';
import { toErrorInfo } from './lifecycle.js';

/**
 * The lifecycle law of one container. Settled states: absent, created, running, paused,
 * stopped, deleted. Transitional states (creating, starting, killing, pausing, resuming,
 * updating, deleting, reconciling) each invoke
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
    id, bundle: null, rootfs: null, config: null, pidFile: null, owner: '', pid: null,
    startTime: null, created: null, exit: null, error: null, resume: 'created', signal: 0,
    all: false, force: false, restoredFrom: null, cgroup: null, resources: null, update: null,
    oomKills: 0, pausedFrom: 'running',
  };
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`effect ${name} was not provided`);
};

/**
 * Where an operation started from a settled alive state lands: stopped if the init exited
 * meanwhile, else the state it came from. `extra` runs on every branch (emit, record error).
 */
const back = (actions: ('emitFact' | 'recordError' | 'applyUpdate')[]) => [
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
  },
  guards: {
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
  },
  actions: {
    emitFact: emit(({ event }) => event as Fact),
    recordExit: assign({
      exit: ({ event }) => (event.type === 'Exited' ? { code: event.code, signal: event.signal } : null),
    }),
    recordError: assign({ error: ({ event }) => ('error' in event ? event.error : null) }),
    recordOom: assign({ oomKills: ({ context, event }) => (event.type === 'OomKilled' ? event.count : context.oomKills) }),
    applyUpdate: assign({ resources: ({ context, event }) => (event.type === 'Updated' ? event.resources : context.resources), update: null }),
    beginCreate: assign(({ context, event }) => event.type === 'CreateRequested'
      ? { ...emptyContext(context.id), bundle: event.bundle, pidFile: event.pidFile, owner: event.owner }
      : {}),
    // Starting an operation from a settled alive state: remember where to come back to.
    begin: assign(({ event }, resume: Resumable) => ({
      resume,
      error: null,
      ...(event.type === 'KillRequested' ? { signal: event.signal, all: event.all } : {}),
      ...(event.type === 'UpdateRequested' ? { update: event.resources } : {}),
    })),
    applyObserved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'Observed') return;
      // A finding that only confirms the state replay ended in is not a new fact.
      const confirms = context.restoredFrom === event.status && event.exit === null && !event.resources
        && (event.pausedFrom === undefined || event.pausedFrom === context.pausedFrom);
      enqueue.assign({
        restoredFrom: null,
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
  on: {
    // Reconciliation: a probe's finding overrides whatever the log last said.
    Observed: [
      { guard: { type: 'observed', params: 'created' }, target: '#container.alive.created', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'running' }, target: '#container.alive.running', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'paused' }, target: '#container.alive.paused', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'stopped' }, target: '#container.stopped', actions: 'applyObserved' },
      { guard: { type: 'observed', params: 'deleted' }, target: '#container.deleted', actions: 'applyObserved' },
    ],
  },
  states: {
    boot: {
      always: [
        { guard: { type: 'restoredAs', params: 'stopped' }, target: 'stopped', actions: assign({ restoredFrom: null }) },
        { guard: { type: 'restoredAs', params: 'deleted' }, target: 'deleted', actions: assign({ restoredFrom: null }) },
        { guard: 'restoring', target: 'reconciling' },
        { target: 'absent' },
      ],
    },
    absent: {
      on: { CreateRequested: { target: 'creating', actions: 'beginCreate' } },
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
          actions: [assign({ exit: ({ context, event }) => event.exit ?? context.exit }), 'emitFact'],
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
      on: { CreateRequested: { target: 'creating', actions: 'beginCreate' } },
    },
  },
});

export type ContainerMachine = typeof containerMachine;
