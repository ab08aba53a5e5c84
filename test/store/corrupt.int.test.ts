import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { openRuntime } from '../../src/index.js';
import { streamKey } from '../../src/store/keys.js';
import { berth } from '../helpers/cli.js';
import { stoppedRoot } from '../helpers/stoppedRoot.js';

/**
 * A damaged log is never read around: a replay that meets a value it cannot decode fails with
 * STORE_CORRUPT naming the key and saying how far the container's log can be read, and a
 * replay up to that point still works.
 */
test('replay of a damaged stream says how far it can read, and replays up to there', async (t) => {
  const root = await stoppedRoot(t, 'berth-corrupt-', 'web');
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
