import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../src/errors.js';
import { created, harness } from '../helpers/harness.js';

const create = { type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' } as const;
const start = { type: 'StartRequested' } as const;
const kill = (signal = 15) => ({ type: 'KillRequested', signal, all: false }) as const;
const del = (force = false) => ({ type: 'DeleteRequested', force }) as const;

test('the whole lifecycle logs intents and facts in order and replays to the same state', async () => {
  const h = harness();
  assert.equal(await h.send(create), 'created');
  assert.equal(h.watching(), 1, 'a created container is watched for exit');
  assert.equal(await h.send(start), 'running');
  assert.equal(await h.send(kill()), 'running');
  h.exit(0);
  assert.equal(await h.settle(), 'stopped');
  assert.equal(h.watching(), 0, 'the watch stops with the container');
  assert.equal(await h.send(del()), 'deleted');
  assert.deepEqual(h.log.map((e) => e.type), [
    'CreateRequested', 'Created', 'StartRequested', 'Started', 'KillRequested', 'Signaled', 'Exited',
    'DeleteRequested', 'Deleted',
  ]);
  assert.deepEqual(h.context().exit, { code: 0, signal: null });
  const r = h.replayed();
  assert.equal(r.state, 'deleted');
  assert.deepEqual(r.context, h.context());
});

test('a failed create records the error and leaves no container', async () => {
  const h = harness({ create: () => new RuntimeError('INVALID_CONFIG', 'invalid config: process.args', { field: 'process.args' }) });
  assert.equal(await h.send(create), 'deleted');
  assert.deepEqual(h.emitted, ['CreateFailed']);
  assert.deepEqual(h.context().error, { code: 'INVALID_CONFIG', message: 'invalid config: process.args', field: 'process.args' });
  assert.equal(h.watching(), 0);
  // the id can be used again
  const h2 = harness();
  await h2.send(create);
  assert.equal(await h2.send(del(true)), 'deleted');
  assert.equal(await h2.send(create), 'created');
  assert.equal(h2.context().error, null);
});

test('start refused by the machine unless created; delete refused unless stopped or forced', async () => {
  const h = harness();
  await assert.rejects(h.send(start), { code: 'ILLEGAL_STATE' });
  await h.send(create);
  await assert.rejects(h.send(del()), { code: 'ILLEGAL_STATE' });
  await h.send(start);
  await assert.rejects(h.send(start), { code: 'ILLEGAL_STATE' });
  await assert.rejects(h.send(create), { code: 'ILLEGAL_STATE' });
  assert.equal(await h.send(del(true)), 'deleted');
});

test('an exit during the start handshake is kept and the start outcome lands in stopped', async () => {
  const h = harness();
  await h.send(create);
  // The start effect resolves on a later microtask; the exit arrives before it.
  h.actor.send(start);
  assert.equal(h.state(), 'starting');
  h.exit(3);
  assert.equal(await h.settle(), 'stopped');
  assert.deepEqual(h.context().exit, { code: 3, signal: null });
  assert.deepEqual(h.emitted.slice(-2), ['Exited', 'Started']);
});

test('a kill that fails returns to the state it came from with the error', async () => {
  const h = harness({ signal: () => new RuntimeError('SYSCALL', 'kill c1: signal 15: EPERM') });
  await h.send(create);
  assert.equal(await h.send(kill()), 'created');
  assert.equal(h.context().error?.code, 'SYSCALL');
  await h.send(start);
  assert.equal(await h.send(kill()), 'running');
  assert.equal(h.context().error?.code, 'SYSCALL');
});

test('a start that fails because the init died lands in stopped once the exit is known', async () => {
  const h = harness({ start: () => new RuntimeError('ILLEGAL_STATE', 'start c1: init exited before it was started') });
  await h.send(create);
  h.exit(null, 9);
  assert.equal(await h.settle(), 'stopped');
  await assert.rejects(h.send(start), { code: 'ILLEGAL_STATE' });
});

test('a loaded container reconciles: a confirmation is not logged, a difference is', async () => {
  const base = harness();
  await base.send(create);
  await base.send(start);
  const ctx = base.context();

  const same = harness({}, { state: 'running', context: ctx });
  assert.equal(await same.settle(), 'running');
  assert.deepEqual(same.emitted, []);
  assert.equal(same.watching(), 1);

  const gone = harness({ probe: () => ({ type: 'Observed', status: 'stopped', reason: 'init exited while unobserved', exit: null }) }, { state: 'running', context: ctx });
  assert.equal(await gone.settle(), 'stopped');
  assert.deepEqual(gone.emitted, ['Observed']);
  assert.equal(gone.context().restoredFrom, null);
});

test('a dangling intent is reconciled by a probe, never re-run', async () => {
  const base = harness();
  await base.send(create);
  let starts = 0;
  const h = harness({
    start: () => { starts++; return { type: 'Started' }; },
    probe: (c) => ({ type: 'Observed', status: c.restoredFrom === 'starting' ? 'running' : 'stopped', reason: 'init alive', exit: null }),
  }, { state: 'starting', context: base.context() });
  assert.equal(await h.settle(), 'running');
  assert.equal(starts, 0);
  assert.deepEqual(h.emitted, ['Observed']);
});

test('a failed delete is followed by a probe of what is left', async () => {
  const h = harness({
    delete: () => new RuntimeError('SYSCALL', 'delete c1: EBUSY'),
    probe: () => ({ type: 'Observed', status: 'stopped', reason: 'init gone', exit: null }),
  });
  await h.send(create);
  h.exit(0);
  await h.settle();
  assert.equal(await h.send(del()), 'stopped');
  assert.deepEqual(h.emitted.slice(-2), ['DeleteFailed', 'Observed']);
  assert.equal(h.context().error?.message, 'delete c1: EBUSY');
  assert.deepEqual(h.replayed().context, h.context());
});

test('Created carries what replay needs: pid, start time, rootfs, config', async () => {
  const h = harness({ create: () => created(77) });
  await h.send(create);
  const r = h.replayed();
  assert.equal(r.context.pid, 77);
  assert.equal(r.context.startTime, '1000');
  assert.equal(r.context.rootfs, '/b/rootfs');
});

test('an exit recorded without its status can be completed once by the init\'s parent', async () => {
  const h = harness();
  await h.send(create);
  await h.send(start);
  h.exit(null, null);
  assert.equal(await h.settle(), 'stopped');
  assert.equal(h.actor.getSnapshot().can({ type: 'Exited', code: null, signal: null }), false, 'an unknown status adds nothing');
  h.actor.send({ type: 'Exited', code: null, signal: 9 });
  assert.deepEqual(h.context().exit, { code: null, signal: 9 });
  assert.equal(h.actor.getSnapshot().can({ type: 'Exited', code: 0, signal: null }), false, 'a known status is never overwritten');
  assert.deepEqual(h.emitted.slice(-2), ['Exited', 'Exited']);
  assert.deepEqual(h.replayed().context, h.context());
});

test('pause and resume return a container to where it was; update changes the limits in force', async () => {
  const h = harness();
  await h.send(create);
  assert.deepEqual(h.context().resources, { pids: { limit: 10 } });
  assert.equal(await h.send({ type: 'PauseRequested' }), 'paused');
  assert.equal(await h.send({ type: 'ResumeRequested' }), 'created', 'paused before it started: resumes as created');
  await h.send(start);
  assert.equal(await h.send({ type: 'PauseRequested' }), 'paused');
  assert.equal(await h.send({ type: 'UpdateRequested', resources: { memory: { limit: 1 << 24 } } }), 'paused');
  assert.deepEqual(h.context().resources, { pids: { limit: 10 }, memory: { limit: 1 << 24 } });
  assert.equal(await h.send(kill(9)), 'paused', 'a signal to a paused container keeps it paused');
  assert.equal(await h.send({ type: 'ResumeRequested' }), 'running');
  assert.deepEqual(h.replayed().context, h.context());
});

test('a failed update keeps the limits that were in force', async () => {
  const h = harness({ update: () => new RuntimeError('INVALID_CONFIG', 'memory.limit: EINVAL', { field: 'linux.resources.memory.limit' }) });
  await h.send(create);
  await h.send(start);
  assert.equal(await h.send({ type: 'UpdateRequested', resources: { memory: { limit: -5 } } }), 'running');
  assert.deepEqual(h.context().resources, { pids: { limit: 10 } });
  assert.equal(h.context().error?.field, 'linux.resources.memory.limit');
});

test('OOM kills are facts, counted once each', async () => {
  const h = harness();
  await h.send(create);
  await h.send(start);
  h.oom(1);
  h.oom(1);
  h.oom(2);
  h.exit(null, 9);
  assert.equal(await h.settle(), 'stopped');
  assert.equal(h.context().oomKills, 2);
  assert.deepEqual(h.emitted.filter((t) => t === 'OomKilled').length, 2);
  assert.deepEqual(h.replayed().context, h.context());
});
