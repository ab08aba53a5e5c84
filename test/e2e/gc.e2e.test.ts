import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openRuntime } from '../../src/index.js';
import { makeBundle, tempRoot, type Bundle } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { actAsShim, assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * Retention: `berth gc` archives and prunes the streams of deleted containers, never a live
 * one, and the global order stays what it was (positions are never renumbered).
 */

let root: string;
let cleanupRoot: () => void;
let bundle: Bundle;
let archive: string;

before(() => {
  actAsShim();
  ({ root, cleanup: cleanupRoot } = tempRoot());
  bundle = makeBundle(['sleep', '1000']);
  archive = mkdtempSync(join(tmpdir(), 'berth-archive-'));
});
after(() => {
  bundle.cleanup();
  cleanupRoot();
  rmSync(archive, { recursive: true, force: true });
});

async function ok(args: string[]) {
  const r = await berth(root, args);
  assert.equal(r.status, 0, `berth ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

const historyOf = async (id: string) => (await ok(['history', '--format', 'json', id])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { version: number; position: number; type: string; at: string });

async function allEvents() {
  const rt = await openRuntime({ root, serve: false });
  try {
    return await rt.log.readAll();
  } finally {
    await rt.close();
  }
}

test('gc: deleted containers are archived and pruned, old enough first; live ones and the global order are untouched', async (t) => {
  t.after(() => berth(root, ['delete', '--force', 'gc-live']));
  const before = snapshot();
  for (const id of ['gc-old', 'gc-new', 'gc-live']) await ok(['run', '--detach', '--bundle', bundle.dir, id]);
  await ok(['delete', '--force', 'gc-old']);
  await ok(['delete', '--force', 'gc-new']);
  const oldHistory = await historyOf('gc-old');
  const newHistory = await historyOf('gc-new');
  const liveHistory = await historyOf('gc-live');
  const everything = await allEvents();

  const none = JSON.parse((await ok(['gc', '--older-than', '1h', '--format', 'json'])).stdout) as { pruned: unknown[]; kept: string[] };
  assert.deepEqual(none.pruned, [], 'nothing was deleted an hour ago');
  assert.deepEqual(none.kept.sort(), ['gc-live', 'gc-new', 'gc-old']);
  // A clock a minute after gc-old was deleted: only it is old enough.
  const now = () => new Date(Date.parse(oldHistory.at(-1)!.at) + 60_001);
  const first = await (async () => {
    const rt = await openRuntime({ root, serve: false });
    try {
      return await rt.gc({ archive, olderThanMs: 60_000, now });
    } finally {
      await rt.close();
    }
  })();
  assert.deepEqual(first.pruned.map((p) => [p.id, p.pruned]), [['gc-old', oldHistory.length]], 'only the container deleted long enough ago');
  assert.deepEqual(first.kept.sort(), ['gc-live', 'gc-new']);
  const archived = readFileSync(join(archive, 'gc-old.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { version: number; position: number; type: string });
  assert.deepEqual(archived.map((e) => [e.version, e.position, e.type]), oldHistory.map((e) => [e.version, e.position, e.type]), 'the archive holds the stream as it was');

  const gone = await berth(root, ['history', 'gc-old']);
  assert.equal(gone.status, 4);
  assert.match(gone.stderr, /history of container gc-old was removed by gc \(up to version \d+\) \[NOT_EXISTS\]/);
  assert.deepEqual(await historyOf('gc-live'), liveHistory, 'the live container keeps everything');
  assert.deepEqual(await historyOf('gc-new'), newHistory);

  // The global order: what is left is what was there, at the same positions.
  const left = await allEvents();
  assert.deepEqual(left, everything.filter((e) => e.stream !== 'gc-old'));

  // The id used again continues its stream; the next gc appends to its archive without repeats.
  await ok(['create', '--bundle', bundle.dir, 'gc-old']);
  const reborn = await historyOf('gc-old');
  assert.equal(reborn[0]?.version, oldHistory.length + 1);
  assert.equal((JSON.parse((await ok(['state', 'gc-old'])).stdout) as { status: string }).status, 'created');
  await ok(['delete', '--force', 'gc-old']);
  const second = JSON.parse((await ok(['gc', '--archive', archive, '--format', 'json'])).stdout) as { pruned: Array<{ id: string }> };
  assert.deepEqual(second.pruned.map((p) => p.id).sort(), ['gc-new', 'gc-old']);
  const versions = readFileSync(join(archive, 'gc-old.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { version: number }).version);
  assert.deepEqual(versions, versions.map((_, i) => i + 1), 'both incarnations, each event once');
  assert.deepEqual((await allEvents()).map((e) => e.stream), everything.filter((e) => e.stream === 'gc-live').map((e) => e.stream));
  assert.equal((JSON.parse((await ok(['state', 'gc-live'])).stdout) as { status: string }).status, 'running');
  assert.match((await ok(['gc'])).stdout.trim(), /^ID\s+EVENTS\s+ARCHIVE$/, 'nothing left to collect');

  await ok(['delete', '--force', 'gc-live']);
  await assertNoLeaks(before, root);
});

test('gc: a bad duration is refused with a code and prunes nothing', async () => {
  const r = await berth(root, ['gc', '--older-than', '3 days']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /duration "3 days": use e.g. 90s, 15m, 24h, 7d \[INVALID_ARGUMENT\]/);
});
