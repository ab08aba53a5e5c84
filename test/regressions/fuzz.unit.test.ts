import assert from 'node:assert/strict';
import { test } from 'node:test';
import { firstValueFrom, toArray } from 'rxjs';
import { withDefaultDevices } from '../../src/effects/cgroup.js';
import { validateResources } from '../../src/effects/cgroups/index.js';
import { isRuntimeError } from '../../src/errors.js';
import { validateId } from '../../src/ids.js';
import { SCHEMAS } from '../../src/machines/events.js';
import { replay, type LoggedEvent } from '../../src/machines/replay.js';
import { parseSignal } from '../../src/signals.js';
import { createCodec } from '../../src/store/codec.js';
import { streamKey } from '../../src/store/keys.js';
import { createMemoryEventLog } from '../../src/store/memoryEventLog.js';
import { state$ } from '../../src/store/projections.js';

/**
 * Failures the fuzz suites (test/fuzz/) found, kept as plain tests. Each names the suite that
 * found it; the fix is described in docs/testing.md.
 */

const ev = (version: number, type: string, data: Record<string, unknown> = {}): LoggedEvent => ({ version, type, data, at: '' });
const created = (config: unknown) => ev(2, 'Created', { pid: 1, startTime: '1', created: '', rootfs: '/r', config, cgroup: '/c' });
const corrupt = (re: RegExp) => (e: unknown) => isRuntimeError(e, 'STORE_CORRUPT') && re.test((e as Error).message);

test('log fuzz: an unknown event type is STORE_CORRUPT naming the version, not a TypeError', () => {
  for (const type of ['Bogus', '__proto__', 'toString', '']) {
    assert.throws(() => replay('x', [ev(1, 'CreateRequested', { bundle: '/b', pidFile: null, owner: '' }), ev(2, type)]), corrupt(/event 2: unknown event type/), type);
  }
});

test('log fuzz: a payload the machine cannot apply is STORE_CORRUPT naming the container and version', () => {
  const intent = ev(1, 'CreateRequested', { bundle: '/b', pidFile: null, owner: '' });
  assert.throws(() => replay('x', [intent, created(null)]), corrupt(/log of x: event 2 \(Created\) cannot be applied/));
  // A payload of another shape that the machine can apply is replayed, not refused.
  assert.equal(replay('x', [intent, created(5)]).state, 'created');
});

test('log fuzz: state$ ends with STORE_CORRUPT on a corrupt history instead of throwing in a subscriber', async () => {
  const log = createMemoryEventLog();
  await log.append('x', [{ type: 'CreateRequested', data: { bundle: '/b', pidFile: null, owner: '' } }, { type: 'Bogus', data: {} }], { expectedVersion: 'no_stream' });
  await assert.rejects(firstValueFrom(state$(log, 'x').pipe(toArray())), corrupt(/unknown event type "Bogus"/));
});

test('log fuzz: an event of a known type at a schema newer than berth reads is STORE_CORRUPT naming its key', () => {
  const codec = createCodec({ schemas: SCHEMAS });
  const key = streamKey('x', 1);
  const raw = (type: string, schema: number) => JSON.stringify({ position: 1, type, schema, data: {}, at: '' });
  assert.throws(() => codec.decode(key, 'x', 1, raw('StartRequested', 2)), corrupt(/schema 2 of StartRequested is newer/));
  assert.ok(codec.decode(key, 'x', 1, raw('StartRequested', 1)));
  // Types outside the registry keep their schema (the store's own contract).
  assert.equal(codec.decode(key, 'x', 1, raw('Old', 3)).schema, 3);
});

test('input fuzz: a signal that is not a string or number is INVALID_ARGUMENT, not a TypeError', () => {
  for (const v of [null, undefined, {}, [], true, [9]]) {
    assert.throws(() => parseSignal(v as unknown as string), (e: unknown) => isRuntimeError(e, 'INVALID_ARGUMENT'), String(v));
  }
});

test('input fuzz: ids longer than NAME_MAX are INVALID_ID (they name a directory and a cgroup)', () => {
  assert.equal(validateId('x'.repeat(255)), 'x'.repeat(255));
  assert.throws(() => validateId('x'.repeat(256)), (e: unknown) => isRuntimeError(e, 'INVALID_ID'));
});

test('input fuzz: linux.resources.devices that is not a list is refused naming the field', () => {
  for (const devices of [0, 'a', {}, true]) {
    assert.throws(() => validateResources(withDefaultDevices({ devices } as never), 1), (e: unknown) => isRuntimeError(e, 'INVALID_CONFIG') && (e as { field?: string }).field === 'linux.resources.devices', String(devices));
  }
});
