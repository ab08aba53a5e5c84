import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../src/errors.js';
import type { ContainerEvent } from '../../src/machines/events.js';
import { publicState } from '../../src/machines/replay.js';
import { checkpointOptions, harness } from '../helpers/harness.js';

const create = { type: 'CreateRequested', bundle: '/b', pidFile: null, owner: '' } as const;
const start = { type: 'StartRequested' } as const;
const checkpoint = (o: Parameters<typeof checkpointOptions>[0] = {}): ContainerEvent => ({ type: 'CheckpointRequested', options: checkpointOptions(o) });
const restore = (bundle: string | null = null): ContainerEvent => ({ type: 'RestoreRequested', bundle, pidFile: null, owner: '', options: checkpointOptions({ imagePath: '/img2' }) });

async function running(script: Parameters<typeof harness>[0] = {}) {
  const h = harness(script);
  await h.send(create);
  await h.send(start);
  return h;
}

test('a checkpoint ends checkpointed: OCI status stopped, no cgroup, no exit watch, replayable', async () => {
  const h = await running();
  assert.equal(await h.send(checkpoint()), 'checkpointed');
  assert.deepEqual(h.emitted.slice(-1), ['Checkpointed']);
  assert.equal(h.watching(), 0, 'criu killed the processes: nothing to watch');
  const ctx = h.context();
  assert.equal(ctx.cgroup, null);
  assert.deepEqual(ctx.checkpoint, { imagePath: '/img', criuVersion: '4.1.1', options: checkpointOptions() });
  const pub = publicState('checkpointed', ctx, h.log.length);
  assert.equal(pub.status, 'stopped');
  assert.equal(pub.pid, 0);
  const r = h.replayed();
  assert.equal(r.state, 'checkpointed');
  assert.deepEqual(r.context, ctx);
});

test('--leave-running and --pre-dump return to running, watched again', async () => {
  for (const o of [{ leaveRunning: true }, { preDump: true }]) {
    const h = await running();
    assert.equal(await h.send(checkpoint(o)), 'running');
    assert.equal(h.watching(), 1);
    assert.equal(h.context().checkpoint?.imagePath, '/img');
    h.exit(0);
    assert.equal(await h.settle(), 'stopped');
  }
});

test('a failed checkpoint returns to running with the error; an exit meanwhile is seen by the watch that resumes', async () => {
  const h = await running({ checkpoint: () => new RuntimeError('CRIU_FAILED', 'checkpoint c1: criu dump exited with 1 (log: /img/dump.log)') });
  assert.equal(await h.send(checkpoint()), 'running');
  assert.deepEqual(h.emitted.slice(-1), ['CheckpointFailed']);
  assert.equal(h.context().error?.code, 'CRIU_FAILED');
  assert.equal(h.context().checkpointRequest, null);
  h.exit(null, 9);
  assert.equal(await h.settle(), 'stopped');
  assert.deepEqual(h.replayed().context, h.context());
});

test('checkpoint is refused unless running; restore unless absent, deleted or checkpointed', async () => {
  const h = harness();
  await assert.rejects(h.send(checkpoint()), { code: 'ILLEGAL_STATE' });
  await h.send(create);
  await assert.rejects(h.send(checkpoint()), { code: 'ILLEGAL_STATE' }, 'a created container is not checkpointed');
  await assert.rejects(h.send(restore('/b')), { code: 'ILLEGAL_STATE' });
  await h.send(start);
  await h.send({ type: 'PauseRequested' });
  await assert.rejects(h.send(checkpoint()), { code: 'ILLEGAL_STATE' });
});

test('restore in place: checkpointed → running with the restored init, its own bundle kept', async () => {
  const h = await running();
  await h.send(checkpoint());
  assert.equal(await h.send(restore()), 'running');
  const ctx = h.context();
  assert.equal(ctx.pid, 77);
  assert.equal(ctx.bundle, '/b', 'no bundle given: the container keeps its own');
  assert.equal(ctx.cgroup, '/berth/c1');
  assert.equal(ctx.restoreRequest, null);
  assert.equal(h.watching(), 1);
  assert.deepEqual(h.emitted.slice(-1), ['Restored']);
  assert.deepEqual(h.replayed().context, ctx);
});

test('a failed restore returns a checkpointed container to checkpointed, a new one to deleted', async () => {
  const fail = () => new RuntimeError('CRIU_FAILED', 'restore c1: criu restore exited with 1 (log: /img2/restore.log)');
  const h = await running({ restore: fail });
  await h.send(checkpoint());
  assert.equal(await h.send(restore()), 'checkpointed');
  assert.equal(h.context().error?.code, 'CRIU_FAILED');
  const fresh = harness({ restore: fail });
  assert.equal(await fresh.send(restore('/b2')), 'deleted');
  assert.deepEqual(fresh.log.map((e) => e.type), ['RestoreRequested', 'RestoreFailed']);
  const ok = harness();
  assert.equal(await ok.send(restore('/b2')), 'running', 'a new container is restored from any free id');
  assert.equal(ok.context().bundle, '/b2');
});

test('reconciliation settles an interrupted checkpoint or restore by what the probe saw', async () => {
  const h = await running();
  await h.send(checkpoint());
  const atRequest = h.log.slice(0, -1); // the runtime died before Checkpointed was logged
  const { replay } = await import('../../src/machines/replay.js');
  const r = replay('c1', atRequest);
  assert.equal(r.state, 'checkpointing');
  const probed = harness({ probe: () => ({ type: 'Observed', status: 'checkpointed', reason: 'checkpoint completed in /img', exit: null }) }, { state: r.state, context: r.context });
  assert.equal(await probed.settle(), 'checkpointed');
  assert.equal(probed.context().checkpointRequest, null);
  assert.deepEqual(probed.emitted, ['Observed']);
  const back = harness({ probe: () => ({ type: 'Observed', status: 'running', reason: 'checkpoint was interrupted', exit: null }) }, { state: r.state, context: r.context });
  assert.equal(await back.settle(), 'running');
});
