import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../src/errors.js';
import type { ContainerEvent, ExecRequested, ExecStarted } from '../../src/machines/events.js';
import { refusal } from '../../src/machines/lifecycle.js';
import { publicState, replay, step } from '../../src/machines/replay.js';
import type { OciProcess } from '../../src/machines/spec.js';
import { harness } from '../helpers/harness.js';

/** The machine's exec transitions, with fake effects (test/helpers/harness.ts). */
const create = { type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' } as const;
const start = { type: 'StartRequested' } as const;
const proc = (args: string[]): OciProcess => ({ args, cwd: '/', user: { uid: 0, gid: 0 } });
const exec = (execId: string, args = ['id']): ExecRequested => ({ type: 'ExecRequested', execId, process: proc(args), pidFile: null });

async function running(script: Parameters<typeof harness>[0] = {}) {
  const h = harness(script);
  await h.send(create);
  await h.send(start);
  return h;
}

test('an exec in a running container is logged as requested and started, watched, and logged when it exits', async () => {
  const h = await running();
  assert.equal(await h.send(exec('e1', ['sh', '-c', 'exit 3'])), 'running');
  assert.deepEqual(h.emitted.slice(-1), ['ExecStarted']);
  const started = h.context().execs.e1!;
  assert.deepEqual(started.args, ['sh', '-c', 'exit 3']);
  assert.ok(started.pid > 0);
  assert.deepEqual(h.execsWatched(), ['e1'], 'the exec watcher is told about the new exec');
  assert.deepEqual(publicState('running', h.context(), 5).execs, [{ execId: 'e1', pid: started.pid, args: ['sh', '-c', 'exit 3'] }]);
  h.execExit('e1', 3);
  assert.deepEqual(h.context().execs, {});
  assert.deepEqual(h.log.map((e) => e.type).slice(-3), ['ExecRequested', 'ExecStarted', 'ExecExited']);
  assert.deepEqual(h.log.at(-1)?.data, { execId: 'e1', code: 3, signal: null });
  assert.deepEqual(h.replayed().context, h.context());
  assert.equal(h.replayed().state, 'running');
});

test('exec is refused unless the container runs: created, paused, stopped (ILLEGAL_STATE, runc wording)', async () => {
  const h = harness();
  await assert.rejects(h.send(exec('e1')), { code: 'ILLEGAL_STATE' });
  await h.send(create);
  await assert.rejects(h.send(exec('e1')), { code: 'ILLEGAL_STATE' });
  await h.send(start);
  await h.send({ type: 'PauseRequested' });
  await assert.rejects(h.send(exec('e1')), { code: 'ILLEGAL_STATE' });
  await h.send({ type: 'ResumeRequested' });
  h.exit(0);
  await h.settle();
  await assert.rejects(h.send(exec('e1')), { code: 'ILLEGAL_STATE' });
  assert.equal(h.log.filter((e) => e.type.startsWith('Exec')).length, 0, 'a refused exec leaves nothing in the log');
  assert.equal(refusal('c1', 'exec', 'paused').message, 'exec c1: cannot exec in a paused container');
  assert.equal(refusal('c1', 'exec', 'stopped').message, 'exec c1: cannot exec in a stopped container');
  assert.equal(refusal('c1', 'exec', 'created').message, 'exec c1: cannot exec in a container that has not been started');
  assert.equal(refusal('c1', 'exec', 'absent').code, 'NOT_EXISTS');
});

test('an exec id that is running is refused; ExecExited of an unknown exec is not accepted', async () => {
  const h = await running();
  await h.send(exec('e1'));
  await assert.rejects(h.send(exec('e1')), { code: 'ILLEGAL_STATE' });
  assert.equal(h.actor.getSnapshot().can({ type: 'ExecExited', execId: 'nope', code: 0, signal: null }), false);
  assert.equal(refusal('c1', 'exec', 'running').message, 'exec c1: an exec with that id is running');
  h.execExit('e1', 0);
  assert.equal(await h.send(exec('e1')), 'running', 'once it exited, the id is free again');
});

test('a failed exec returns to running with the error and records no exec', async () => {
  const h = await running({ exec: () => new RuntimeError('INVALID_CONFIG', 'exec c1: exec nosuch: executable file not found in $PATH', { field: 'process.args' }) });
  assert.equal(await h.send(exec('e1', ['nosuch'])), 'running');
  assert.deepEqual(h.emitted.slice(-1), ['ExecFailed']);
  assert.equal(h.context().error?.field, 'process.args');
  assert.deepEqual(h.context().execs, {});
  assert.equal(h.context().exec, null);
  assert.deepEqual(h.log.at(-1)?.data.execId, 'e1');
  assert.deepEqual(h.replayed().context, h.context());
});

test('when the init exits, a running exec\'s exit is still accepted (stopped), and delete forgets the rest', async () => {
  const h = await running();
  await h.send(exec('e1'));
  await h.send(exec('e2'));
  h.exit(null, 9);
  assert.equal(await h.settle(), 'stopped');
  h.execExit('e1', null, 9);
  assert.deepEqual(Object.keys(h.context().execs), ['e2']);
  assert.equal(await h.send({ type: 'DeleteRequested', force: false }), 'deleted');
  assert.deepEqual(h.context().execs, {}, 'no process can run in a deleted container');
  assert.equal(h.actor.getSnapshot().can({ type: 'ExecExited', execId: 'e2', code: null, signal: null }), false);
  assert.deepEqual(h.replayed().context, h.context());
});

test('an exit during the exec lands in stopped with the exec recorded', async () => {
  const h = await running();
  h.actor.send(exec('e1'));
  h.exit(0);
  assert.equal(await h.settle(), 'stopped');
  assert.deepEqual(Object.keys(h.context().execs), ['e1']);
});

test('a restored container hands its running execs to the exec watcher', async () => {
  const base = await running();
  await base.send(exec('e1'));
  const h = harness({}, { state: 'running', context: base.context() });
  assert.equal(await h.settle(), 'running');
  assert.deepEqual(h.execsWatched(), ['e1']);
  h.execExit('e1', null);
  assert.deepEqual(h.emitted, ['ExecExited'], 'an exit seen at load is logged');
});

test('an exec outcome after another process reconciled the container back to running is still a fact', () => {
  const log: ContainerEvent[] = [create, { type: 'Created', pid: 42, startTime: '1', created: '', rootfs: '/r', config: { ociVersion: '1.0.2', root: { path: 'r' }, process: proc(['sh']) }, cgroup: '/c' },
    start, { type: 'Started' }, exec('e1')];
  const r = replay('c1', log.map((e, i) => {
    const { type, ...data } = e;
    return { version: i + 1, type, data: data as Record<string, unknown>, at: '' };
  }));
  assert.equal(r.state, 'execing');
  const reconciled = step(r.snapshot, { type: 'Observed', status: 'running', reason: 'init alive', exit: null });
  const started: ExecStarted = { type: 'ExecStarted', execId: 'e1', pid: 7, startTime: '9', args: ['id'] };
  assert.equal(reconciled.can(started), true);
  assert.equal(reconciled.can({ ...started, execId: 'other' }), false);
  assert.deepEqual(step(reconciled, started).context.execs, { e1: { pid: 7, startTime: '9', args: ['id'] } });
});
