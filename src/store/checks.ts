import { RuntimeError } from '../errors.js';
import type { ExpectedVersion } from './eventLog.js';
import { isPlainObject } from './codec.js';
import { validateStream } from './keys.js';

/**
 * Argument checks and the expected-version rule shared by every EventLog implementation.
 * The server passes untrusted JSON straight to a log, so nothing here assumes the types.
 */

function bad(message: string, field: string): RuntimeError {
  return new RuntimeError('INVALID_ARGUMENT', message, { field });
}

function options(opts: unknown, what: string): Record<string, unknown> {
  if (opts === undefined || opts === null) return {};
  if (!isPlainObject(opts)) throw bad(`${what}: options must be an object`, 'opts');
  return opts;
}

function optionalInt(v: unknown, min: number, what: string, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${what}: ${field} must be an integer >= ${min}`, field);
  return v;
}

export function checkAppendOptions(stream: string, opts: unknown): { expected: ExpectedVersion; sync: boolean | undefined } {
  const what = `append to stream ${stream}`;
  const o = options(opts, what);
  const expected = o.expectedVersion;
  const ok =
    expected === 'no_stream' ||
    expected === 'any' ||
    (typeof expected === 'number' && Number.isSafeInteger(expected) && expected >= 0);
  if (!ok) throw bad(`${what}: expectedVersion must be 'no_stream', 'any' or an integer >= 0`, 'expectedVersion');
  const sync = o.sync;
  if (sync !== undefined && typeof sync !== 'boolean') throw bad(`${what}: sync must be a boolean`, 'sync');
  return { expected, sync };
}

/** `'no_stream'` and `0` both mean "the stream has no events"; `'any'` never conflicts. */
export function checkExpectedVersion(stream: string, expected: ExpectedVersion, current: number, what = `append to stream ${stream}`): void {
  if (expected === 'any') return;
  const want = expected === 'no_stream' ? 0 : expected;
  if (want === current) return;
  const wanted = expected === 'no_stream' ? 'no stream' : `version ${expected}`;
  throw new RuntimeError('CONFLICT', `${what}: expected ${wanted}, found ${current}`);
}

export function checkReadOptions(stream: string, opts: unknown): { from: number; to: number | undefined } {
  const what = `read stream ${stream}`;
  const o = options(opts, what);
  return { from: optionalInt(o.from, 1, what, 'from') ?? 1, to: optionalInt(o.to, 0, what, 'to') };
}

export function checkReadAllOptions(opts: unknown): { from: number; limit: number | undefined } {
  const o = options(opts, 'read all');
  return { from: optionalInt(o.from, 1, 'read all', 'from') ?? 1, limit: optionalInt(o.limit, 0, 'read all', 'limit') };
}

export function closedError(name: string): RuntimeError {
  return new RuntimeError('ILLEGAL_STATE', `event log ${name} is closed`);
}

export function checkPruneOptions(stream: string, opts: unknown): number {
  const what = `prune stream ${stream}`;
  const o = options(opts, what);
  const v = optionalInt(o.expectedVersion, 1, what, 'expectedVersion');
  if (v === undefined) throw bad(`${what}: expectedVersion must be an integer >= 1`, 'expectedVersion');
  return v;
}

/** Snapshots to write: plain objects with a valid stream, a version >= 1 and object data. */
export function checkSnapshots(snapshots: unknown): Array<{ stream: string; version: number; data: Record<string, unknown> }> {
  if (!Array.isArray(snapshots)) throw bad('write snapshots: expected an array', 'snapshots');
  return snapshots.map((s: unknown, i) => {
    if (!isPlainObject(s)) throw bad(`write snapshots: entry ${i} is not an object`, `snapshots[${i}]`);
    const { stream, version, data } = s;
    validateStream(stream);
    const v = optionalInt(version, 1, 'write snapshots', `snapshots[${i}].version`);
    if (v === undefined) throw bad(`write snapshots: entry ${i} has no version`, `snapshots[${i}].version`);
    if (!isPlainObject(data)) throw bad(`write snapshots: entry ${i} data is not a plain object`, `snapshots[${i}].data`);
    return { stream, version: v, data };
  });
}

export function snapshotAhead(stream: string, version: number, current: number): RuntimeError {
  return bad(`write snapshots: ${stream} at version ${version} is ahead of the stream (version ${current})`, 'snapshots');
}

/** The versions read() may return: from the first event gc kept. */
export function firstKept(from: number, pruned: number): number {
  return Math.max(from, pruned + 1);
}
