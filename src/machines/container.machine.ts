import { assign, emit, enqueueActions, fromCallback, fromPromise, raise, setup } from 'xstate';
import type { ErrorInfo } from '../errors.js';
import type {
  ContainerEvent, Created, Deleted, ExitInfo, Exited, Fact, Observed, Signaled, Started,
} from './events.js';
import type { OciConfig } from './spec.js';
import { toErrorInfo } from './lifecycle.js';

/**
 * The lifecycle law of one container. Settled states: absent, created, running, stopped,
 * deleted. Transitional states (creating, starting, killing, deleting, reconciling) each invoke
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
  /** The settled state a kill returns to. */
  resume: 'created' | 'running';
  /** Arguments of the operation in flight. */
  signal: number;
  all: boolean;
  force: boolean;
  /** Set only while a loaded container reconciles: the state replay ended in. */
  restoredFrom: string | null;
}

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
    all: false, force: false, restoredFrom: null,
  };
}

const notProvided = (name: string) => async (): Promise<never> => {
  throw new Error(`effect ${name} was not provided`);
};

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
    // An exit first recorded without its status (seen by a process that was not the init's
    // parent) may be completed by the parent, which alone can reap it and learn the status.
    completesExit: ({ context, event }) => event.type === 'Exited'
      && (event.code !== null || event.signal !== null)
      && (context.exit === null || (context.exit.code === null && context.exit.signal === null)),
    resumeCreated: ({ context }) => context.resume === 'created',
    forced: ({ event }) => event.type === 'DeleteRequested' && event.force,
    observed: ({ event }, status: string) => event.type === 'Observed' && event.status === status,
  },
  actions: {
    emitFact: emit(({ event }) => event as Fact),
    recordExit: assign({
      exit: ({ event }) => event.type === 'Exited' ? { code: event.code, signal: event.signal } : null,
    }),
    recordError: assign({ error: ({ event }) => ('error' in event ? event.error : null) }),
    beginCreate: assign(({ context, event }) => event.type === 'CreateRequested'
      ? { ...emptyContext(context.id), bundle: event.bundle, pidFile: event.pidFile, owner: event.owner }
      : {}),
    beginKill: assign(({ event }, resume: 'created' | 'running') => event.type === 'KillRequested'
      ? { signal: event.signal, all: event.all, error: null, resume }
      : {}),
    // A finding that only confirms the state replay ended in is not a new fact: it is
    // neither emitted nor logged.
    applyObserved: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'Observed') return;
      const confirms = context.restoredFrom === event.status && event.exit === null;
      enqueue.assign({
        restoredFrom: null,
        exit: event.exit ?? (event.status === 'stopped' ? context.exit : null),
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
              rootfs: event.rootfs, config: event.config,
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
        DeleteRequested: { guard: 'forced', target: 'deleting', actions: assign({ force: true, error: null }) },
      },
      initial: 'created',
      states: {
        created: {
          on: {
            StartRequested: { target: 'starting', actions: assign({ error: null }) },
            KillRequested: { target: 'killing', actions: { type: 'beginKill', params: 'created' } },
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
            // An exit seen while the start handshake is in flight is recorded; the start's
            // own outcome then decides where the container lands.
            Exited: { actions: ['recordExit', 'emitFact'] },
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
          on: { KillRequested: { target: 'killing', actions: { type: 'beginKill', params: 'running' } } },
        },
        killing: {
          invoke: {
        src: 'signalContainer',
        input: ({ context }) => context,
        onDone: { actions: raise(({ event }) => event.output) },
        onError: { actions: raise(({ event }) => ({ type: 'KillFailed' as const, error: toErrorInfo(event.error) })) },
      },
          on: {
            Exited: { actions: ['recordExit', 'emitFact'] },
            Signaled: [
              { guard: 'exitKnown', target: '#container.stopped', actions: 'emitFact' },
              { guard: 'resumeCreated', target: 'created', actions: 'emitFact' },
              { target: 'running', actions: 'emitFact' },
            ],
            KillFailed: [
              { guard: 'exitKnown', target: '#container.stopped', actions: ['recordError', 'emitFact'] },
              { guard: 'resumeCreated', target: 'created', actions: ['recordError', 'emitFact'] },
              { target: 'running', actions: ['recordError', 'emitFact'] },
            ],
          },
        },
      },
    },
    stopped: {
      on: {
        Exited: { guard: 'completesExit', actions: ['recordExit', 'emitFact'] },
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
