import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { firstValueFrom, lastValueFrom, take, timeout, toArray, type Observable } from 'rxjs';
import { isRuntimeError, type ErrorCode } from '../../src/errors.js';
import type { EventLog, NewEvent, StoredEvent } from '../../src/store/eventLog.js';

/**
 * The one behaviour every EventLog must have (memory, LevelDB, remote). Each test gets a
 * fresh, empty log from `make` and calls `cleanup` whatever happens.
 */
export interface LogUnderTest {
  log: EventLog;
  cleanup(): Promise<void>;
}

export const ev = (type: string, data: Record<string, unknown> = {}): NewEvent => ({ type, data });

export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, message?: RegExp | string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isRuntimeError(e), `expected a RuntimeError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return true;
  });
}

/** The first n values, subscribing now; fails after ms instead of hanging. */
export function takeNext<T>(obs: Observable<T>, n: number, ms = 3000): Promise<T[]> {
  return firstValueFrom(obs.pipe(take(n), toArray(), timeout(ms)));
}

const summary = (events: StoredEvent[]) => events.map((e) => `${e.stream}@${e.version}#${e.position}:${e.type}`);

export function eventLogContract(name: string, make: () => Promise<LogUnderTest>): void {
  const it = (title: string, fn: (log: EventLog) => Promise<void>) =>
    test(title, async () => {
      const { log, cleanup } = await make();
      try {
        await fn(log);
      } finally {
        await cleanup();
      }
    });

  describe(`EventLog contract: ${name}`, () => {
    it('appends and reads back in order with versions from 1', async (log) => {
      const before = Date.now();
      const res = await log.append('web', [ev('Created', { n: 1 }), ev('Started', { n: 2 })], { expectedVersion: 'no_stream' });
      assert.equal(res.nextVersion, 2);
      assert.equal(res.lastPosition, 2);
      const read = await log.read('web');
      assert.deepEqual(read, res.events);
      assert.deepEqual(summary(read), ['web@1#1:Created', 'web@2#2:Started']);
      assert.deepEqual(read.map((e) => e.data), [{ n: 1 }, { n: 2 }]);
      assert.deepEqual(read.map((e) => e.schema), [1, 1]);
      for (const e of read) {
        assert.equal(new Date(e.at).toISOString(), e.at);
        assert.ok(Date.parse(e.at) >= before - 1000 && Date.parse(e.at) <= Date.now() + 1000, e.at);
      }
      const more = await log.append('web', [ev('Paused')], { expectedVersion: 2 });
      assert.deepEqual(summary(more.events), ['web@3#3:Paused']);
      assert.deepEqual(summary(await log.read('web')), ['web@1#1:Created', 'web@2#2:Started', 'web@3#3:Paused']);
    });

    it('keeps an explicit schema and stores a copy of the data', async (log) => {
      const data: Record<string, unknown> = { nested: { a: 1 } };
      await log.append('web', [{ type: 'Old', schema: 3, data }], { expectedVersion: 'any', sync: true });
      (data.nested as { a: number }).a = 2;
      data.extra = true;
      const [read] = await log.read('web');
      assert.equal(read?.schema, 3);
      assert.deepEqual(read?.data, { nested: { a: 1 } });
    });

    it('reads a range with from and to', async (log) => {
      await log.append('web', ['A', 'B', 'C', 'D'].map((t) => ev(t)), { expectedVersion: 'no_stream' });
      const types = async (opts: { from?: number; to?: number }) => (await log.read('web', opts)).map((e) => e.type);
      assert.deepEqual(await types({ from: 2 }), ['B', 'C', 'D']);
      assert.deepEqual(await types({ to: 2 }), ['A', 'B']);
      assert.deepEqual(await types({ from: 2, to: 3 }), ['B', 'C']);
      assert.deepEqual(await types({ from: 4, to: 9 }), ['D']);
      assert.deepEqual(await types({ from: 5 }), []);
      assert.deepEqual(await types({ from: 3, to: 2 }), []);
      assert.deepEqual(await types({ to: 0 }), []);
      assert.deepEqual(await log.read('nobody'), []);
      await rejectsWith(log.read('web', { from: 0 }), 'INVALID_ARGUMENT');
      await rejectsWith(log.read('web', { from: 1.5 }), 'INVALID_ARGUMENT');
    });

    it('gives global positions across interleaved streams', async (log) => {
      await log.append('a', [ev('A1')], { expectedVersion: 'no_stream' });
      await log.append('b', [ev('B1')], { expectedVersion: 'no_stream' });
      await log.append('a', [ev('A2'), ev('A3')], { expectedVersion: 1 });
      const last = await log.append('b', [ev('B2')], { expectedVersion: 1 });
      assert.equal(last.lastPosition, 5);
      assert.equal(last.nextVersion, 2);
      const all = await log.readAll();
      assert.deepEqual(summary(all), ['a@1#1:A1', 'b@1#2:B1', 'a@2#3:A2', 'a@3#4:A3', 'b@2#5:B2']);
      assert.deepEqual(summary(await log.readAll({ from: 3 })), ['a@2#3:A2', 'a@3#4:A3', 'b@2#5:B2']);
      assert.deepEqual(summary(await log.readAll({ from: 2, limit: 2 })), ['b@1#2:B1', 'a@2#3:A2']);
      assert.deepEqual(await log.readAll({ limit: 0 }), []);
      assert.deepEqual(await log.readAll({ from: 6 }), []);
      assert.deepEqual(await log.read('a'), all.filter((e) => e.stream === 'a'));
      await rejectsWith(log.readAll({ from: 0 }), 'INVALID_ARGUMENT');
    });

    it("refuses 'no_stream' on an existing stream with CONFLICT", async (log) => {
      await log.append('web', [ev('Created')], { expectedVersion: 'no_stream' });
      await rejectsWith(
        log.append('web', [ev('Created')], { expectedVersion: 'no_stream' }),
        'CONFLICT',
        'append to stream web: expected no stream, found 1',
      );
      // 0 means the same as 'no_stream'.
      await rejectsWith(log.append('web', [ev('Created')], { expectedVersion: 0 }), 'CONFLICT');
      await log.append('db', [ev('Created')], { expectedVersion: 0 });
      assert.equal(await log.version('web'), 1);
    });

    it('refuses a stale expected version and appends none of the events', async (log) => {
      await log.append('web', [ev('A'), ev('B'), ev('C')], { expectedVersion: 'no_stream' });
      await log.append('other', [ev('X')], { expectedVersion: 'no_stream' });
      const before = { read: await log.read('web'), all: await log.readAll() };
      await rejectsWith(
        log.append('web', [ev('D'), ev('E')], { expectedVersion: 2 }),
        'CONFLICT',
        'append to stream web: expected version 2, found 3',
      );
      await rejectsWith(log.append('web', [ev('D')], { expectedVersion: 4 }), 'CONFLICT', /expected version 4, found 3/);
      await rejectsWith(log.append('new', [ev('D')], { expectedVersion: 1 }), 'CONFLICT', 'append to stream new: expected version 1, found 0');
      assert.deepEqual(await log.read('web'), before.read);
      assert.deepEqual(await log.readAll(), before.all);
      assert.equal(await log.version('web'), 3);
      assert.deepEqual(await log.streams(), ['other', 'web']);
      // The next good append continues where the log was.
      const next = await log.append('web', [ev('D')], { expectedVersion: 3 });
      assert.deepEqual(summary(next.events), ['web@4#5:D']);
    });

    it('refuses bad input with INVALID_ARGUMENT and appends nothing', async (log) => {
      const bad = [ev('A'), { type: 'B', data: 'not an object' }] as unknown as NewEvent[];
      await rejectsWith(log.append('web', bad, { expectedVersion: 'any' }), 'INVALID_ARGUMENT', /event 1/);
      await rejectsWith(log.append('web', [], { expectedVersion: 'any' }), 'INVALID_ARGUMENT');
      await rejectsWith(log.append('web', [{ type: '', data: {} }], { expectedVersion: 'any' }), 'INVALID_ARGUMENT');
      await rejectsWith(log.append('web', [{ type: 'A', data: {}, schema: 0 }], { expectedVersion: 'any' }), 'INVALID_ARGUMENT');
      await rejectsWith(log.append('web', [ev('A')], { expectedVersion: -1 }), 'INVALID_ARGUMENT');
      await rejectsWith(log.append('web', [ev('A')], { expectedVersion: 'latest' as never }), 'INVALID_ARGUMENT');
      await rejectsWith(log.append('web', [ev('A')], undefined as never), 'INVALID_ARGUMENT');
      for (const stream of ['', 'a\0b', '\uD800x']) {
        await rejectsWith(log.append(stream, [ev('A')], { expectedVersion: 'any' }), 'INVALID_ARGUMENT');
        await rejectsWith(log.read(stream), 'INVALID_ARGUMENT');
        await rejectsWith(log.version(stream), 'INVALID_ARGUMENT');
      }
      assert.deepEqual(await log.readAll(), []);
      assert.deepEqual(await log.streams(), []);
    });

    it("'any' always appends", async (log) => {
      await log.append('web', [ev('A')], { expectedVersion: 'any' });
      await log.append('web', [ev('B')], { expectedVersion: 'any' });
      const r = await log.append('web', [ev('C'), ev('D')], { expectedVersion: 'any' });
      assert.equal(r.nextVersion, 4);
      assert.deepEqual((await log.read('web')).map((e) => e.version), [1, 2, 3, 4]);
    });

    it('lets exactly one of concurrent appends with the same expected version win', async (log) => {
      await log.append('web', [ev('Created')], { expectedVersion: 'no_stream' });
      const racers = Array.from({ length: 8 }, (_, i) => log.append('web', [ev(`R${i}`), ev(`R${i}b`)], { expectedVersion: 1 }));
      const results = await Promise.allSettled(racers);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1);
      assert.equal(lost.length, 7);
      for (const r of lost) assert.ok(isRuntimeError(r.reason, 'CONFLICT'), String(r.reason));
      const read = await log.read('web');
      assert.equal(read.length, 3);
      assert.equal(read[1]?.type.replace(/b$/, ''), read[2]?.type.replace(/b$/, ''));
      assert.equal((await log.readAll()).length, 3);

      const fresh = await Promise.allSettled([1, 2, 3].map(() => log.append('db', [ev('Created')], { expectedVersion: 'no_stream' })));
      assert.equal(fresh.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal(await log.version('db'), 1);
    });

    it('assigns gapless global positions to concurrent appends on many streams', async (log) => {
      const streams = ['s1', 's2', 's3', 's4'];
      await Promise.all(streams.flatMap((s) => [1, 2, 3].map(() => log.append(s, [ev('E')], { expectedVersion: 'any' }))));
      const all = await log.readAll();
      assert.deepEqual(all.map((e) => e.position), Array.from({ length: 12 }, (_, i) => i + 1));
      for (const s of streams) assert.deepEqual((await log.read(s)).map((e) => e.version), [1, 2, 3]);
    });

    it('keeps call order, every event and every conflict when many appenders write at once (group commit)', async (log) => {
      // Per stream: appends expecting versions 0..5 issued back to back without awaiting, and
      // after the k-th a stale one expecting k again, which an earlier append already took.
      const streams = ['g1', 'g2', 'g3', 'g4', 'g5'];
      const seen: StoredEvent[] = [];
      const sub = log.events$().subscribe((e) => seen.push(e));
      const calls: Array<{ stream: string; k: number; stale: boolean; p: Promise<unknown> }> = [];
      for (let k = 0; k < 6; k++) {
        for (const [i, s] of streams.entries()) {
          const sync = (k + i) % 3 === 0;
          calls.push({ stream: s, k, stale: false, p: log.append(s, [ev(`${s}-${k}`), ev(`${s}-${k}b`)], { expectedVersion: k === 0 ? 'no_stream' : 2 * k, sync }) });
          if (k % 2 === 1) calls.push({ stream: s, k, stale: true, p: log.append(s, [ev(`${s}-stale`)], { expectedVersion: 2 * k, sync: !sync }) });
        }
      }
      const results = await Promise.allSettled(calls.map((c) => c.p));
      sub.unsubscribe();
      calls.forEach((c, i) => {
        const r = results[i]!;
        if (c.stale) {
          assert.ok(r.status === 'rejected' && isRuntimeError(r.reason, 'CONFLICT'), `${c.stream} stale ${c.k}: ${r.status}`);
        } else {
          assert.equal(r.status, 'fulfilled', `${c.stream} ${c.k}`);
          assert.equal((r as PromiseFulfilledResult<{ nextVersion: number }>).value.nextVersion, 2 * c.k + 2);
        }
      });
      for (const s of streams) {
        assert.deepEqual((await log.read(s)).map((e) => e.type), Array.from({ length: 6 }, (_, k) => [`${s}-${k}`, `${s}-${k}b`]).flat());
      }
      const all = await log.readAll();
      assert.deepEqual(all.map((e) => e.position), Array.from({ length: 60 }, (_, i) => i + 1));
      // Global order is call order: the appends that won, in the order they were made.
      const won = calls.filter((c) => !c.stale).flatMap((c) => [`${c.stream}-${c.k}`, `${c.stream}-${c.k}b`]);
      assert.deepEqual(all.map((e) => e.type), won);
      assert.deepEqual(summary(seen), summary(all));
    });

    it('reports version() and streams() in key order', async (log) => {
      assert.equal(await log.version('web'), 0);
      assert.deepEqual(await log.streams(), []);
      // LevelDB orders UTF-8 bytes: U+FF5E sorts before U+1F600 (JS `<` on UTF-16 says the opposite).
      for (const s of ['b', '😀', 'ab', '\uFF5E', 'a-b', 'a']) await log.append(s, [ev('E')], { expectedVersion: 'no_stream' });
      await log.append('ab', [ev('E'), ev('F')], { expectedVersion: 1 });
      assert.deepEqual(await log.streams(), ['a', 'a-b', 'ab', 'b', '\uFF5E', '😀']);
      assert.equal(await log.version('ab'), 3);
      assert.equal(await log.version('😀'), 1);
    });

    it('delivers on events$ only what is committed after subscribing, in order, per stream', async (log) => {
      await log.append('a', [ev('Before')], { expectedVersion: 'no_stream' });
      const all = takeNext(log.events$(), 4);
      const onlyA = takeNext(log.events$('a'), 3);
      const onlyB = takeNext(log.events$('b'), 1);
      await log.append('a', [ev('A2'), ev('A3')], { expectedVersion: 1 });
      await log.append('b', [ev('B1')], { expectedVersion: 'no_stream' });
      await rejectsWith(log.append('a', [ev('Lost')], { expectedVersion: 1 }), 'CONFLICT');
      await log.append('a', [ev('A4')], { expectedVersion: 3 });
      assert.deepEqual(summary(await all), ['a@2#2:A2', 'a@3#3:A3', 'b@1#4:B1', 'a@4#5:A4']);
      assert.deepEqual(summary(await onlyA), ['a@2#2:A2', 'a@3#3:A3', 'a@4#5:A4']);
      assert.deepEqual(summary(await onlyB), ['b@1#4:B1']);
      // What events$ delivered is what the log reads back.
      assert.deepEqual(await all, (await log.readAll({ from: 2 })));
    });

    it('keeps meta beside the event, and refuses meta that is not a plain object', async (log) => {
      const r = await log.append('web', [{ type: 'A', data: {}, meta: { by: { pid: 7 } } }, ev('B')], { expectedVersion: 'no_stream' });
      assert.deepEqual(r.events.map((e) => e.meta), [{ by: { pid: 7 } }, undefined]);
      assert.deepEqual(await log.read('web'), r.events);
      assert.deepEqual(await log.readAll(), r.events);
      await rejectsWith(log.append('web', [{ type: 'C', data: {}, meta: [] as never }], { expectedVersion: 2 }), 'INVALID_ARGUMENT', /meta/);
    });

    it('prunes a stream: its events go, its version and the global order stay', async (log) => {
      await log.append('a', [ev('A1'), ev('A2')], { expectedVersion: 'no_stream' });
      await log.append('b', [ev('B1')], { expectedVersion: 'no_stream' });
      await log.append('a', [ev('A3')], { expectedVersion: 2 });
      await log.append('b', [ev('B2')], { expectedVersion: 1 });
      await log.writeSnapshots([{ stream: 'a', version: 3, data: { s: 1 } }, { stream: 'b', version: 1, data: { s: 2 } }]);
      await rejectsWith(log.prune('a', { expectedVersion: 2 }), 'CONFLICT', 'prune stream a: expected version 2, found 3');
      await rejectsWith(log.prune('a', { expectedVersion: 0 }), 'INVALID_ARGUMENT');
      assert.deepEqual(await log.prune('a', { expectedVersion: 3 }), { pruned: 3, version: 3 });
      assert.deepEqual(await log.read('a'), []);
      assert.equal(await log.version('a'), 3);
      assert.deepEqual(await log.streams(), ['b']);
      assert.deepEqual(summary(await log.readAll()), ['b@1#3:B1', 'b@2#5:B2']);
      assert.deepEqual(summary(await log.readAll({ limit: 1 })), ['b@1#3:B1'], 'limit counts events returned, not positions');
      assert.deepEqual(summary(await log.readAll({ from: 4 })), ['b@2#5:B2']);
      assert.deepEqual((await log.readSnapshots()).map((s) => s.stream), ['b'], 'the pruned stream\'s snapshot went with it');
      // The id used again continues after its old version; positions continue after the head.
      const again = await log.append('a', [ev('A4')], { expectedVersion: 3 });
      assert.deepEqual(summary(again.events), ['a@4#6:A4']);
      assert.deepEqual(summary(await log.read('a')), ['a@4#6:A4']);
      assert.deepEqual(summary(await log.read('a', { from: 2 })), ['a@4#6:A4']);
      assert.deepEqual(await log.streams(), ['a', 'b']);
      assert.deepEqual(await log.prune('a', { expectedVersion: 4 }), { pruned: 1, version: 4 });
      assert.deepEqual(summary(await log.readAll()), ['b@1#3:B1', 'b@2#5:B2']);
    });

    it('stores snapshots as a cache beside the streams, never ahead of them', async (log) => {
      assert.deepEqual(await log.readSnapshots(), []);
      await log.append('web', [ev('A'), ev('B')], { expectedVersion: 'no_stream' });
      await log.writeSnapshots([{ stream: 'web', version: 1, data: { n: 1 } }]);
      await log.writeSnapshots([{ stream: 'web', version: 2, data: { n: 2 } }]);
      assert.deepEqual(await log.readSnapshots(), [{ stream: 'web', version: 2, data: { n: 2 } }]);
      await rejectsWith(log.writeSnapshots([{ stream: 'web', version: 3, data: {} }]), 'INVALID_ARGUMENT', /ahead of the stream/);
      await rejectsWith(log.writeSnapshots([{ stream: 'nobody', version: 1, data: {} }]), 'INVALID_ARGUMENT');
      await rejectsWith(log.writeSnapshots([{ stream: 'web', version: 1, data: 'x' as never }]), 'INVALID_ARGUMENT');
      await rejectsWith(log.writeSnapshots([{ stream: 'a\0b', version: 1, data: {} }]), 'INVALID_ARGUMENT');
      assert.deepEqual(await log.readSnapshots(), [{ stream: 'web', version: 2, data: { n: 2 } }]);
      // A snapshot is not an event.
      assert.deepEqual((await log.readAll()).length, 2);
    });

    it('completes events$ on close', async (log) => {
      const got: StoredEvent[] = [];
      const done = lastValueFrom(log.events$().pipe(timeout(3000), toArray()));
      const doneA = lastValueFrom(log.events$('a').pipe(timeout(3000), toArray()));
      const seen = takeNext(log.events$(), 1);
      await log.append('a', [ev('A')], { expectedVersion: 'any' });
      got.push(...(await seen));
      await log.close();
      assert.deepEqual(summary(await done), ['a@1#1:A']);
      assert.deepEqual(summary(await doneA), summary(got));
    });

    it('fails clearly after close', async (log) => {
      await log.append('web', [ev('A')], { expectedVersion: 'any' });
      await log.close();
      await log.close(); // idempotent
      await rejectsWith(log.append('web', [ev('B')], { expectedVersion: 'any' }), 'ILLEGAL_STATE', /closed/);
      await rejectsWith(log.read('web'), 'ILLEGAL_STATE', /closed/);
      await rejectsWith(log.readAll(), 'ILLEGAL_STATE', /closed/);
      await rejectsWith(log.version('web'), 'ILLEGAL_STATE', /closed/);
      await rejectsWith(log.streams(), 'ILLEGAL_STATE', /closed/);
      await rejectsWith(firstValueFrom(log.events$()), 'ILLEGAL_STATE', /closed/);
      await rejectsWith(firstValueFrom(log.events$('web')), 'ILLEGAL_STATE', /closed/);
    });

    it('finishes an append already started when close is called', async (log) => {
      const appending = log.append('web', [ev('A')], { expectedVersion: 'no_stream' });
      const closing = log.close();
      const res = await appending;
      await closing;
      assert.equal(res.nextVersion, 1);
    });
  });
}
