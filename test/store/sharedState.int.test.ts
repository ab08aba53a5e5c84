import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstValueFrom, lastValueFrom, take, toArray, type Subscription } from 'rxjs';
import { openRuntime } from '../../src/index.js';
import type { ContainerState } from '../../src/machines/replay.js';
import { stoppedRoot } from '../helpers/stoppedRoot.js';

/**
 * state$ subscribers of one runtime share one fold of the container's log (one log
 * subscription, one read), and each still gets what a subscription of its own would give:
 * the state now, then every change, and completion on delete. The container is a stopped one
 * written straight into the log, so no kernel is involved.
 */
test('state$ subscribers share one fold of the log: same values, a late one starts from the latest, delete completes all', async (t) => {
  const root = await stoppedRoot(t, 'berth-share-', 'web');
  const rt = await openRuntime({ root, serve: false });
  t.after(() => rt.close());
  // Counts the log subscriptions made for this container: one per fold.
  const events$ = rt.log.events$.bind(rt.log);
  let folds = 0;
  rt.log.events$ = (stream?: string) => {
    if (stream === 'web') folds++;
    return events$(stream);
  };

  const seen: ContainerState[][] = [[], [], []];
  const subs: Subscription[] = [];
  const firsts = seen.map((got) => new Promise<void>((resolve) => {
    subs.push(rt.state$('web').subscribe((s) => {
      got.push(s);
      resolve();
    }));
  }));
  await Promise.all(firsts);
  assert.equal(folds, 1, 'three subscribers, one fold');
  for (const got of seen) assert.deepEqual(got.map((s) => [s.status, s.version]), [['stopped', 5]]);

  const next = Promise.all(seen.map((_, i) => firstValueFrom(rt.state$('web').pipe(take(2), toArray())).then((v) => [i, v] as const)));
  await rt.log.append('web', [{ type: 'OomKilled', data: { count: 1 } }], { expectedVersion: 5 });
  for (const got of seen) assert.deepEqual(got.map((s) => [s.version, s.oomKills]), [[5, 0], [6, 1]]);
  // Subscribed before the append: their first value was the state then, the second the change.
  for (const [, v] of await next) assert.deepEqual(v.map((s) => s.version), [5, 6]);

  const late = await firstValueFrom(rt.state$('web'));
  assert.equal(late.version, 6, 'a late subscriber starts from the latest state');
  assert.equal(folds, 1);

  const ends = seen.map(() => false);
  subs.forEach((s, i) => s.add(() => (ends[i] = true)));
  const all = lastValueFrom(rt.state$('web').pipe(toArray()));
  await rt.delete('web');
  assert.deepEqual(ends, [true, true, true], 'delete completes every subscriber');
  assert.deepEqual((await all).map((s) => s.state), ['stopped', 'deleting', 'deleted']);
  for (const got of seen) assert.equal(got.at(-1)?.state, 'deleted');

  // After the last subscriber left, the next one folds the log afresh.
  const after = await lastValueFrom(rt.state$('web').pipe(toArray()));
  assert.deepEqual(after.map((s) => s.state), ['deleted']);
  assert.equal(folds, 2);
});
