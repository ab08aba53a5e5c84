import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { ContainerContext } from '../../src/machines/container.machine.js';
import type { ContainerEvent, ExitInfo } from '../../src/machines/events.js';
import { evolve, type Folded } from '../../src/machines/evolve.js';
import { leafState } from '../../src/machines/lifecycle.js';
import { initialSnapshot, replay, snapshotAt, step, type ContainerSnapshot, type LoggedEvent } from '../../src/machines/replay.js';
import { toLogEvent } from '../../src/machines/events.js';
import { checkpointOptions, created, restored } from '../helpers/harness.js';

/**
 * Rule 2 of the design, for the read side's reducer: `evolve` (src/machines/evolve.ts) must give
 * exactly what the machine's `transition()` gives — the same state and context after every
 * event it accepts, and a refusal (null) wherever `can()` is false. Sequences are generated
 * against the machine: most steps pick an event the machine accepts in its current state (so
 * every state and guard branch is reached), the others any event, mostly refused.
 */

const EXITS: ExitInfo[] = [{ code: 0, signal: null }, { code: null, signal: null }, { code: null, signal: 9 }];
const STATUSES = ['created', 'running', 'paused', 'stopped', 'deleted', 'checkpointed', 'absent'] as const;
const err = { code: 'SYSCALL' as const, message: 'x: EPERM' };

/** Every event worth trying in context `c`: the intents, each fact in a few shapes, and ids taken from the context. */
function candidates(c: ContainerContext): ContainerEvent[] {
  const execIds = [...new Set([c.exec?.execId ?? 'e1', 'e1', 'e2', ...Object.keys(c.execs)])];
  const fake = created(c.pid === 42 ? 43 : 42);
  const cp = c.checkpointRequest ?? checkpointOptions();
  return [
    { type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '0' },
    { type: 'StartRequested' },
    { type: 'KillRequested', signal: 9, all: false },
    { type: 'KillRequested', signal: 15, all: true },
    { type: 'DeleteRequested', force: false },
    { type: 'DeleteRequested', force: true },
    { type: 'PauseRequested' },
    { type: 'ResumeRequested' },
    { type: 'UpdateRequested', resources: { pids: { limit: 5 } } },
    ...execIds.map((execId): ContainerEvent => ({ type: 'ExecRequested', execId, process: { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 } }, pidFile: null })),
    { type: 'CheckpointRequested', options: checkpointOptions({ leaveRunning: false }) },
    { type: 'CheckpointRequested', options: checkpointOptions({ leaveRunning: true }) },
    { type: 'RestoreRequested', bundle: null, pidFile: null, owner: '0', options: checkpointOptions() },
    { type: 'RestoreRequested', bundle: '/b2', pidFile: '/p', owner: '1', options: checkpointOptions({ imagePath: '/img2' }) },
    fake,
    { type: 'CreateFailed', error: err },
    { type: 'Started' },
    { type: 'Started', warnings: [err] },
    { type: 'StartFailed', error: err },
    { type: 'Signaled', signal: 9, count: 1 },
    { type: 'KillFailed', error: err },
    ...EXITS.map((x): ContainerEvent => ({ type: 'Exited', ...x })),
    { type: 'Deleted', exit: null },
    { type: 'Deleted', exit: { code: 3, signal: null }, warnings: [err] },
    { type: 'DeleteFailed', error: err },
    { type: 'Paused' },
    { type: 'PauseFailed', error: err },
    { type: 'Resumed' },
    { type: 'ResumeFailed', error: err },
    { type: 'Updated', resources: { pids: { limit: 7 } } },
    { type: 'UpdateFailed', error: err },
    ...execIds.flatMap((execId): ContainerEvent[] => [
      { type: 'ExecStarted', execId, pid: 900, startTime: '5', args: ['id'] },
      { type: 'ExecFailed', execId, error: err },
      { type: 'ExecExited', execId, code: 0, signal: null },
    ]),
    { type: 'OomKilled', count: c.oomKills + 1 },
    { type: 'OomKilled', count: c.oomKills },
    ...STATUSES.flatMap((status): ContainerEvent[] => [
      { type: 'Observed', status: status as 'created', reason: 'probe', exit: null },
      { type: 'Observed', status: status as 'created', reason: 'probe', exit: { code: 1, signal: null }, resources: { pids: { limit: 3 } } },
      { type: 'Observed', status: status as 'created', reason: 'probe', exit: null, pausedFrom: 'created' },
    ]),
    { type: 'Checkpointed', imagePath: cp.imagePath, criuVersion: '4.1.1', options: cp, leaveRunning: false },
    { type: 'Checkpointed', imagePath: cp.imagePath, criuVersion: '4.1.1', options: cp, leaveRunning: true },
    { type: 'CheckpointFailed', error: err },
    restored({ ...c, restoreRequest: c.restoreRequest ?? checkpointOptions() }, 77),
    { type: 'RestoreFailed', error: err },
  ];
}

/** The machine's answer: the next snapshot, or null where `can()` refuses. */
function machine(s: ContainerSnapshot, e: ContainerEvent): ContainerSnapshot | null {
  return s.can(e) ? step(s, e) : null;
}

/**
 * How a step picks its event: one the machine accepts; a near miss (a type a transition of the
 * current state names, in a shape a guard refuses: an exit already complete, a stale OOM count, another exec
 * id); or anything.
 */
type Mode = 'accepted' | 'near' | 'any';
const stepArb = fc.record({
  mode: fc.oneof({ weight: 4, arbitrary: fc.constant<Mode>('accepted') }, { weight: 2, arbitrary: fc.constant<Mode>('near') }, { weight: 1, arbitrary: fc.constant<Mode>('any') }),
  pick: fc.nat(),
});

function pool(snap: ContainerSnapshot, mode: Mode): ContainerEvent[] {
  const all = candidates(snap.context);
  if (mode === 'any') return all;
  const accepted = all.filter((e) => snap.can(e));
  if (mode === 'accepted') return accepted;
  // Types some transition of the active states (leaf, alive, root) names, whatever its guard says.
  const handled = new Set<string>(snap._nodes.flatMap((n) => n.ownEvents));
  const near = all.filter((e) => handled.has(e.type) && !snap.can(e));
  return near.length > 0 ? near : all;
}

test('evolve == the machine transition() on random event sequences, accepted and refused', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 60 }), (steps) => {
      let snap = initialSnapshot('c1');
      let fast: Folded = { state: leafState(snap.value), context: snap.context };
      assert.equal(fast.state, 'absent');
      for (const { mode, pick } of steps) {
        const events = pool(snap, mode);
        const e = events[pick % events.length]!;
        const want = machine(snap, e);
        const got = evolve(fast, e);
        if (want === null) {
          assert.equal(got, null, `machine refuses ${e.type} in ${leafState(snap.value)}`);
          continue;
        }
        assert.notEqual(got, null, `machine accepts ${e.type} in ${leafState(snap.value)}`);
        assert.equal(got!.state, leafState(want.value), `${e.type} from ${leafState(snap.value)}`);
        assert.deepEqual(got!.context, want.context, `${e.type} from ${leafState(snap.value)}`);
        snap = want;
        fast = got!;
      }
    }),
    { numRuns: 2000 },
  );
});

test('evolve from a restored projection (snapshotAt) agrees with the machine resumed there', () => {
  // Where the projection cache resumes folding: the machine's resolved snapshot and the plain pair.
  const log: ContainerEvent[] = [
    { type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' }, created(), { type: 'StartRequested' }, { type: 'Started' },
    { type: 'PauseRequested' }, { type: 'Paused' },
  ];
  const events: LoggedEvent[] = log.map((e, i) => ({ version: i + 1, ...toLogEvent(e), at: '' }));
  const r = replay('c1', events);
  assert.equal(r.state, 'paused');
  const resumed = snapshotAt(r.state, r.context);
  for (const e of candidates(r.context)) {
    const want = machine(resumed, e);
    const got = evolve({ state: r.state, context: r.context }, e);
    assert.equal(got === null, want === null, e.type);
    if (want !== null) assert.deepEqual({ state: got!.state, context: got!.context }, { state: leafState(want.value), context: want.context });
  }
});

test('replay keeps refusing what the machine refuses, and reports it', () => {
  const events: LoggedEvent[] = [
    { version: 1, type: 'StartRequested', data: {}, at: '' },
    { version: 2, ...toLogEvent({ type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' }), at: '' },
  ];
  const r = replay('c1', events);
  assert.equal(r.state, 'creating');
  assert.deepEqual(r.rejected.map((e) => e.version), [1]);
  assert.equal(r.version, 2);
  assert.equal(leafState(r.snapshot.value), 'creating');
});
