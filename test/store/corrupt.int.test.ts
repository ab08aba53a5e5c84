import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { openRuntime } from '../../src/index.js';
import { streamKey } from '../../src/store/keys.js';
import { openLevelEventLog } from '../../src/store/levelEventLog.js';
import { berth } from '../helpers/cli.js';

/**
 * A damaged log is never read around: a replay that meets a value it cannot decode fails with
 * STORE_CORRUPT naming the key and saying how far the container's log can be read, and a
 * replay up to that point still works.
 */
test('replay of a damaged stream says how far it can read, and replays up to there', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'berth-corrupt-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const log = await openLevelEventLog(join(root, 'log'));
  await log.append('web', [
    { type: 'CreateRequested', data: { bundle: '/srv/b', pidFile: null, owner: '' } },
    { type: 'Created', data: { pid: 2147483000, startTime: '1', created: '2026-01-01T00:00:00.000Z', rootfs: '/srv/b/rootfs', config: { ociVersion: '1.0.2' }, cgroup: null } },
    { type: 'StartRequested', data: {} },
    { type: 'Started', data: {} },
    { type: 'Exited', data: { code: 0, signal: null } },
  ], { expectedVersion: 'no_stream' });
  await log.close();
  const db = new ClassicLevel<string, string>(join(root, 'log'), { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  await db.put(streamKey('web', 4), '{"position":4,"type":"Started","sch');
  await db.close();

  const rt = await openRuntime({ root, serve: false });
  try {
    await assert.rejects(rt.replay('web'), (e: { code?: string; message?: string; field?: string }) => {
      assert.equal(e.code, 'STORE_CORRUPT');
      assert.match(e.message!, /corrupt event at key .*web.*0000000000000004.*: invalid json; the log of container web is readable up to version 3 of 5$/);
      assert.equal(e.field, streamKey('web', 4));
      return true;
    });
    assert.equal((await rt.replay('web', { at: 2 }))?.status, 'created');
    assert.equal((await rt.replay('web', { at: 3 }))?.state, 'starting');
    await assert.rejects(rt.history('web'), { code: 'STORE_CORRUPT' });
  } finally {
    await rt.close();
  }
  const cli = await berth(root, ['replay', 'web']);
  assert.equal(cli.status, 8);
  assert.match(cli.stderr, /readable up to version 3 of 5 \[STORE_CORRUPT\]/);
});
