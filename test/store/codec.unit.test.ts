import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { createCodec, decodeCount, decodePointer, type EventRecord } from '../../src/store/codec.js';
import { streamKey } from '../../src/store/keys.js';

const key = streamKey('web', 1);
const record = (over: Partial<EventRecord> = {}): EventRecord => ({
  position: 1,
  type: 'Created',
  schema: 1,
  data: { path: '/b' },
  at: '2024-01-01T00:00:00.000Z',
  ...over,
});

const corruptAt = (k: string, reason?: RegExp) => (e: unknown) =>
  isRuntimeError(e, 'STORE_CORRUPT') && e.message.includes(JSON.stringify(k)) && (reason === undefined || reason.test(e.message));

test('encode/decode round-trips, with stream and version from the key', () => {
  const codec = createCodec();
  const raw = codec.encode(record());
  assert.deepEqual(JSON.parse(raw), record());
  assert.deepEqual(codec.decode(key, 'web', 1, raw), { stream: 'web', version: 1, ...record() });
});

test('upcasters chain from the stored schema to the current one', () => {
  const codec = createCodec({
    upcasters: {
      Created: {
        1: ({ path, ...rest }) => ({ ...rest, bundle: path }),
        2: (d) => ({ ...d, rootless: false }),
      },
    },
  });
  assert.equal(codec.currentSchema('Created'), 3);
  assert.equal(codec.currentSchema('Started'), 1);
  const v1 = codec.decode(key, 'web', 1, codec.encode(record()));
  assert.equal(v1.schema, 3);
  assert.deepEqual(v1.data, { bundle: '/b', rootless: false });
  const v2 = codec.decode(key, 'web', 1, codec.encode(record({ schema: 2, data: { bundle: '/x' } })));
  assert.deepEqual(v2.data, { bundle: '/x', rootless: false });
  const v3 = codec.decode(key, 'web', 1, codec.encode(record({ schema: 3, data: { bundle: '/y', rootless: true } })));
  assert.deepEqual(v3.data, { bundle: '/y', rootless: true });
  assert.deepEqual(codec.prepare('web', [{ type: 'Created', data: {} }]), [{ type: 'Created', schema: 3, data: {} }]);
});

test('a schema the upcasters cannot reach, or an upcaster that throws, is STORE_CORRUPT naming the key', () => {
  const codec = createCodec({
    upcasters: { Created: { 2: () => { throw new Error('boom'); } }, Odd: { 1: () => [] as never } },
  });
  assert.throws(() => codec.decode(key, 'web', 1, codec.encode(record())), corruptAt(key, /no upcaster for Created from schema 1/));
  assert.throws(() => codec.decode(key, 'web', 1, codec.encode(record({ schema: 2 }))), corruptAt(key, /failed/));
  assert.throws(() => codec.decode(key, 'web', 1, codec.encode(record({ type: 'Odd' }))), corruptAt(key, /no object/));
});

test('explicit current schemas; inconsistent registries are refused', () => {
  assert.equal(createCodec({ schemas: { Created: 4 } }).currentSchema('Created'), 4);
  assert.throws(() => createCodec({ upcasters: { A: { 2: (d) => d } }, schemas: { A: 2 } }), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => createCodec({ upcasters: { A: { 0: (d) => d } } }), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
});

test('undecodable values are STORE_CORRUPT naming the key, never dropped', () => {
  const codec = createCodec();
  const bad = ['{not json', '[]', 'null', JSON.stringify({ ...record(), position: 0 }), JSON.stringify({ ...record(), type: 7 }),
    JSON.stringify({ ...record(), data: [1] }), JSON.stringify({ ...record(), schema: '1' }), JSON.stringify({ ...record(), at: 5 })];
  for (const raw of bad) assert.throws(() => codec.decode(key, 'web', 1, raw), corruptAt(key), raw);
  assert.throws(() => codec.decode(key, 'web', 1, '{not json'), corruptAt(key, /invalid json/));
  assert.throws(() => decodePointer('g\0x', '{"stream":"a\\u0000b","version":1}'), corruptAt('g\0x'));
  assert.throws(() => decodePointer('g\0x', '{"stream":"a","version":0}'), corruptAt('g\0x'));
  assert.deepEqual(decodePointer('g\0x', '{"stream":"a","version":2}'), { stream: 'a', version: 2 });
  assert.throws(() => decodeCount('m\0head', '-1'), corruptAt('m\0head'));
  assert.throws(() => decodeCount('m\0head', '1e3'), corruptAt('m\0head'));
  assert.equal(decodeCount('m\0head', '42'), 42);
});

test('prepare refuses events that would not survive JSON', () => {
  const codec = createCodec();
  const refuses = (events: unknown) => assert.throws(() => codec.prepare('web', events), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
  refuses([]);
  refuses('x');
  refuses([{ type: 'A', data: new Date() }]);
  refuses([{ type: 'A', data: null }]);
  refuses([{ type: 'A', data: {}, schema: 1.5 }]);
  refuses([null]);
  assert.throws(() => codec.encode(record({ data: { n: 1n } })), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
});
