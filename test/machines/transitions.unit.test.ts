import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerEvent } from '../../src/machines/events.js';
import { refusal, type MachineState } from '../../src/machines/lifecycle.js';
import { replay, type LoggedEvent } from '../../src/machines/replay.js';
import { checkpointOptions, created } from '../helpers/harness.js';

/** Logs that reach each settled state, replayed (pure). */
const at = (types: ContainerEvent[]): LoggedEvent[] =>
  types.map((e, i) => {
    const { type, ...data } = e;
    return { version: i + 1, type, data: data as Record<string, unknown>, at: '' };
  });
const C: ContainerEvent = { type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' };
const reach: Record<string, ContainerEvent[]> = {
  absent: [],
  created: [C, created()],
  running: [C, created(), { type: 'StartRequested' }, { type: 'Started' }],
  paused: [C, created(), { type: 'StartRequested' }, { type: 'Started' }, { type: 'PauseRequested' }, { type: 'Paused' }],
  stopped: [C, created(), { type: 'Exited', code: 0, signal: null }],
  deleted: [C, created(), { type: 'Exited', code: 0, signal: null }, { type: 'DeleteRequested', force: false }, { type: 'Deleted', exit: null }],
  checkpointed: [
    C, created(), { type: 'StartRequested' }, { type: 'Started' },
    { type: 'CheckpointRequested', options: checkpointOptions() },
    { type: 'Checkpointed', imagePath: '/img', criuVersion: '4.1.1', options: checkpointOptions(), leaveRunning: false },
  ],
};
const R: ContainerEvent = { type: 'RestoreRequested', bundle: '/b', pidFile: null, owner: '', options: checkpointOptions() };

const commands: Record<string, ContainerEvent> = {
  create: C,
  start: { type: 'StartRequested' },
  kill: { type: 'KillRequested', signal: 15, all: false },
  delete: { type: 'DeleteRequested', force: false },
  'delete --force': { type: 'DeleteRequested', force: true },
  pause: { type: 'PauseRequested' },
  resume: { type: 'ResumeRequested' },
  update: { type: 'UpdateRequested', resources: { pids: { limit: 5 } } },
  exec: { type: 'ExecRequested', execId: 'e1', process: { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 } }, pidFile: null },
  checkpoint: { type: 'CheckpointRequested', options: checkpointOptions() },
  restore: R,
};

// The law, as a table: every pair listed is accepted; every other pair is refused.
const allowed = new Set([
  'absent/create', 'deleted/create',
  'created/start', 'created/kill', 'created/delete --force', 'created/pause', 'created/update',
  'running/kill', 'running/delete --force', 'running/pause', 'running/update', 'running/exec',
  'paused/kill', 'paused/delete --force', 'paused/resume', 'paused/update',
  'stopped/delete', 'stopped/delete --force',
  'running/checkpoint', 'absent/restore', 'deleted/restore', 'checkpointed/restore',
  'checkpointed/delete', 'checkpointed/delete --force',
]);

for (const [state, log] of Object.entries(reach)) {
  for (const [name, cmd] of Object.entries(commands)) {
    const key = `${state}/${name}`;
    test(`${key}: ${allowed.has(key) ? 'accepted' : 'refused'}`, () => {
      const r = replay('c1', at(log));
      assert.equal(r.state, state as MachineState);
      assert.equal(r.snapshot.can(cmd), allowed.has(key));
      if (!allowed.has(key)) {
        const err = refusal('c1', name.split(' ')[0] as 'create', r.state, name.endsWith('--force'));
        const expected = state === 'absent' || state === 'deleted' ? 'NOT_EXISTS' : name === 'create' || name === 'restore' ? 'ID_IN_USE' : 'ILLEGAL_STATE';
        assert.equal(err.code, expected);
        assert.match(err.message, /c1/);
      }
    });
  }
}

test('facts the machine cannot accept are reported by replay, not applied', () => {
  const r = replay('c1', at([C, { type: 'Started' }, created()]));
  assert.equal(r.state, 'created');
  assert.deepEqual(r.rejected.map((e) => e.type), ['Started']);
});

test('replay can stop at any version', () => {
  const log = at(reach.deleted!);
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((v) => replay('c1', log, v).state),
    ['absent', 'creating', 'created', 'stopped', 'deleting', 'deleted']);
});
