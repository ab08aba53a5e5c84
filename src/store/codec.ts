import { RuntimeError } from '../errors.js';
import type { StoredEvent } from './eventLog.js';
import { describeKey, validateStream } from './keys.js';

/**
 * Stored values are JSON. An event is stored once, under its stream key, as
 * `{"position":…,"type":…,"schema":…,"data":…,"at":…}` (stream and version come from the key).
 * Payload shapes evolve by schema number: `upcasters[type][n]` turns schema-n data into
 * schema-(n+1) data, and is applied on every read, so the log itself is never rewritten.
 */

export type EventData = Record<string, unknown>;
export type Upcaster = (data: EventData) => EventData;
/** `{ [type]: { [fromSchema]: (data) => data } }` */
export type Upcasters = Readonly<Record<string, Readonly<Record<number, Upcaster>>>>;

export interface CodecOptions {
  upcasters?: Upcasters;
  /**
   * Current schema per type when it is not implied by the upcasters. By default a type's
   * current schema is one past its highest upcaster (1 without upcasters).
   */
  schemas?: Readonly<Record<string, number>>;
}

/** An event as written, before the stream and version from its key are added. */
export interface EventRecord {
  position: number;
  type: string;
  schema: number;
  data: EventData;
  at: string;
  meta?: EventData;
}

/** A NewEvent that passed validation, with its schema filled in. */
export interface PreparedEvent {
  type: string;
  schema: number;
  data: EventData;
  meta?: EventData;
}

export interface EventCodec {
  currentSchema(type: string): number;
  /** Validates caller input; throws INVALID_ARGUMENT naming the stream and index. */
  prepare(stream: string, events: unknown): PreparedEvent[];
  encode(record: EventRecord): string;
  /** Decodes and upcasts; anything undecodable is STORE_CORRUPT naming the key. */
  decode(key: string, stream: string, version: number, raw: string): StoredEvent;
}

export function isPlainObject(v: unknown): v is EventData {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return (proto === Object.prototype || proto === null) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function invalid(stream: string, index: number, reason: string, field: string): RuntimeError {
  return new RuntimeError('INVALID_ARGUMENT', `append to stream ${stream}: event ${index} ${reason}`, { field });
}

export function corrupt(key: string, what: string, reason: string, cause?: unknown): RuntimeError {
  const message = `corrupt ${what} at key ${describeKey(key)}: ${reason}`;
  return new RuntimeError('STORE_CORRUPT', message, cause === undefined ? { field: key } : { field: key, cause });
}

function parseJson(key: string, what: string, raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw corrupt(key, what, 'invalid json', e);
  }
}

export function createCodec(opts: CodecOptions = {}): EventCodec {
  const chains = new Map<string, Map<number, Upcaster>>();
  const current = new Map<string, number>();
  for (const [type, steps] of Object.entries(opts.upcasters ?? {})) {
    const chain = new Map<number, Upcaster>();
    for (const [from, fn] of Object.entries(steps)) {
      const n = Number(from);
      if (!isPositiveInt(n) || typeof fn !== 'function') {
        throw new RuntimeError('INVALID_ARGUMENT', `upcaster ${type} from schema ${from}: expected a function keyed by a schema >= 1`, { field: `upcasters.${type}` });
      }
      chain.set(n, fn);
    }
    chains.set(type, chain);
    if (chain.size > 0) current.set(type, Math.max(...chain.keys()) + 1);
  }
  for (const [type, n] of Object.entries(opts.schemas ?? {})) {
    if (!isPositiveInt(n) || n < (current.get(type) ?? 1)) {
      throw new RuntimeError('INVALID_ARGUMENT', `schema of ${type}: ${n} is below its upcasters`, { field: `schemas.${type}` });
    }
    current.set(type, n);
  }

  const currentSchema = (type: string): number => current.get(type) ?? 1;
  // Types the registry names: an event of one at a schema above the current one was written by
  // a newer version, and reading it as the current schema would misread it.
  const registered = new Set([...chains.keys(), ...current.keys()]);

  function upcast(key: string, type: string, schema: number, data: EventData): { schema: number; data: EventData } {
    const target = currentSchema(type);
    while (schema < target) {
      const step = chains.get(type)?.get(schema);
      if (step === undefined) throw corrupt(key, 'event', `no upcaster for ${type} from schema ${schema}`);
      let next: unknown;
      try {
        next = step(data);
      } catch (e) {
        throw corrupt(key, 'event', `upcaster for ${type} from schema ${schema} failed`, e);
      }
      if (!isPlainObject(next)) throw corrupt(key, 'event', `upcaster for ${type} from schema ${schema} returned no object`);
      data = next;
      schema += 1;
    }
    return { schema, data };
  }

  return {
    currentSchema,

    prepare(stream, events) {
      if (!Array.isArray(events) || events.length === 0) {
        throw new RuntimeError('INVALID_ARGUMENT', `append to stream ${stream}: expected a non-empty array of events`, { field: 'events' });
      }
      return events.map((ev: unknown, i): PreparedEvent => {
        if (!isPlainObject(ev)) throw invalid(stream, i, 'is not an object', `events[${i}]`);
        const { type, data, schema, meta } = ev;
        if (typeof type !== 'string' || type.length === 0) throw invalid(stream, i, 'has no type', `events[${i}].type`);
        if (!isPlainObject(data)) throw invalid(stream, i, `(${type}) data is not a plain object`, `events[${i}].data`);
        if (schema !== undefined && !isPositiveInt(schema)) throw invalid(stream, i, `(${type}) schema is not an integer >= 1`, `events[${i}].schema`);
        if (meta !== undefined && !isPlainObject(meta)) throw invalid(stream, i, `(${type}) meta is not a plain object`, `events[${i}].meta`);
        return { type, schema: schema ?? currentSchema(type), data, ...(meta === undefined ? {} : { meta }) };
      });
    },

    encode(record) {
      try {
        const { position, type, schema, data, at, meta } = record;
        return JSON.stringify(meta === undefined ? { position, type, schema, data, at } : { position, type, schema, data, at, meta });
      } catch (e) {
        // BigInt or a cycle somewhere in data.
        throw new RuntimeError('INVALID_ARGUMENT', `event ${record.type}: data is not JSON: ${(e as Error).message}`, { field: 'data', cause: e });
      }
    },

    decode(key, stream, version, raw) {
      const v = parseJson(key, 'event', raw);
      if (!isPlainObject(v)) throw corrupt(key, 'event', 'not an object');
      const { position, type, schema, data, at, meta } = v;
      if (!isPositiveInt(position)) throw corrupt(key, 'event', 'bad position');
      if (typeof type !== 'string' || type.length === 0) throw corrupt(key, 'event', 'bad type');
      if (!isPositiveInt(schema)) throw corrupt(key, 'event', 'bad schema');
      if (!isPlainObject(data)) throw corrupt(key, 'event', 'bad data');
      if (typeof at !== 'string') throw corrupt(key, 'event', 'bad time');
      if (meta !== undefined && !isPlainObject(meta)) throw corrupt(key, 'event', 'bad meta');
      if (registered.has(type) && schema > currentSchema(type)) {
        throw corrupt(key, 'event', `schema ${schema} of ${type} is newer than the ${currentSchema(type)} this version reads`);
      }
      const up = upcast(key, type, schema, data);
      const ev: StoredEvent = { stream, version, position, type, schema: up.schema, data: up.data, at };
      if (meta !== undefined) ev.meta = meta;
      return ev;
    },
  };
}

/** A global key's value: where the event lives, or (pruned) where it lived before gc removed it. */
export interface Pointer {
  stream: string;
  version: number;
  pruned?: true;
}

export function encodePointer(p: Pointer): string {
  return JSON.stringify(p.pruned ? { stream: p.stream, version: p.version, pruned: true } : { stream: p.stream, version: p.version });
}

export function decodePointer(key: string, raw: string): Pointer {
  const v = parseJson(key, 'global entry', raw);
  if (!isPlainObject(v)) throw corrupt(key, 'global entry', 'not an object');
  const { stream, version, pruned } = v;
  if (!isPositiveInt(version)) throw corrupt(key, 'global entry', 'bad version');
  if (pruned !== undefined && pruned !== true) throw corrupt(key, 'global entry', 'bad pruned mark');
  try {
    validateStream(stream);
  } catch (e) {
    throw corrupt(key, 'global entry', 'bad stream name', e);
  }
  return pruned ? { stream, version, pruned } : { stream, version };
}

/** A snapshot's stored value: `{"version":…,"data":{…}}`. */
export function encodeSnapshot(version: number, data: EventData): string {
  return JSON.stringify({ version, data });
}

/** A snapshot value, or undefined when it does not decode: a cache entry is discarded, never fatal. */
export function decodeSnapshot(raw: string): { version: number; data: EventData } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isPlainObject(v) || !isPositiveInt(v.version) || !isPlainObject(v.data)) return undefined;
  return { version: v.version, data: v.data };
}

export function encodeCount(n: number): string {
  return String(n);
}

/** Head and stream-version values: a decimal integer >= 0. */
export function decodeCount(key: string, raw: string): number {
  const n = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n)) throw corrupt(key, 'counter', `not a count: ${JSON.stringify(raw.slice(0, 32))}`);
  return n;
}
