import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filter, firstValueFrom, lastValueFrom, map, take, timeout, toArray } from 'rxjs';
import { openRuntime, type ContainerState } from '../../src/index.js';
import { makeBundle, tempRoot } from '../helpers/bundle.js';
import { berth } from '../helpers/cli.js';
import { runtimeFixture } from '../helpers/fixture.js';
import { assertNoLeaks, snapshot } from '../helpers/leaks.js';

/**
 * The library's live views: each starts with the current state, then follows the log as it is
 * committed (by this process or another), and completes on delete or close. Nothing polls:
 * every value comes from a committed event.
 */

const f = runtimeFixture();

const ids = (set: ContainerState[]) => set.map((s) => `${s.id}:${s.status}`);

test('containers$: the current set first, then every change, from this process and from a CLI; deleted ones leave', async () => {
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  await f.rt.create('s-one', { bundle: b.dir, stdio: 'ignore' });
  const sets: string[][] = [];
  const sub = f.rt.containers$.subscribe((set) => sets.push(ids(set)));
  const first = await firstValueFrom(f.rt.containers$.pipe(timeout(10_000)));
  assert.deepEqual(ids(first), ['s-one:created'], 'starts with the current set');

  const runningTwo = firstValueFrom(f.rt.containers$.pipe(filter((s) => ids(s).includes('s-two:running')), timeout(20_000)));
  // Another process creates and starts a container: the set follows.
  assert.equal((await berth(f.root, ['create', '--bundle', b.dir, 's-two'])).status, 0);
  assert.equal((await berth(f.root, ['start', 's-two'])).status, 0);
  assert.deepEqual(ids(await runningTwo), ['s-one:created', 's-two:running']);
  await f.rt.delete('s-one', true);
  await f.rt.delete('s-two', true);
  sub.unsubscribe();
  assert.deepEqual(sets[0], ['s-one:created']);
  assert.ok(sets.some((s) => s.join() === 's-one:created,s-two:created'), JSON.stringify(sets));
  assert.deepEqual(sets.at(-1), [], 'deleted containers leave the set');
  // Every value after the first came from a committed event: as many sets as events, at most.
  const events = [...await f.rt.history('s-one'), ...await f.rt.history('s-two')].filter((e) => e.position > 0);
  assert.ok(sets.length - 1 <= events.length, `${sets.length} sets for ${events.length} events`);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('c.events$: the whole history, then live events; completes once the container is deleted', async () => {
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  const c = await f.rt.create('s-events', { bundle: b.dir, stdio: 'ignore' });
  const all = lastValueFrom(c.events$.pipe(map((e) => `${e.version}:${e.type}`), toArray(), timeout(20_000)));
  await c.start();
  await c.pause();
  await c.resume();
  await c.delete({ force: true });
  const seen = await all;
  assert.deepEqual(seen, (await c.history()).map((e) => `${e.version}:${e.type}`), 'no gap, no repeat, then complete');
  assert.equal(seen.at(-1), `${seen.length}:Deleted`);
  // Subscribing to a deleted container replays its history and completes at once.
  const again = await lastValueFrom(c.events$.pipe(toArray(), timeout(5000)));
  assert.equal(again.length, seen.length);
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('c.state$ starts with the state reconciled with the kernel, then follows; rt.history and rt.replay take ranges', async () => {
  const before = snapshot();
  const b = f.bundle(['sleep', '1000']);
  // Made by a CLI process, killed behind berth's back: nobody logged the exit yet.
  assert.equal((await berth(f.root, ['create', '--bundle', b.dir, 's-state'])).status, 0);
  assert.equal((await berth(f.root, ['start', 's-state'])).status, 0);
  const pid = (await f.rt.history('s-state')).find((e) => e.type === 'Created')!.data.pid as number;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && (await import('node:fs')).readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.[0] !== 'Z'; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const c = await f.rt.get('s-state');
  const first = await firstValueFrom(c.state$.pipe(timeout(10_000)));
  assert.equal(first.status, 'stopped', 'the first value is the truth, not the stale log');
  const history = await f.rt.history('s-state');
  assert.equal(history.at(-1)?.type, 'Observed');
  assert.deepEqual((await f.rt.history('s-state', { from: 2, to: 3 })).map((e) => e.type), ['Created', 'StartRequested']);
  assert.equal((await f.rt.replay('s-state', { at: 2 }))?.status, 'created');
  assert.equal((await f.rt.replay('s-state', { at: 4 }))?.status, 'running');
  assert.equal((await f.rt.replay('s-state'))?.status, 'stopped');
  const states = lastValueFrom(c.state$.pipe(map((s) => s.state), toArray(), timeout(10_000)));
  await c.delete();
  assert.deepEqual(await states, ['stopped', 'deleting', 'deleted'], 'completes on delete');
  await assertNoLeaks(before, f.root, { openRuntime: true });
});

test('rt.eventsFrom$ replays from a global position then follows; every stream completes when the runtime closes', async () => {
  const before = snapshot();
  const dir = tempRoot();
  const b = makeBundle(['sleep', '1000']);
  const rt = await openRuntime({ root: dir.root });
  try {
    const c = await rt.create('s-close', { bundle: b.dir, stdio: 'ignore' });
    const fromStart = lastValueFrom(rt.eventsFrom$(1).pipe(map((e) => `${e.position}:${e.type}`), toArray(), timeout(20_000)));
    const fromTwo = firstValueFrom(rt.eventsFrom$(2).pipe(take(2), map((e) => e.position), toArray(), timeout(20_000)));
    const live = lastValueFrom(rt.events$.pipe(map((e) => e.type), toArray(), timeout(20_000)));
    const sets = lastValueFrom(rt.containers$.pipe(toArray(), timeout(20_000)));
    const state = lastValueFrom(c.state$.pipe(toArray(), timeout(20_000)));
    const events = lastValueFrom(c.events$.pipe(toArray(), timeout(20_000)));
    await firstValueFrom(rt.containers$);
    await c.start();
    await c.delete({ force: true });
    const c2 = await rt.create('s-open', { bundle: b.dir, stdio: 'ignore' });
    const openState = lastValueFrom(c2.state$.pipe(toArray(), timeout(20_000)));
    const openEvents = lastValueFrom(c2.events$.pipe(toArray(), timeout(20_000)));
    await firstValueFrom(c2.state$);
    await rt.close();
    // Still there, and its streams completed with the runtime.
    assert.equal((await openState).at(-1)?.state, 'created');
    assert.equal((await openEvents).at(-1)?.type, 'Created');
    const rt2 = await openRuntime({ root: dir.root });
    await rt2.delete('s-open', true);
    await rt2.close();
    assert.deepEqual((await fromStart).map((e) => Number(e.split(':')[0])), Array.from({ length: (await fromStart).length }, (_, i) => i + 1));
    assert.deepEqual(await fromTwo, [2, 3]);
    assert.ok((await live).includes('Started'));
    assert.ok((await sets).length > 0);
    assert.equal((await state).at(-1)?.state, 'deleted');
    assert.equal((await events).at(-1)?.type, 'Deleted');
  } finally {
    await rt.close();
    b.cleanup();
    dir.cleanup();
  }
  await assertNoLeaks(before);
});
