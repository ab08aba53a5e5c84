/**
 * Values a buggy or hostile client may put anywhere in a config or a request: wrong types,
 * boundary and huge numbers, odd unicode (lone surrogates, NUL, right-to-left marks), very
 * long strings, very deep nesting, and keys that pollute prototypes.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** An object with an own `key` (also `__proto__`, which a literal or assignment would not create). */
export function withKey(obj: Record<string, Json>, key: string, value: Json): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(obj)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

export const POLLUTING_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

export const boundaryNumber = fc.constantFrom(
  0, -0, 1, -1, 0.5, -0.5, 2, 255, 256, 1023, 4095, 4096, 65535, 65536,
  2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53),
  2 ** 63, 2 ** 64, 2 ** 64 + 4096, 1e21, 1e308, -1e308, 5e-324, 1.7976931348623157e308,
);

export const oddString = fc.oneof(
  fc.constantFrom(
    '', ' ', '\0', 'a\0b', '/', '//', '.', '..', '../..', '/..', '/../../etc', '~', '-', '--', '-h', '=', '%s%n', '${PATH}',
    '\u202e', '\ufeff', '\ud800', '\udfff', 'a\ud800b', '💥', 'é', 'e\u0301', '\u0000\u0001\u001f', '\n', '\r\n', '\t',
    'null', 'true', '0', '-1', 'NaN', 'Infinity', '[]', '{}', '__proto__', 'constructor',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ maxLength: 40 }),
);

/** Long strings and long arrays. */
export const hugeValue: fc.Arbitrary<Json> = fc.oneof(
  fc.integer({ min: 1_000, max: 2_000_000 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 1_000, max: 200_000 }).map((n) => described(Array.from({ length: n }, (_, i) => i), `/* ${n} numbers */ []`)),
);

/**
 * Nesting up to 100k levels as a real object, for library calls (JSON.stringify and structured
 * code recurse over it); configs get theirs as text (mutate.ts Deep).
 */
export const deepObject: fc.Arbitrary<Json> = fc.integer({ min: 10, max: 100_000 }).map((depth) => {
  let v: Json = 'deep';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { d: v };
  return described(v as Json[], `/* ${depth} levels deep */ {}`);
});

/** Give a huge value a short description in fast-check's reports (which would recurse into it). */
function described<T extends Json[] | { [k: string]: Json }>(v: T, text: string): T {
  Object.defineProperty(v, fc.toStringMethod, { value: () => text, enumerable: false });
  return v;
}

export const pollutingObject: fc.Arbitrary<Json> = fc.tuple(fc.constantFrom(...POLLUTING_KEYS), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>)
  .map(([k, v]) => withKey({ polluted: 'yes' }, k, v));

/** Anything: mostly small JSON, sometimes boundary numbers, odd strings, huge or polluting values. */
export const anyValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 3, arbitrary: boundaryNumber },
  { weight: 3, arbitrary: oddString },
  { weight: 2, arbitrary: fc.constantFrom<Json>(null, true, false, [], {}) },
  { weight: 1, arbitrary: pollutingObject },
  { weight: 1, arbitrary: hugeValue },
);
