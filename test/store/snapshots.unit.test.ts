import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RuntimeError } from '../../src/errors.js';
import type { ContainerEvent } from '../../src/machines/events.js';
import { replay, replayFrom, snapshotAt } from '../../src/machines/replay.js';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';
import { projectAll, PROJECTION_FINGERPRINT } from '../../src/store/snapshots.js';
import { containers$ } from '../../src/store/projections.js';
import { isContainerStream } from '../../src/ids.js';
import { harness } from '../helpers/harness.js';

/**
 * DESIGN rule 5: a cached projection is only a shortcut. Folding the rest of a log on top of a
 * projection stored at any point (as JSON, as the store keeps it) must give exactly the state
 * and context the machine gives folding the whole log.
 */

const intent = fc.oneof(
  fc.constant<ContainerEvent>({ type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' }),
  fc.constant<ContainerEvent>({ type: 'StartRequested' }),
  fc.integer({ min: 1, max: 31 }).map((signal): ContainerEvent => ({ type: 'KillRequested', signal, all: false })),
  fc.boolean().map((force): ContainerEvent => ({ type: 'DeleteRequested', force })),
  fc.constant<ContainerEvent>({ type: 'PauseRequested' }),
  fc.constant<ContainerEvent>({ type: 'ResumeRequested' }),
  fc.integer({ min: 1, max: 100 }).map((limit): ContainerEvent => ({ type: 'UpdateRequested', resources: { pids: { limit } } })),
);
const op = fc.oneof(
  { weight: 4, arbitrary: intent.map((event) => ({ kind: 'intent' as const, event })) },
  { weight: 1, arbitrary: fc.option(fc.integer({ min: 0, max: 255 })).map((code) => ({ kind: 'exit' as const, code })) },
);

/** A log the machine itself wrote for a random run. */
async function logOf(ops: Array<{ kind: 'intent'; event: ContainerEvent } | { kind: 'exit'; code: number | null }>) {
  const h = harness();
  for (const o of ops) {
    if (o.kind === 'exit') {
      h.exit(o.code);
      await h.settle();
    } else {
      await h.send(o.event).catch((e: unknown) => {
        if (!(e instanceof RuntimeError && e.code === 'ILLEGAL_STATE')) throw e;
      });
    }
  }
  return h.log;
}

test('folding on top of a stored projection == folding the whole log, at every split', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
      const log = await logOf(ops);
      const whole = replay('c1', log);
      for (let k = 0; k <= log.length; k++) {
        const at = replay('c1', log.slice(0, k));
        // What the store keeps: JSON.
        const stored = JSON.parse(JSON.stringify({ state: at.state, context: at.context })) as { state: typeof at.state; context: typeof at.context };
        const resumed = replayFrom(snapshotAt(stored.state, stored.context), k, log.slice(k));
        assert.equal(resumed.state, whole.state, `split at ${k}`);
        assert.deepEqual(resumed.context, whole.context, `split at ${k}`);
        assert.equal(resumed.version, whole.version);
      }
    }),
    { numRuns: 150 },
  );
});

const lifecycle = (exitCode: number) => [
  { type: 'CreateRequested', data: { bundle: '/b', pidFile: null, owner: '' } },
  { type: 'Created', data: { pid: 100, startTime: '1', created: '2026-01-01T00:00:00.000Z', rootfs: '/b/rootfs', config: { ociVersion: '1.0.2' }, cgroup: '/berth/x' } },
  { type: 'StartRequested', data: {} },
  { type: 'Started', data: {} },
  { type: 'Exited', data: { code: exitCode, signal: null } },
];

test('projectAll: the cache is filled, then used; new events are folded on top; mismatches are discarded and rebuilt', async () => {
  const log = createMemoryEventLog();
  for (const id of ['a', 'b', 'c']) await log.append(id, lifecycle(id.charCodeAt(0)), { expectedVersion: 'no_stream' });
  const fresh = await projectAll(log, { cache: false });
  const first = await projectAll(log);
  assert.deepEqual(first.stats, { streams: 3, hits: 0, discarded: 0, folded: 15 });
  assert.deepEqual((await log.readSnapshots()).map((s) => [s.stream, s.version, s.data.fingerprint]), [['a', 5, PROJECTION_FINGERPRINT], ['b', 5, PROJECTION_FINGERPRINT], ['c', 5, PROJECTION_FINGERPRINT]]);
  const second = await projectAll(log);
  assert.deepEqual(second.stats, { streams: 3, hits: 3, discarded: 0, folded: 0 });
  for (const id of ['a', 'b', 'c']) {
    assert.equal(second.states.get(id)?.state, 'stopped');
    assert.deepEqual(second.states.get(id)?.context, JSON.parse(JSON.stringify(fresh.states.get(id)?.context)));
  }

  await log.append('a', [{ type: 'DeleteRequested', data: { force: false } }, { type: 'Deleted', data: { exit: null } }], { expectedVersion: 5 });
  const third = await projectAll(log);
  assert.deepEqual(third.stats, { streams: 3, hits: 3, discarded: 0, folded: 2 });
  assert.equal(third.states.get('a')?.state, 'deleted');

  // Another build of the machine (fingerprint), a version the stream does not have, an entry
  // made from another event at that version: each is discarded and rebuilt from the log.
  const [b, c] = (await log.readSnapshots()).filter((s) => s.stream !== 'a');
  await log.writeSnapshots([
    { ...b!, data: { ...b!.data, fingerprint: 'another-build' } },
    { ...c!, data: { ...c!.data, position: 1, state: 'running' } },
  ]);
  const fourth = await projectAll(log);
  assert.deepEqual(fourth.stats, { streams: 3, hits: 1, discarded: 2, folded: 10 });
  assert.equal(fourth.states.get('c')?.state, 'stopped', 'the disagreeing entry was not believed');
  assert.deepEqual((await projectAll(log)).stats.hits, 3, 'and it was rewritten');
});

test('projectAll and containers$ see container streams only: a `kind:` stream (a network, a pod) is not a container', async () => {
  const log = createMemoryEventLog();
  await log.append('a', lifecycle(0), { expectedVersion: 'no_stream' });
  await log.append('net:default', [{ type: 'AddressAllocated', data: { address: '10.88.0.2' } }], { expectedVersion: 'no_stream' });
  assert.equal(isContainerStream('a'), true);
  assert.equal(isContainerStream('net:default'), false);
  const all = await projectAll(log, { cache: false });
  assert.deepEqual([...all.states.keys()], ['a']);
  const seen: string[][] = [];
  const sub = containers$(log, async () => (await projectAll(log, { cache: false })).states).subscribe((s) => seen.push(s.map((c) => c.id)));
  await new Promise((r) => setTimeout(r, 10));
  await log.append('net:default', [{ type: 'AddressReleased', data: { address: '10.88.0.2' } }], { expectedVersion: 1 });
  await log.append('b', lifecycle(1).slice(0, 2), { expectedVersion: 'no_stream' });
  await new Promise((r) => setTimeout(r, 10));
  sub.unsubscribe();
  // One emission per container event (b's two); the network's release emitted nothing.
  assert.deepEqual(seen, [['a'], ['a', 'b'], ['a', 'b']]);
});
