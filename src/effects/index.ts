import { fromCallback, fromPromise } from 'xstate';
import type { EffectInput } from '../machines/container.machine.js';
import type { ContainerEvent, ExecStarted } from '../machines/events.js';
import { createContainer } from './create.js';
import { deleteContainer } from './delete.js';
import type { EffectDeps } from './deps.js';
import { signalContainer } from './kill.js';
import { pauseContainer, resumeContainer, updateContainer } from './freeze.js';
import { probeContainer } from './probe.js';
import { startContainer } from './start.js';
import { watchExit } from './watch.js';
import { execProcess } from './exec.js';
import { watchExecs } from './execWatch.js';
import { checkpointContainer } from './checkpoint.js';
import { restoreContainer } from './restore.js';

/** The effect actors handed to `containerMachine.provide({ actors })`, bound to one set of deps. */
export function makeEffects(d: EffectDeps) {
  return {
    createContainer: fromPromise(({ input }: { input: EffectInput }) => createContainer(d, input)),
    startContainer: fromPromise(({ input }: { input: EffectInput }) => startContainer(d, input)),
    signalContainer: fromPromise(({ input }: { input: EffectInput }) => signalContainer(d, input)),
    pauseContainer: fromPromise(({ input }: { input: EffectInput }) => pauseContainer(d, input)),
    resumeContainer: fromPromise(({ input }: { input: EffectInput }) => resumeContainer(d, input)),
    updateContainer: fromPromise(({ input }: { input: EffectInput }) => updateContainer(d, input)),
    deleteContainer: fromPromise(({ input }: { input: EffectInput }) => deleteContainer(d, input)),
    probe: fromPromise(({ input }: { input: EffectInput }) => probeContainer(d, input)),
    checkpointContainer: fromPromise(({ input }: { input: EffectInput }) => checkpointContainer(d, input)),
    restoreContainer: fromPromise(({ input }: { input: EffectInput }) => restoreContainer(d, input)),
    watchExit: fromCallback<ContainerEvent, EffectInput>(({ input, sendBack }) => watchExit(d, input, sendBack)),
    execProcess: fromPromise(({ input }: { input: EffectInput }) => execProcess(d, input)),
    watchExecs: fromCallback<ExecStarted, EffectInput>(({ input, sendBack, receive }) => watchExecs(d, input, sendBack, receive)),
  };
}

export type { EffectDeps } from './deps.js';
