import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RuntimeError } from '../../src/errors.js';
import type { ContainerEvent } from '../../src/machines/events.js';
import { checkpointOptions, harness, type Script } from '../helpers/harness.js';

/**
 * Rule 2 of the design: after any sequence of operations, the live machine equals the replay
 * of the events it logged. Operations, effect outcomes and exits are all generated.
 */
type Op =
  | { kind: 'intent'; event: ContainerEvent }
  | { kind: 'exit'; code: number | null; signal: number | null }
  | { kind: 'oom'; count: number }
  | { kind: 'execExit'; n: number; code: number | null };

const intent = fc.oneof(
  fc.constant<ContainerEvent>({ type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' }),
  fc.constant<ContainerEvent>({ type: 'StartRequested' }),
  fc.integer({ min: 1, max: 31 }).map((signal): ContainerEvent => ({ type: 'KillRequested', signal, all: false })),
  fc.boolean().map((force): ContainerEvent => ({ type: 'DeleteRequested', force })),
  fc.constant<ContainerEvent>({ type: 'PauseRequested' }),
  fc.constant<ContainerEvent>({ type: 'ResumeRequested' }),
  fc.integer({ min: 1, max: 100 }).map((limit): ContainerEvent => ({ type: 'UpdateRequested', resources: { pids: { limit } } })),
  fc.integer({ min: 0, max: 2 }).map((n): ContainerEvent => ({
    type: 'ExecRequested', execId: `e${n}`, process: { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 } }, pidFile: null,
  })),
  fc.constantFrom(false, true).map((leaveRunning): ContainerEvent => ({ type: 'CheckpointRequested', options: checkpointOptions({ leaveRunning }) })),
  fc.constantFrom(null, '/b2').map((bundle): ContainerEvent => ({ type: 'RestoreRequested', bundle, pidFile: null, owner: '', options: checkpointOptions() })),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: intent.map((event) => ({ kind: 'intent' as const, event })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('exit' as const), code: fc.option(fc.integer({ min: 0, max: 255 })), signal: fc.constant(null) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('oom' as const), count: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('execExit' as const), n: fc.integer({ min: 0, max: 2 }), code: fc.option(fc.integer({ min: 0, max: 255 })) }) },
);
const failure = (p: boolean, what: string) => (p ? new RuntimeError('SYSCALL', `${what}: EPERM`) : undefined);

test('live machine == replay(logged events) for random operation sequences', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 30 }), fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }), async (ops, fails) => {
      const script: Script = {
        ...(fails[0] ? { create: () => failure(true, 'create')! } : {}),
        ...(fails[1] ? { start: () => failure(true, 'start')! } : {}),
        ...(fails[2] ? { signal: () => failure(true, 'kill')! } : {}),
        ...(fails[3] ? { delete: () => failure(true, 'delete')! } : {}),
        ...(fails[4] ? { pause: () => failure(true, 'pause')! } : {}),
        ...(fails[5] ? { resume: () => failure(true, 'resume')! } : {}),
        ...(fails[6] ? { update: () => failure(true, 'update')! } : {}),
        ...(fails[7] ? { exec: () => failure(true, 'exec')! } : {}),
        ...(fails[8] ? { checkpoint: () => failure(true, 'checkpoint')! } : {}),
        ...(fails[9] ? { restore: () => failure(true, 'restore')! } : {}),
      };
      const h = harness(script);
      for (const o of ops) {
        if (o.kind === 'exit') {
          h.exit(o.code, o.signal);
          await h.settle();
        } else if (o.kind === 'oom') {
          h.oom(o.count);
          await h.settle();
        } else if (o.kind === 'execExit') {
          // The watcher reports only execs it watches; the machine must refuse the others.
          if (Object.hasOwn(h.context().execs, `e${o.n}`)) h.execExit(`e${o.n}`, o.code);
          await h.settle();
        } else {
          await h.send(o.event).catch((e: unknown) => {
            if (!(e instanceof RuntimeError && e.code === 'ILLEGAL_STATE')) throw e;
          });
        }
        const r = h.replayed();
        assert.equal(r.state, h.state());
        assert.deepEqual(r.context, h.context());
        assert.deepEqual(r.rejected, []);
      }
    }),
    { numRuns: 300 },
  );
});
