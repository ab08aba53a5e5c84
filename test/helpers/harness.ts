import { createActor, fromCallback, fromPromise, waitFor } from 'xstate';
import { containerMachine, type ContainerContext, type EffectInput } from '../../src/machines/container.machine.js';
import type { ContainerEvent, Created, Deleted, ExecStarted, Observed, Paused, Resumed, Signaled, Started, Updated } from '../../src/machines/events.js';
import type { CheckpointOptions, Checkpointed, Restored } from '../../src/machines/events.js';
import { isSettled, leafState, type MachineState } from '../../src/machines/lifecycle.js';
import { replay, type LoggedEvent } from '../../src/machines/replay.js';
import { RuntimeError } from '../../src/errors.js';

/** Scripted outcomes of each effect: a fact, or an error to reject with. */
export interface Script {
  create?: (c: EffectInput) => Created | Error;
  start?: (c: EffectInput) => Started | Error;
  signal?: (c: EffectInput) => Signaled | Error;
  delete?: (c: EffectInput) => Deleted | Error;
  pause?: (c: EffectInput) => Paused | Error;
  resume?: (c: EffectInput) => Resumed | Error;
  update?: (c: EffectInput) => Updated | Error;
  probe?: (c: EffectInput) => Observed | Error;
  exec?: (c: EffectInput) => ExecStarted | Error;
  checkpoint?: (c: EffectInput) => Checkpointed | Error;
  restore?: (c: EffectInput) => Restored | Error;
}

let nextExecPid = 500;
const execStarted = (c: EffectInput): ExecStarted => ({
  type: 'ExecStarted', execId: c.exec?.execId ?? '', pid: nextExecPid++, startTime: '2000', args: c.exec?.process.args ?? [],
});

export const checkpointOptions = (o: Partial<CheckpointOptions> = {}): CheckpointOptions => ({
  imagePath: '/img', workPath: null, tcpEstablished: false, extUnixSk: false, shellJob: false, fileLocks: false,
  manageCgroupsMode: 'soft', emptyNs: [], lazyPages: false, leaveRunning: false, preDump: false, parentPath: null, pageServer: null, ...o,
});

/** What the checkpoint effect reports by default: the request, done. */
export const checkpointed = (c: EffectInput): Checkpointed => ({
  type: 'Checkpointed', imagePath: c.checkpointRequest!.imagePath, criuVersion: '4.1.1', options: c.checkpointRequest!,
  leaveRunning: c.checkpointRequest!.leaveRunning || c.checkpointRequest!.preDump,
});

export const restored = (c: EffectInput, pid = 77): Restored => ({
  type: 'Restored', pid, startTime: '2000', created: '2026-01-02T00:00:00.000Z', rootfs: '/b/rootfs',
  config: created().config, cgroup: `/berth/${c.id}`, imagePath: c.restoreRequest!.imagePath, criuVersion: '4.1.1',
});

export const created = (pid = 42): Created => ({
  type: 'Created', pid, startTime: '1000', created: '2026-01-01T00:00:00.000Z', rootfs: '/b/rootfs',
  config: { ociVersion: '1.0.2', root: { path: 'rootfs' }, linux: { resources: { pids: { limit: 10 } } } } as Created['config'],
  cgroup: '/berth/c1',
});

const run = <T>(f: ((c: EffectInput) => T | Error) | undefined, c: EffectInput, fallback: T): Promise<T> => {
  const out = f ? f(c) : fallback;
  return out instanceof Error ? Promise.reject(out) : Promise.resolve(out);
};

/**
 * The container machine with fake effects provided through `provide` (no module mocks), and
 * a log kept as the runtime keeps it: intents appended when sent, facts when emitted.
 */
export function harness(script: Script = {}, restore?: { state: MachineState; context: ContainerContext }) {
  const exits: ((e: ContainerEvent) => void)[] = [];
  /** What the fake exec watcher was told to watch (exec ids), and its way back to the machine. */
  const execWatch = { watched: [] as string[], sendBack: null as ((e: ContainerEvent) => void) | null };
  const machine = containerMachine.provide({
    actors: {
      createContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.create, input, created())),
      startContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.start, input, { type: 'Started' } as Started)),
      signalContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.signal, input, { type: 'Signaled', signal: input.signal, count: 1 } as Signaled)),
      deleteContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.delete, input, { type: 'Deleted', exit: null } as Deleted)),
      pauseContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.pause, input, { type: 'Paused' } as Paused)),
      resumeContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.resume, input, { type: 'Resumed' } as Resumed)),
      updateContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.update, input, { type: 'Updated', resources: { ...input.resources, ...input.update } } as Updated)),
      probe: fromPromise(({ input }: { input: EffectInput }) => run(script.probe, input, { type: 'Observed', status: 'running', reason: 'alive', exit: null } as Observed)),
      checkpointContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.checkpoint, input, checkpointed(input))),
      restoreContainer: fromPromise(({ input }: { input: EffectInput }) => run(script.restore, input, restored(input))),
      watchExit: fromCallback<ContainerEvent, EffectInput>(({ sendBack }) => {
        exits.push(sendBack);
        return () => { exits.splice(exits.indexOf(sendBack), 1); };
      }),
      execProcess: fromPromise(({ input }: { input: EffectInput }) => run(script.exec, input, execStarted(input))),
      watchExecs: fromCallback<ExecStarted, EffectInput>(({ input, sendBack, receive }) => {
        execWatch.watched.push(...Object.keys(input.execs));
        execWatch.sendBack = sendBack;
        receive((e) => execWatch.watched.push(e.execId));
        return () => { execWatch.sendBack = null; };
      }),
    },
  });
  const actor = createActor(machine, { input: restore ? { id: 'c1', restore } : { id: 'c1' } });
  const log: LoggedEvent[] = [];
  const emitted: string[] = [];
  const append = (e: ContainerEvent) => {
    const { type, ...data } = e;
    log.push({ version: log.length + 1, type, data: data as Record<string, unknown>, at: '' });
  };
  actor.on('*', (e) => {
    emitted.push(e.type);
    append(e as ContainerEvent);
  });
  actor.start();
  return {
    actor,
    log,
    emitted,
    state: () => leafState(actor.getSnapshot().value),
    context: () => actor.getSnapshot().context,
    /** Send an intent as the runtime does: refused unless the machine can take it. */
    async send(e: ContainerEvent): Promise<MachineState> {
      if (!actor.getSnapshot().can(e)) throw new RuntimeError('ILLEGAL_STATE', `${e.type} refused in ${leafState(actor.getSnapshot().value)}`);
      append(e);
      actor.send(e);
      return this.settle();
    },
    async settle(): Promise<MachineState> {
      const s = await waitFor(actor, (s) => isSettled(leafState(s.value)));
      return leafState(s.value);
    },
    /** The exit watcher reports an exit. */
    exit(code: number | null, signal: number | null = null): void {
      for (const sb of [...exits]) sb({ type: 'Exited', code, signal });
    },
    watching: () => exits.length,
    /** Exec ids the exec watcher was given (from the restored context, then each ExecStarted). */
    execsWatched: () => execWatch.watched,
    /** The exec watcher reports an exec'd process's exit. */
    execExit(execId: string, code: number | null, signal: number | null = null): void {
      execWatch.sendBack?.({ type: 'ExecExited', execId, code, signal });
    },
    /** The kernel reports OOM kills (through the exit watcher). */
    oom(count: number): void {
      for (const sb of [...exits]) sb({ type: 'OomKilled', count });
    },
    replayed: () => replay('c1', log),
  };
}
