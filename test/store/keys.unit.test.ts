import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRuntimeError } from '../../src/errors.js';
import {
  compareKeys,
  globalKey,
  globalRange,
  HEAD_KEY,
  parseGlobalKey,
  parseStreamHeadKey,
  parseStreamKey,
  STREAM_HEAD_RANGE,
  streamHeadKey,
  streamKey,
  streamRange,
  validateStream,
} from '../../src/store/keys.js';

const sign = (n: number) => Math.sign(n);
const version = fc.maxSafeNat();
/** Well-formed, NUL-free, non-empty names, including astral characters. */
const streamName = fc
  .oneof(
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 }), // short: many names are prefixes of others
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
  )
  .filter((s) => !s.includes('\0'));

const inRange = (key: string, r: { gte: string; lt?: string; lte?: string }) =>
  compareKeys(key, r.gte) >= 0 && (r.lt === undefined || compareKeys(key, r.lt) < 0) && (r.lte === undefined || compareKeys(key, r.lte) <= 0);

test('numeric order of versions is the byte order of stream keys', () => {
  fc.assert(
    fc.property(streamName, version, version, (s, a, b) => {
      assert.equal(sign(compareKeys(streamKey(s, a), streamKey(s, b))), sign(a - b));
    }),
  );
});

test('numeric order of positions is the byte order of global keys', () => {
  fc.assert(
    fc.property(version, version, (a, b) => {
      assert.equal(sign(compareKeys(globalKey(a), globalKey(b))), sign(a - b));
    }),
  );
});

test('all keys of one stream sort together, streams by the bytes of their names', () => {
  fc.assert(
    fc.property(streamName, streamName, version, version, (s1, s2, v1, v2) => {
      fc.pre(s1 !== s2);
      const byName = sign(compareKeys(s1, s2));
      assert.equal(sign(compareKeys(streamKey(s1, v1), streamKey(s2, v2))), byName);
      // A stream's range holds its own keys only.
      assert.ok(inRange(streamKey(s1, v1), streamRange(s1, 0)));
      assert.ok(!inRange(streamKey(s2, v2), streamRange(s1, 0)));
    }),
  );
  // The classic prefix trap: "a" must not swallow "ab" or "a-b".
  assert.ok(!inRange(streamKey('ab', 1), streamRange('a', 1)));
  assert.ok(compareKeys(streamKey('a', 9_007_199_254_740_991), streamKey('a-b', 1)) < 0);
});

test('from/to ranges hold exactly the versions between them', () => {
  fc.assert(
    fc.property(streamName, version, version, version, (s, from, to, v) => {
      assert.equal(inRange(streamKey(s, v), streamRange(s, from, to)), v >= from && v <= to);
      assert.equal(inRange(streamKey(s, v), streamRange(s, from)), v >= from);
    }),
  );
  fc.assert(fc.property(version, version, (from, p) => assert.equal(inRange(globalKey(p), globalRange(from)), p >= from)));
});

test('keys round-trip', () => {
  fc.assert(
    fc.property(streamName, version, (s, v) => {
      assert.deepEqual(parseStreamKey(streamKey(s, v)), { stream: s, version: v });
      assert.equal(parseGlobalKey(globalKey(v)), v);
      assert.equal(parseStreamHeadKey(streamHeadKey(s)), s);
      assert.ok(inRange(streamHeadKey(s), STREAM_HEAD_RANGE));
    }),
  );
  assert.equal(streamKey('web', 3), 's\0web\x000000000000000003');
  assert.equal(globalKey(12), 'g\x000000000000000012');
  assert.ok(!inRange(HEAD_KEY, STREAM_HEAD_RANGE));
});

test('stream names are validated', () => {
  for (const bad of ['', 'a\0b', '\0', 'x\uD800', '\uDC00y', 'é'.repeat(513), 42, undefined]) {
    assert.throws(() => validateStream(bad), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'), JSON.stringify(bad));
  }
  for (const good of ['web', 'a/b', '😀', 'x'.repeat(1024), 'with space']) validateStream(good);
  assert.throws(() => streamKey('web', -1), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => streamKey('web', 2 ** 53), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => streamKey('web', 1.5), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'));
});

test('malformed keys are STORE_CORRUPT naming the key', () => {
  for (const key of ['s\0web\x00123', 's\0web', 'g\0abc', 'x\x000000000000000001', 's\0\x000000000000000001']) {
    assert.throws(
      () => (key.startsWith('g') ? parseGlobalKey(key) : parseStreamKey(key)),
      (e: unknown) => isRuntimeError(e, 'STORE_CORRUPT') && e.message.includes(JSON.stringify(key)),
      JSON.stringify(key),
    );
  }
});
