import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';
import { eventLogContract, ev, takeNext } from './eventLog.contract.js';

eventLogContract('memory', async () => {
  const log = createMemoryEventLog();
  return { log, cleanup: () => log.close() };
});

test('memory log upcasts old payloads on read and stamps the injected clock', async () => {
  const now = () => new Date('2024-01-02T03:04:05.000Z');
  const upcasters = { Created: { 1: ({ path, ...rest }: Record<string, unknown>) => ({ ...rest, bundle: path }) } };
  const log = createMemoryEventLog({ upcasters, now });
  try {
    const old = await log.append('web', [{ type: 'Created', schema: 1, data: { path: '/b' } }], { expectedVersion: 'no_stream' });
    const cur = await log.append('web', [ev('Created', { bundle: '/c' })], { expectedVersion: 1 });
    assert.deepEqual(old.events[0]?.data, { bundle: '/b' });
    assert.equal(old.events[0]?.schema, 2);
    assert.equal(cur.events[0]?.schema, 2, 'the current schema is written when absent');
    const read = await log.read('web');
    assert.deepEqual(read.map((e) => [e.schema, e.data, e.at]), [
      [2, { bundle: '/b' }, '2024-01-02T03:04:05.000Z'],
      [2, { bundle: '/c' }, '2024-01-02T03:04:05.000Z'],
    ]);
  } finally {
    await log.close();
  }
});

test('a subscriber that appends while an event is delivered does not split an append', async () => {
  const log = createMemoryEventLog();
  try {
    const all = takeNext(log.events$(), 3);
    const sub = log.events$('a').subscribe((e) => {
      if (e.type === 'A1') void log.append('b', [ev('B')], { expectedVersion: 'any' });
    });
    await log.append('a', [ev('A1'), ev('A2')], { expectedVersion: 'any' });
    assert.deepEqual((await all).map((e) => `${e.type}#${e.position}`), ['A1#1', 'A2#2', 'B#3']);
    sub.unsubscribe();
  } finally {
    await log.close();
  }
});
