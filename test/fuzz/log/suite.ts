/**
 * Log fuzzing.
 *
 * Sequences: event histories a correct runtime writes (a random walk through what the machine
 * accepts), then damaged as a buggy writer would damage them: facts without their intents,
 * duplicated or reordered events, repeated versions, unknown types, payloads of the wrong shape.
 * Replay must accept or reject each event, or throw STORE_CORRUPT, and nothing else; the same
 * input gives the same output; dropping the events it rejected changes nothing; replay up to
 * a version equals replay of that prefix.
 *
 * Stored values: a LevelDB log written through the store, then values truncated, overwritten,
 * deleted or given a schema from the future through raw LevelDB access. Reading it back, by
 * the store and through a runtime on that root, succeeds or fails with a coded error; a value
 * the store cannot decode is STORE_CORRUPT naming its key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import fc from 'fast-check';
import { isRuntimeError } from '../../../src/errors.js';
import { openRuntime } from '../../../src/index.js';
import { SCHEMAS, toLogEvent, type ContainerEvent } from '../../../src/machines/events.js';
import { leafState } from '../../../src/machines/lifecycle.js';
import { initialSnapshot, publicState, replay, step, type LoggedEvent } from '../../../src/machines/replay.js';
import { describeKey, HEAD_KEY, streamHeadKey, streamKey, globalKey } from '../../../src/store/keys.js';
import { openLevelEventLog } from '../../../src/store/levelEventLog.js';
import { checkOptions, details, stopAtDeadline, type Campaign, type CampaignResult } from '../report.js';
import { anyValue, oddString, pollutingObject, type Json } from '../input/values.js';

const ID = 'lg';
const int = (min: number, max: number) => fc.integer({ min, max });
const exit = fc.option(fc.record({ code: fc.option(int(0, 255)), signal: fc.option(int(1, 64)) }));
const error = fc.record({ code: fc.constantFrom('SYSCALL', 'INVALID_CONFIG', 'ILLEGAL_STATE', 'INTERNAL'), message: fc.string({ maxLength: 10 }) });
const resources = fc.record({ pids: fc.record({ limit: int(1, 100) }) }, { requiredKeys: [] });

/** Plausible events of every type (data as the runtime writes it). */
const plausible: fc.Arbitrary<ContainerEvent> = fc.oneof(
  fc.record({ type: fc.constant('CreateRequested' as const), bundle: fc.constantFrom('/b', '/nonexistent'), pidFile: fc.constant(null), owner: fc.constant('') }),
  fc.constant({ type: 'StartRequested' as const }),
  fc.record({ type: fc.constant('KillRequested' as const), signal: int(1, 64), all: fc.boolean() }),
  fc.record({ type: fc.constant('DeleteRequested' as const), force: fc.boolean() }),
  fc.constant({ type: 'PauseRequested' as const }),
  fc.constant({ type: 'ResumeRequested' as const }),
  fc.record({ type: fc.constant('UpdateRequested' as const), resources }),
  fc.record({
    type: fc.constant('Created' as const), pid: int(2, 4_000_000), startTime: fc.constantFrom('1', '12345'), created: fc.constant('2026-01-01T00:00:00.000Z'),
    rootfs: fc.constant('/b/rootfs'), cgroup: fc.constantFrom('/berth/x/lg', '/nonexistent-fuzz'),
    config: fc.constant({ ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/' } } as never),
  }),
  fc.record({ type: fc.constant('CreateFailed' as const), error }),
  fc.constant({ type: 'Started' as const }),
  fc.record({ type: fc.constant('StartFailed' as const), error }),
  fc.record({ type: fc.constant('Signaled' as const), signal: int(1, 64), count: int(0, 3) }),
  fc.record({ type: fc.constant('KillFailed' as const), error }),
  fc.record({ type: fc.constant('Exited' as const), code: fc.option(int(0, 255)), signal: fc.option(int(1, 64)) }),
  fc.record({ type: fc.constant('Deleted' as const), exit }),
  fc.record({ type: fc.constant('DeleteFailed' as const), error }),
  fc.record({ type: fc.constant('Observed' as const), status: fc.constantFrom('created', 'running', 'paused', 'stopped', 'deleted'), reason: fc.constant('fuzz'), exit }),
  fc.constant({ type: 'Paused' as const }),
  fc.record({ type: fc.constant('PauseFailed' as const), error }),
  fc.constant({ type: 'Resumed' as const }),
  fc.record({ type: fc.constant('ResumeFailed' as const), error }),
  fc.record({ type: fc.constant('Updated' as const), resources }),
  fc.record({ type: fc.constant('UpdateFailed' as const), error }),
  fc.record({ type: fc.constant('OomKilled' as const), count: int(0, 5) }),
) as fc.Arbitrary<ContainerEvent>;

/** A history a correct runtime could write: each candidate is kept only if the machine accepts it then. */
function walk(candidates: ContainerEvent[]): LoggedEvent[] {
  let snapshot = initialSnapshot(ID);
  const out: LoggedEvent[] = [];
  for (const e of candidates) {
    if (!snapshot.can(e)) continue;
    snapshot = step(snapshot, e);
    const { type, data } = toLogEvent(e);
    out.push({ version: out.length + 1, type, data, at: '2026-01-01T00:00:00.000Z' });
  }
  return out;
}

type Damage =
  | { kind: 'drop'; at: number }
  | { kind: 'duplicate'; at: number }
  | { kind: 'swap'; at: number; with: number }
  | { kind: 'version'; at: number; version: number }
  | { kind: 'type'; at: number; type: string }
  | { kind: 'data'; at: number; data: Json }
  | { kind: 'field'; at: number; field: string; value: Json }
  | { kind: 'insert'; at: number; event: ContainerEvent };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), with: fc.nat() }),
  fc.record({ kind: fc.constant('version' as const), at: fc.nat(), version: fc.oneof(int(-1, 40), fc.constantFrom(0.5, 2 ** 53, NaN)) }),
  fc.record({ kind: fc.constant('type' as const), at: fc.nat(), type: fc.oneof(fc.constantFrom(...Object.keys(SCHEMAS)), oddString, fc.constantFrom('__proto__', 'toString', 'constructor', 'Bogus', 'created')) }),
  fc.record({ kind: fc.constant('data' as const), at: fc.nat(), data: fc.oneof(anyValue, pollutingObject) }),
  fc.record({ kind: fc.constant('field' as const), at: fc.nat(), field: fc.constantFrom('pid', 'config', 'status', 'exit', 'signal', 'count', 'resources', 'error', 'code', 'force', 'bundle', 'cgroup', '__proto__'), value: anyValue }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), event: plausible }),
);

function applyDamage(events: LoggedEvent[], d: Damage): LoggedEvent[] {
  const out = [...events];
  const i = out.length === 0 ? 0 : d.at % out.length;
  const e = out[i];
  switch (d.kind) {
    case 'drop': out.splice(i, 1); break;
    case 'duplicate': if (e) out.splice(i, 0, { ...e }); break;
    case 'swap': { const j = out.length === 0 ? 0 : d.with % out.length; if (e && out[j]) [out[i], out[j]] = [out[j]!, e]; break; }
    case 'version': if (e) out[i] = { ...e, version: d.version }; break;
    case 'type': if (e) out[i] = { ...e, type: d.type }; break;
    case 'data': if (e) out[i] = { ...e, data: d.data as Record<string, unknown> }; break;
    case 'field': if (e) out[i] = { ...e, data: Object.defineProperty({ ...e.data }, d.field, { value: d.value, enumerable: true, writable: true, configurable: true }) }; break;
    case 'insert': { const { type, data } = toLogEvent(d.event); out.splice(i, 0, { version: e?.version ?? 1, type, data, at: '' }); break; }
  }
  return out;
}

function outcome(events: LoggedEvent[], at?: number): string {
  try {
    const r = replay(ID, events, at);
    const pub = r.state === 'absent' || r.state === 'boot' ? null : publicState(r.state, r.context, r.version);
    return JSON.stringify({ state: r.state, context: r.context, version: r.version, rejected: r.rejected.map((e) => e.version), pub });
  } catch (e) {
    if (isRuntimeError(e, 'STORE_CORRUPT')) return `STORE_CORRUPT`;
    throw new Error(`replay threw ${isRuntimeError(e) ? e.code : 'an untyped error'}: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

/** The properties of replay over one (possibly damaged) history. */
function checkSequence(events: LoggedEvent[], atPick: number, stats: Record<string, number>): void {
  const first = outcome(events);
  if (outcome(events) !== first) throw new Error('replay of the same events gave two different results');
  if (first === 'STORE_CORRUPT') {
    stats.corrupt!++;
    return;
  }
  const r = replay(ID, events);
  stats.replayed!++;
  if (r.rejected.length > 0) stats.withRejected!++;
  // The fold ignores what it rejects: without those events, the same state.
  const kept = events.filter((e) => !r.rejected.includes(e));
  const again = replay(ID, kept);
  if (again.rejected.length > 0 || JSON.stringify([again.state, again.context]) !== JSON.stringify([r.state, r.context])) {
    throw new Error(`dropping the rejected events changed the replay: ${JSON.stringify([r.state, r.context])} vs ${JSON.stringify([again.state, again.context])}`);
  }
  if (!['absent', 'created', 'running', 'paused', 'stopped', 'deleted', 'creating', 'starting', 'killing', 'pausing', 'resuming', 'updating', 'deleting', 'reconciling', 'execing', 'checkpointing', 'checkpointed', 'restoring'].includes(leafState(r.snapshot.value))) {
    throw new Error(`replay ended in an unknown state ${JSON.stringify(r.snapshot.value)}`);
  }
  // Replay up to a version equals the replay of the events before the first one past it.
  if (events.length > 0) {
    const at = events[atPick % events.length]!.version;
    const cut = events.findIndex((e) => e.version > at);
    const prefix = cut < 0 ? events : events.slice(0, cut);
    if (outcome(events, at) !== outcome(prefix)) throw new Error(`replay at ${at} differs from the replay of its prefix`);
  }
}

// ---- stored values -------------------------------------------------------------------------

type ValueDamage =
  | { kind: 'truncate'; key: number; at: number }
  | { kind: 'byte'; key: number; at: number; byte: number }
  | { kind: 'replace'; key: number; value: string }
  | { kind: 'delete'; key: number }
  | { kind: 'schema'; key: number; schema: number };

const valueDamage: fc.Arbitrary<ValueDamage> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), key: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant('byte' as const), key: fc.nat(), at: fc.nat(), byte: int(0, 255) }),
  fc.record({ kind: fc.constant('replace' as const), key: fc.nat(), value: fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.constantFrom('', '{', 'null', '[]', '{"position":1}', '99999999999999999', '-1', '1e3'), fc.string()) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.nat() }),
  fc.record({ kind: fc.constant('schema' as const), key: fc.nat(), schema: int(2, 5) }),
);

async function checkStore(history: ContainerEvent[], damages: ValueDamage[], stats: Record<string, number>): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'berth-fuzz-log-'));
  const dir = join(root, 'log');
  try {
    const log = await openLevelEventLog(dir, { schemas: SCHEMAS });
    const events = walk(history);
    if (events.length > 0) await log.append(ID, events.map((e) => ({ type: e.type, data: e.data })), { expectedVersion: 'no_stream' });
    await log.append('other', [{ type: 'StartRequested', data: {} }], { expectedVersion: 'no_stream' });
    await log.close();

    const keys = [HEAD_KEY, streamHeadKey(ID), streamHeadKey('other'), ...events.map((e) => streamKey(ID, e.version)), ...events.map((_, i) => globalKey(i + 1)), streamKey('other', 1)];
    const damaged = new Set<string>();
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await db.open();
    try {
      for (const d of damages) {
        const key = keys[d.key % keys.length]!;
        const raw = (await db.get(key)) ?? '';
        if (d.kind !== 'schema') damaged.add(key);
        switch (d.kind) {
          case 'truncate': await db.put(key, raw.slice(0, d.at % Math.max(raw.length, 1))); break;
          case 'byte': { const b = Buffer.from(raw); if (b.length) b[d.at % b.length] = d.byte; await db.put(key, b.toString('latin1')); break; }
          case 'replace': await db.put(key, d.value); break;
          case 'delete': await db.del(key); break;
          case 'schema': {
            let v: unknown;
            try {
              v = JSON.parse(raw);
            } catch {
              break; // already damaged, or not JSON
            }
            if (typeof v !== 'object' || v === null || !('type' in v)) break; // not an event value
            await db.put(key, JSON.stringify({ ...v, schema: d.schema }));
            damaged.add(key);
            break;
          }
        }
      }
    } finally {
      await db.close();
    }

    // The store: opening and reading succeed or fail with STORE_CORRUPT naming a damaged key.
    const named = (e: unknown, what: string) => {
      if (!isRuntimeError(e)) throw new Error(`${what}: untyped error ${e instanceof Error ? e.stack : String(e)}`);
      if (e.code !== 'STORE_CORRUPT') throw new Error(`${what}: ${e.code} instead of STORE_CORRUPT: ${e.message}`);
      // A missing key is found by what points at it; a damaged one is named.
      if (![...damaged].some((k) => e.message.includes(describeKey(k))) && !damages.some((d) => d.kind === 'delete')) {
        throw new Error(`${what}: STORE_CORRUPT does not name a damaged key (${[...damaged].map(describeKey).join(', ')}): ${e.message}`);
      }
      stats.storeCorrupt!++;
    };
    let reopened;
    try {
      reopened = await openLevelEventLog(dir, { schemas: SCHEMAS });
    } catch (e) {
      named(e, 'open');
    }
    if (reopened) {
      for (const read of [() => reopened.read(ID), () => reopened.readAll(), () => reopened.read('other')]) {
        try {
          await read();
          stats.storeRead!++;
        } catch (e) {
          named(e, 'read');
        }
      }
      await reopened.close();
    }

    // A runtime on that root: coded errors only (the store's, or replay's STORE_CORRUPT).
    let rt;
    try {
      rt = await openRuntime({ root, serve: false });
    } catch (e) {
      if (!isRuntimeError(e) || e.code === 'INTERNAL') throw new Error(`openRuntime on a damaged log: ${e instanceof Error ? e.stack : String(e)}`);
      return;
    }
    try {
      for (const op of [() => rt.list(), () => rt.history(ID), () => rt.replay(ID), () => rt.state('other')]) {
        try {
          await op();
        } catch (e) {
          if (!isRuntimeError(e) || e.code === 'INTERNAL') throw new Error(`runtime read of a damaged log: ${e instanceof Error ? e.stack : String(e)}`);
        }
      }
    } finally {
      await rt.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

type LogCase =
  | { kind: 'sequence'; history: ContainerEvent[]; damages: Damage[]; at: number }
  | { kind: 'store'; history: ContainerEvent[]; damages: ValueDamage[] };

const logCase: fc.Arbitrary<LogCase> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('sequence' as const), history: fc.array(plausible, { maxLength: 40 }), damages: fc.array(damage, { maxLength: 4 }), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('store' as const), history: fc.array(plausible, { maxLength: 25 }), damages: fc.array(valueDamage, { minLength: 1, maxLength: 3 }) }) },
);

export async function logCampaign(c: Campaign): Promise<CampaignResult> {
  const stats: Record<string, number> = { cases: 0, replayed: 0, withRejected: 0, corrupt: 0, stores: 0, storeRead: 0, storeCorrupt: 0 };
  const property = fc.asyncProperty(logCase, async (lc) => {
    stopAtDeadline(c);
    stats.cases!++;
    if (lc.kind === 'sequence') {
      checkSequence(lc.damages.reduce(applyDamage, walk(lc.history)), lc.at, stats);
    } else {
      stats.stores!++;
      await checkStore(lc.history, lc.damages, stats);
    }
  });
  const d = await fc.check(property, checkOptions(c));
  return { details: details(d), stats };
}
