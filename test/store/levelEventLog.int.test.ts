import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { globalKey, HEAD_KEY, snapshotKey, streamKey } from '../../src/store/keys.js';
import { openLevelEventLog } from '../../src/store/levelEventLog.js';
import { eventLogContract, ev, rejectsWith } from './eventLog.contract.js';
import { spawnFixture } from './fixtures/child.js';

async function tempDir(t?: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-level-'));
  t?.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Raw access to the LevelDB behind a (closed) log, to corrupt it or look at what is stored. */
async function raw<T>(dir: string, fn: (db: ClassicLevel<string, string>) => Promise<T>): Promise<T> {
  const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
  await db.open();
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

const corruptNaming = (key: string) => (e: unknown) => {
  assert.equal((e as { code?: unknown }).code, 'STORE_CORRUPT', String(e));
  assert.ok((e as Error).message.includes(JSON.stringify(key)), (e as Error).message);
  return true;
};

eventLogContract('level', async () => {
  const dir = await tempDir();
  const log = await openLevelEventLog(dir);
  return {
    log,
    async cleanup() {
      await log.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

test('reopening keeps every event, version and position, and appends continue from them', async (t) => {
  const dir = await tempDir(t);
  const first = await openLevelEventLog(dir);
  t.after(() => first.close());
  await first.append('web', [ev('A', { x: 1 }), ev('B')], { expectedVersion: 'no_stream' });
  await first.append('db', [ev('C')], { expectedVersion: 'no_stream', sync: true });
  const before = await first.readAll();
  await first.close();

  const again = await openLevelEventLog(dir);
  t.after(() => again.close());
  assert.deepEqual(await again.readAll(), before);
  assert.deepEqual(await again.read('web'), before.slice(0, 2));
  assert.equal(await again.version('web'), 2);
  assert.deepEqual(await again.streams(), ['db', 'web']);
  await rejectsWith(again.append('web', [ev('X')], { expectedVersion: 1 }), 'CONFLICT', 'append to stream web: expected version 1, found 2');
  const next = await again.append('web', [ev('D')], { expectedVersion: 2 });
  assert.deepEqual([next.nextVersion, next.lastPosition], [3, 4]);
});

/** Records every batch the log writes (chained: put… then write) with its keys and options. */
function recordBatches(t: { after(fn: () => void): void }, hold?: Promise<void>): Array<{ keys: string[]; options: unknown }> {
  const calls: Array<{ keys: string[]; options: unknown }> = [];
  const proto = ClassicLevel.prototype as unknown as { batch: (...a: unknown[]) => unknown };
  const original = proto.batch;
  proto.batch = function (this: unknown, ...a: unknown[]) {
    const b = original.apply(this, a) as { put(k: string, v: string): unknown; write(o: unknown): Promise<void> };
    if (a.length > 0) return b;
    const keys: string[] = [];
    return {
      put: (k: string, v: string) => { keys.push(k); b.put(k, v); },
      write: async (o: unknown) => {
        calls.push({ keys, options: o });
        // `hold`: the first write stays in flight until the test lets it go.
        if (calls.length === 1 && hold) await hold;
        return b.write(o);
      },
    };
  };
  t.after(() => {
    proto.batch = original;
  });
  return calls;
}

test('each append is exactly one batch of events, global entries and heads, with sync passed through', async (t) => {
  const dir = await tempDir(t);
  const calls = recordBatches(t);
  const log = await openLevelEventLog(dir, { sync: true });
  t.after(() => log.close());
  await log.append('web', [ev('A'), ev('B')], { expectedVersion: 'no_stream', sync: false });
  await log.append('web', [ev('C')], { expectedVersion: 2 });
  await rejectsWith(log.append('web', [ev('D')], { expectedVersion: 2 }), 'CONFLICT');
  assert.equal(calls.length, 2, 'one batch per successful append, none for a conflict');
  assert.deepEqual(calls.map((c) => (c.options as { sync?: boolean }).sync), [false, true]);
  assert.deepEqual(calls[0]?.keys.sort(), [
    streamKey('web', 1),
    streamKey('web', 2),
    globalKey(1),
    globalKey(2),
    'm\0head',
    'm\0stream\0web',
  ].sort());
});

test('appends queued before a write starts share one batch and its sync (group commit); a stale one is left out', async (t) => {
  const dir = await tempDir(t);
  const calls = recordBatches(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  const all = [
    log.append('a', [ev('A')], { expectedVersion: 'no_stream' }),
    log.append('b', [ev('B')], { expectedVersion: 'no_stream' }),
    log.append('b', [ev('B2')], { expectedVersion: 1, sync: true }),
    log.append('b', [ev('stale')], { expectedVersion: 1 }),
    log.append('c', [ev('C')], { expectedVersion: 'no_stream' }),
  ];
  const results = await Promise.allSettled(all);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  assert.equal(calls.length, 1, `batches: ${JSON.stringify(calls.map((c) => c.keys.length))}`);
  assert.equal((calls[0]?.options as { sync?: boolean }).sync, true, 'synced: one of the appends asked for it');
  assert.deepEqual(calls[0]?.keys.filter((k) => k.startsWith('m\0')).sort(), ['m\0head', 'm\0stream\0a', 'm\0stream\0b', 'm\0stream\0b', 'm\0stream\0c'].sort());
  assert.deepEqual((await log.readAll()).map((e) => `${e.position}:${e.stream}@${e.version}:${e.type}`), ['1:a@1:A', '2:b@1:B', '3:b@2:B2', '4:c@1:C']);
  await log.append('c', [ev('C2')], { expectedVersion: 1 });
  assert.equal(calls.length, 2, 'alone, it is written alone');
  assert.equal((calls[1]?.options as { sync?: boolean }).sync, false);
});

test('a group stops at 4096 events: the appends beyond wait for the next write, in order', async (t) => {
  const dir = await tempDir(t);
  const calls = recordBatches(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  const big = (n: number) => Array.from({ length: 2000 }, (_, i) => ev(`E${n}-${i}`));
  const results = await Promise.all([1, 2, 3].map((n) => log.append(`s${n}`, big(n), { expectedVersion: 'no_stream' })));
  assert.deepEqual(results.map((r) => r.lastPosition), [2000, 4000, 6000]);
  // Events, global entries and a stream head per append, then the log's head.
  assert.deepEqual(calls.map((c) => c.keys.length), [2 * 4000 + 2 + 1, 2 * 2000 + 1 + 1]);
  const all = await log.readAll();
  assert.deepEqual([all[0]?.type, all[1999]?.type, all[2000]?.type, all[5999]?.type], ['E1-0', 'E1-1999', 'E2-0', 'E3-1999']);
});

test('appends made while a write is in flight wait for it, then share the next batch', async (t) => {
  const dir = await tempDir(t);
  let release = (): void => undefined;
  const calls = recordBatches(t, new Promise<void>((r) => { release = r; }));
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  const first = log.append('a', [ev('A')], { expectedVersion: 'no_stream', sync: true });
  while (calls.length === 0) await new Promise((r) => setImmediate(r));
  const later = [1, 2, 3].map((n) => log.append(`s${n}`, [ev('E')], { expectedVersion: 'no_stream' }));
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 1, 'nothing else is written while the first write is in flight');
  release();
  await first;
  await Promise.all(later);
  assert.equal(calls.length, 2, `batches: ${JSON.stringify(calls.map((c) => c.keys.length))}`);
  assert.deepEqual((await log.readAll()).map((e) => e.stream), ['a', 's1', 's2', 's3']);
});

test('a corrupted value is STORE_CORRUPT naming its key, never skipped', async (t) => {
  const dir = await tempDir(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  await log.append('web', [ev('A'), ev('B')], { expectedVersion: 'no_stream' });
  await log.append('db', [ev('C')], { expectedVersion: 'no_stream' });
  await log.close();
  await raw(dir, (db) => db.put(streamKey('web', 2), '{"position":2,"type":"B",'));

  const reopened = await openLevelEventLog(dir);
  t.after(() => reopened.close());
  await assert.rejects(reopened.read('web'), corruptNaming(streamKey('web', 2)));
  await assert.rejects(reopened.read('web', { from: 2 }), corruptNaming(streamKey('web', 2)));
  await assert.rejects(reopened.readAll(), corruptNaming(streamKey('web', 2)));
  // What is intact stays readable.
  assert.deepEqual((await reopened.read('web', { to: 1 })).map((e) => e.type), ['A']);
  assert.deepEqual((await reopened.read('db')).map((e) => e.type), ['C']);
  assert.deepEqual((await reopened.readAll({ from: 3 })).map((e) => e.type), ['C']);
});

test('a corrupted global entry or head is STORE_CORRUPT naming its key', async (t) => {
  const dir = await tempDir(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  await log.append('web', [ev('A'), ev('B')], { expectedVersion: 'no_stream' });
  await log.close();

  await raw(dir, (db) => db.put(globalKey(2), 'garbage'));
  const a = await openLevelEventLog(dir);
  t.after(() => a.close());
  await assert.rejects(a.readAll(), corruptNaming(globalKey(2)));
  await a.close();

  await raw(dir, (db) => db.put(globalKey(2), JSON.stringify({ stream: 'web', version: 9 })));
  const b = await openLevelEventLog(dir);
  t.after(() => b.close());
  await assert.rejects(b.readAll(), corruptNaming(globalKey(2)));
  await b.close();

  await raw(dir, (db) => db.put(HEAD_KEY, 'x'));
  await assert.rejects(openLevelEventLog(dir), corruptNaming(HEAD_KEY));
  await raw(dir, (db) => db.put(HEAD_KEY, '1'));
  await assert.rejects(openLevelEventLog(dir), corruptNaming(HEAD_KEY));
  await raw(dir, (db) => db.put(HEAD_KEY, '2'));
  const c = await openLevelEventLog(dir); // repaired: opens again
  await c.close();
});

test('events written with an older schema are upcast on read; the stored value is never rewritten', async (t) => {
  const dir = await tempDir(t);
  const v1 = await openLevelEventLog(dir);
  t.after(() => v1.close());
  await v1.append('web', [ev('Created', { path: '/bundle' })], { expectedVersion: 'no_stream' });
  await v1.close();
  const stored = await raw(dir, (db) => db.get(streamKey('web', 1)));

  const upcasters = { Created: { 1: ({ path, ...rest }: Record<string, unknown>) => ({ ...rest, bundle: path, rootless: false }) } };
  const v2 = await openLevelEventLog(dir, { upcasters });
  t.after(() => v2.close());
  const [old] = await v2.read('web');
  assert.equal(old?.schema, 2);
  assert.deepEqual(old?.data, { bundle: '/bundle', rootless: false });
  assert.deepEqual((await v2.readAll())[0], old);
  const fresh = await v2.append('web', [ev('Created', { bundle: '/b2', rootless: true })], { expectedVersion: 1 });
  assert.equal(fresh.events[0]?.schema, 2);
  await v2.close();
  assert.equal(await raw(dir, (db) => db.get(streamKey('web', 1))), stored);
  assert.equal(JSON.parse(stored ?? '{}').schema, 1);
});

test('a second open in this process is STORE_LOCKED', async (t) => {
  const dir = await tempDir(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  await rejectsWith(openLevelEventLog(dir), 'STORE_LOCKED', `event log ${dir} is already open in this process`);
});

test('a second process opening the same directory gets STORE_LOCKED', async (t) => {
  const dir = await tempDir(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  const child = spawnFixture('open-level', { dir });
  t.after(() => child.kill());
  assert.equal((await child.next()).started, true);
  const res = await child.next();
  assert.deepEqual(res.error, { code: 'STORE_LOCKED', message: `event log ${dir} is locked by another process` });
  assert.equal(await child.exited, 0);

  // Released on close: the other process gets in.
  await log.close();
  const again = spawnFixture('open-level', { dir });
  t.after(() => again.kill());
  await again.next();
  assert.deepEqual(await again.next(), { ok: true });
});

test('a snapshot value that does not decode is left out, never fatal; the runtime rebuilds it from the log', async (t) => {
  const dir = await tempDir(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  await log.append('web', [ev('A'), ev('B')], { expectedVersion: 'no_stream' });
  await log.append('db', [ev('C')], { expectedVersion: 'no_stream' });
  await log.writeSnapshots([{ stream: 'web', version: 2, data: { n: 1 } }, { stream: 'db', version: 1, data: { n: 2 } }]);
  await log.close();
  await raw(dir, async (db) => {
    await db.put(snapshotKey('web'), '{"version":2,"data":');
    await db.put('p\0', '{"version":1,"data":{}}');
  });
  const again = await openLevelEventLog(dir);
  t.after(() => again.close());
  assert.deepEqual(await again.readSnapshots(), [{ stream: 'db', version: 1, data: { n: 2 } }]);
  assert.deepEqual((await again.read('web')).map((e) => e.type), ['A', 'B'], 'the events are untouched');
});

test('a prune is durable: after reopening, the stream is still pruned and positions still taken', async (t) => {
  const dir = await tempDir(t);
  const log = await openLevelEventLog(dir);
  t.after(() => log.close());
  await log.append('old', [ev('A'), ev('B')], { expectedVersion: 'no_stream' });
  await log.append('live', [ev('C')], { expectedVersion: 'no_stream' });
  await log.prune('old', { expectedVersion: 2 });
  await log.close();
  assert.equal(await raw(dir, (db) => db.get(streamKey('old', 1))), undefined, 'the event is gone from disk');
  assert.deepEqual(JSON.parse((await raw(dir, (db) => db.get(globalKey(1)))) ?? 'null'), { stream: 'old', version: 1, pruned: true });
  const again = await openLevelEventLog(dir);
  t.after(() => again.close());
  assert.deepEqual(await again.streams(), ['live']);
  assert.equal(await again.version('old'), 2);
  assert.deepEqual((await again.readAll()).map((e) => [e.position, e.type]), [[3, 'C']]);
  const next = await again.append('old', [ev('D')], { expectedVersion: 2 });
  assert.deepEqual([next.nextVersion, next.lastPosition], [3, 4]);
});
