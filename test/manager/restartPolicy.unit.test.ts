import assert from 'node:assert/strict';
import { test } from 'node:test';
import { foldRecord } from '../../src/manager/events.js';
import { decideRestart, exitOf, parseRestartPolicy } from '../../src/manager/restartPolicy.js';
import type { StoredEvent } from '../../src/store/eventLog.js';

const stream = (...types: string[]): StoredEvent[] => types.map((type, i) => ({
  stream: 'mgr:web', version: i + 1, position: i + 1, type, schema: 1, at: '', data: type === 'ContainerDefined' ? { options: { name: 'web' }, created: 't' } : {},
}));
const fail = { code: 1, signal: null };
const ok = { code: 0, signal: null };

test('policies parse; anything else names the option', () => {
  assert.deepEqual(parseRestartPolicy(undefined), { kind: 'no', max: null });
  assert.deepEqual(parseRestartPolicy('on-failure:3'), { kind: 'on-failure', max: 3 });
  assert.deepEqual(parseRestartPolicy('on-failure'), { kind: 'on-failure', max: null });
  for (const bad of ['sometimes', 'on-failure:0', 'on-failure:x', 'always:2']) assert.throws(() => parseRestartPolicy(bad), { code: 'INVALID_ARGUMENT', field: 'restart' });
});

test('on-failure:N restarts failures N times in a row, never a success; the count starts again after a user action', () => {
  const p = parseRestartPolicy('on-failure:2');
  assert.deepEqual(decideRestart(p, fail, stream('ContainerDefined')), { restart: true, attempt: 1 });
  assert.deepEqual(decideRestart(p, fail, stream('ContainerDefined', 'RestartedByPolicy')), { restart: true, attempt: 2 });
  assert.deepEqual(decideRestart(p, fail, stream('ContainerDefined', 'RestartedByPolicy', 'RestartedByPolicy')), { restart: false });
  assert.deepEqual(decideRestart(p, ok, stream('ContainerDefined')), { restart: false });
  assert.deepEqual(decideRestart(p, { code: null, signal: null }, stream('ContainerDefined')), { restart: true, attempt: 1 }, 'an unknown status is a failure');
  assert.deepEqual(decideRestart(p, { code: null, signal: 9 }, stream('ContainerDefined')), { restart: true, attempt: 1 });
  assert.deepEqual(decideRestart(p, fail, stream('ContainerDefined', 'RestartedByPolicy', 'RestartedByPolicy', 'ContainerRecreated')), { restart: true, attempt: 1 });
});

test('always restarts any exit, except one the user asked for with stop; no never restarts', () => {
  const always = parseRestartPolicy('always');
  assert.deepEqual(decideRestart(always, ok, stream('ContainerDefined', 'RestartedByPolicy')), { restart: true, attempt: 2 });
  assert.deepEqual(decideRestart(always, fail, stream('ContainerDefined', 'StopRequested')), { restart: false });
  assert.deepEqual(decideRestart(always, fail, stream('ContainerDefined', 'StopRequested', 'StopEscalated')), { restart: false });
  assert.deepEqual(decideRestart(always, fail, stream('ContainerDefined', 'ContainerRemoved')), { restart: false });
  assert.deepEqual(decideRestart(parseRestartPolicy('no'), fail, stream('ContainerDefined')), { restart: false });
});

test('exits are read from Exited facts and stopped findings; the record is a fold that allows a name again', () => {
  const e = (type: string, data: Record<string, unknown>): StoredEvent => ({ stream: 'web', version: 1, position: 1, type, schema: 1, at: '', data });
  assert.deepEqual(exitOf(e('Exited', { code: 2, signal: null })), { code: 2, signal: null });
  assert.deepEqual(exitOf(e('Observed', { status: 'stopped', exit: null })), { code: null, signal: null });
  assert.equal(exitOf(e('Observed', { status: 'running' })), null);
  assert.equal(exitOf(e('Started', {})), null);
  assert.equal(foldRecord(stream('ContainerDefined', 'ContainerRemoved')).defined, false);
  const again = foldRecord(stream('ContainerDefined', 'ContainerRemoved', 'ContainerDefined'));
  assert.deepEqual([again.defined, again.version, again.created], [true, 3, 't']);
});
