import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { openRuntime } from '../../src/index.js';
import { SCHEMAS } from '../../src/machines/events.js';
import { globalKey, HEAD_KEY, streamHeadKey, streamKey } from '../../src/store/keys.js';

/**
 * A root whose log was written by an older berth: `Created` events of schema 1, from before
 * every container had its own cgroup, carry no `cgroup`. The runtime reads them upcast to the
 * current schema (src/machines/upcasters.ts), replays and reconciles them, and deletes the
 * container; the stored bytes are never rewritten.
 */

const AT = '2025-06-01T10:00:00.000Z';
/** Exactly what berth wrote then: the event under its stream key, a pointer under its position. */
const OLD_LOG: Array<{ type: string; schema: number; data: Record<string, unknown> }> = [
  { type: 'CreateRequested', schema: 1, data: { bundle: '/srv/bundle', pidFile: null, owner: '' } },
  { type: 'Created', schema: 1, data: { pid: 2147483000, startTime: '12345', created: AT, rootfs: '/srv/bundle/rootfs', config: { ociVersion: '1.0.2', process: { args: ['sleep', '1'] }, root: { path: 'rootfs' } } } },
  { type: 'StartRequested', schema: 1, data: {} },
  { type: 'Started', schema: 1, data: {} },
];

test('a log written with older event shapes is read upcast, replays, reconciles and deletes', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'berth-upcast-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const db = new ClassicLevel<string, string>(join(root, 'log'), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  await db.batch([
    ...OLD_LOG.flatMap((e, i) => [
      { type: 'put' as const, key: streamKey('legacy', i + 1), value: JSON.stringify({ position: i + 1, type: e.type, schema: e.schema, data: e.data, at: AT }) },
      { type: 'put' as const, key: globalKey(i + 1), value: JSON.stringify({ stream: 'legacy', version: i + 1 }) },
    ]),
    { type: 'put' as const, key: streamHeadKey('legacy'), value: String(OLD_LOG.length) },
    { type: 'put' as const, key: HEAD_KEY, value: String(OLD_LOG.length) },
  ]);
  const storedCreated = await db.get(streamKey('legacy', 2));
  await db.close();

  const rt = await openRuntime({ root });
  try {
    const created = (await rt.history('legacy'))[1]!;
    assert.equal(SCHEMAS.Created, 2);
    assert.equal(created.schema, 2, 'read at the current schema');
    assert.equal(created.data.cgroup, null, 'a container from before per-container cgroups has none');
    assert.equal(created.data.pid, 2147483000);
    const replayed = await rt.replay('legacy');
    assert.equal(replayed?.status, 'running', 'the log alone says running');
    // The recorded init is long gone: reconciliation says so, and logs it at today's schema.
    const now = await rt.state('legacy');
    assert.equal(now.status, 'stopped');
    await rt.delete('legacy');
    const history = await rt.history('legacy');
    assert.deepEqual(history.map((e) => e.type), ['CreateRequested', 'Created', 'StartRequested', 'Started', 'Observed', 'DeleteRequested', 'Deleted']);
    assert.deepEqual(history.map((e) => e.schema), [1, 2, 1, 1, 1, 1, 1]);
  } finally {
    await rt.close();
  }
  const again = new ClassicLevel<string, string>(join(root, 'log'), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await again.open();
  assert.equal(await again.get(streamKey('legacy', 2)), storedCreated, 'the stored bytes keep their old schema');
  await again.close();
});
