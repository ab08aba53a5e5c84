import { RuntimeError } from '../errors.js';

/**
 * The LevelDB key layout (docs/log.md). Keys are UTF-8 strings compared bytewise by LevelDB:
 *
 *   s\0<stream>\0<version:16>   one stored event (value: the event, codec.ts)
 *   g\0<position:16>            global order (value: a pointer {stream, version} to the s key)
 *   m\0head                     last global position (value: decimal)
 *   m\0stream\0<stream>         a stream's version (value: decimal)
 *   m\0pruned\0<stream>         the last version gc removed from the stream (value: decimal)
 *   p\0<stream>                 a cached projection of the stream (value: {version, data}); a cache,
 *                               never part of the record (DESIGN rule 5)
 *
 * Stream names never contain NUL, so `s\0<a>\0` is never a prefix of `s\0<b>\0`: all keys of
 * one stream sort together, and streams sort by the bytes of their names. Numbers are
 * zero-padded to 16 decimal digits, which holds Number.MAX_SAFE_INTEGER (9007199254740991), so
 * lexicographic order equals numeric order.
 */

export const NUMBER_WIDTH = 16;
/** Longest stream name in UTF-8 bytes: keys stay small, and ids are far shorter anyway. */
export const MAX_STREAM_BYTES = 1024;

const SEP = '\x00';
const END = '\x01';
const STREAM = `s${SEP}`;
const GLOBAL = `g${SEP}`;
const STREAM_HEAD = `m${SEP}stream${SEP}`;
const PRUNED_HEAD = `m${SEP}pruned${SEP}`;
const SNAPSHOT = `p${SEP}`;

export const HEAD_KEY = `m${SEP}head`;

export interface KeyRange {
  gte: string;
  lt?: string;
  lte?: string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A stream name is a non-empty, well-formed Unicode string without NUL. Lone surrogates are
 * refused because UTF-8 encoding would turn two different names into the same key.
 */
export function validateStream(stream: unknown): asserts stream is string {
  if (typeof stream !== 'string') {
    throw new RuntimeError('INVALID_ARGUMENT', `invalid stream name: expected a string, got ${typeof stream}`, { field: 'stream' });
  }
  let reason: string | undefined;
  if (stream.length === 0) reason = 'must not be empty';
  else if (stream.includes(SEP)) reason = 'must not contain NUL';
  else if (LONE_SURROGATE.test(stream)) reason = 'must be well-formed unicode';
  else if (Buffer.byteLength(stream, 'utf8') > MAX_STREAM_BYTES) reason = `longer than ${MAX_STREAM_BYTES} bytes`;
  if (reason !== undefined) {
    throw new RuntimeError('INVALID_ARGUMENT', `invalid stream name ${JSON.stringify(stream)}: ${reason}`, { field: 'stream' });
  }
}

/** A version or position as 16 zero-padded digits; 0 is allowed for range bounds. */
export function padNumber(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RuntimeError('INVALID_ARGUMENT', `invalid key number ${n}: expected a safe integer >= 0`);
  }
  return String(n).padStart(NUMBER_WIDTH, '0');
}

export function streamKey(stream: string, version: number): string {
  validateStream(stream);
  return `${STREAM}${stream}${SEP}${padNumber(version)}`;
}

/** Versions `from` to `to` (inclusive; `to` absent: the end of the stream). */
export function streamRange(stream: string, from: number, to?: number): KeyRange {
  const gte = streamKey(stream, from);
  if (to !== undefined) return { gte, lte: streamKey(stream, to) };
  return { gte, lt: `${STREAM}${stream}${END}` };
}

export function globalKey(position: number): string {
  return `${GLOBAL}${padNumber(position)}`;
}

export function globalRange(from: number): KeyRange {
  return { gte: globalKey(from), lt: `g${END}` };
}

export function streamHeadKey(stream: string): string {
  validateStream(stream);
  return `${STREAM_HEAD}${stream}`;
}

export const STREAM_HEAD_RANGE: KeyRange = { gte: STREAM_HEAD, lt: `m${SEP}stream${END}` };

export function prunedKey(stream: string): string {
  validateStream(stream);
  return `${PRUNED_HEAD}${stream}`;
}

export const PRUNED_RANGE: KeyRange = { gte: PRUNED_HEAD, lt: `m${SEP}pruned${END}` };

export function parsePrunedKey(key: string): string {
  const stream = key.slice(PRUNED_HEAD.length);
  if (!key.startsWith(PRUNED_HEAD) || stream.length === 0 || stream.includes(SEP)) throw corruptKey(key, 'pruned head');
  return stream;
}

export function snapshotKey(stream: string): string {
  validateStream(stream);
  return `${SNAPSHOT}${stream}`;
}

export const SNAPSHOT_RANGE: KeyRange = { gte: SNAPSHOT, lt: `p${END}` };

/** The stream of a snapshot key, or undefined for a malformed one (a cache entry is dropped, never fatal). */
export function parseSnapshotKey(key: string): string | undefined {
  const stream = key.slice(SNAPSHOT.length);
  return key.startsWith(SNAPSHOT) && stream.length > 0 && !stream.includes(SEP) ? stream : undefined;
}

/** How a key appears in error messages: JSON-escaped, so NUL separators stay visible. */
export function describeKey(key: string): string {
  return JSON.stringify(key);
}

function corruptKey(key: string, what: string): RuntimeError {
  return new RuntimeError('STORE_CORRUPT', `malformed ${what} key ${describeKey(key)}`, { field: key });
}

function parseNumber(key: string, digits: string, what: string): number {
  if (!/^\d{16}$/.test(digits)) throw corruptKey(key, what);
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) throw corruptKey(key, what);
  return n;
}

export function parseStreamKey(key: string): { stream: string; version: number } {
  const cut = key.lastIndexOf(SEP);
  if (!key.startsWith(STREAM) || cut <= STREAM.length) throw corruptKey(key, 'stream');
  return { stream: key.slice(STREAM.length, cut), version: parseNumber(key, key.slice(cut + 1), 'stream') };
}

export function parseGlobalKey(key: string): number {
  if (!key.startsWith(GLOBAL)) throw corruptKey(key, 'global');
  return parseNumber(key, key.slice(GLOBAL.length), 'global');
}

export function parseStreamHeadKey(key: string): string {
  const stream = key.slice(STREAM_HEAD.length);
  if (!key.startsWith(STREAM_HEAD) || stream.length === 0 || stream.includes(SEP)) throw corruptKey(key, 'stream head');
  return stream;
}

/** LevelDB's order: bytewise over UTF-8 (differs from JS `<` for astral characters). */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
