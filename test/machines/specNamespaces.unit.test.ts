import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { defaultConfig, validateConfig, validateProcess } from '../../src/machines/spec.js';

/** Namespaces joined by path, time offsets, and an exec's process (validated like config.json's). */
type Json = Record<string, any>;
const withEdit = (edit: (c: Json) => void): Json => {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  edit(c);
  return c;
};

function rejects(f: () => unknown, field: string, message?: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isRuntimeError(e, 'INVALID_CONFIG'), `expected INVALID_CONFIG, got ${String(e)}`);
    assert.equal(e.field, field);
    if (message) assert.match(e.message, message);
    return true;
  });
}

test('a namespace path is kept (joined at create); it must be absolute', () => {
  const c = validateConfig(withEdit((c) => (c.linux.namespaces[1].path = '/var/run/netns/blue')));
  assert.deepEqual(c.linux?.namespaces?.[1], { type: 'network', path: '/var/run/netns/blue' });
  assert.deepEqual(c.linux?.namespaces?.[0], { type: 'pid' }, 'no path, no path key');
  rejects(() => validateConfig(withEdit((c) => (c.linux.namespaces[1].path = 'netns/blue'))), 'linux.namespaces[1].path', /absolute/);
  rejects(() => validateConfig(withEdit((c) => (c.linux.namespaces[1].path = 7))), 'linux.namespaces[1].path', /a string/);
});

test('joining a user namespace needs no mappings; making one is still refused', () => {
  const c = validateConfig(withEdit((c) => c.linux.namespaces.push({ type: 'user', path: '/proc/1/ns/user' })));
  assert.deepEqual(c.linux?.namespaces?.[5], { type: 'user', path: '/proc/1/ns/user' });
  rejects(() => validateConfig(withEdit((c) => c.linux.namespaces.push({ type: 'user' }))), 'linux.uidMappings');
});

test('time offsets: per clock, secs and nanosecs, in a new time namespace only', () => {
  const ok = validateConfig(withEdit((c) => {
    c.linux.namespaces.push({ type: 'time' });
    c.linux.timeOffsets = { monotonic: { secs: 86400, nanosecs: 5 }, boottime: { secs: -10 } };
  }));
  assert.deepEqual(ok.linux?.timeOffsets, { monotonic: { secs: 86400, nanosecs: 5 }, boottime: { secs: -10 } });
  const time = (offsets: unknown, ns: Json = { type: 'time' }) => () => validateConfig(withEdit((c) => {
    c.linux.namespaces.push(ns);
    c.linux.timeOffsets = offsets;
  }));
  rejects(time({ realtime: { secs: 1 } }), 'linux.timeOffsets["realtime"]', /unknown clock "realtime"/);
  rejects(time({ monotonic: { nanosecs: 1e9 } }), 'linux.timeOffsets["monotonic"].nanosecs', /from 0 to 999999999/);
  rejects(time({ monotonic: { secs: 1.5 } }), 'linux.timeOffsets["monotonic"].secs');
  rejects(time({ monotonic: 5 }), 'linux.timeOffsets["monotonic"]', /an object/);
  rejects(time([]), 'linux.timeOffsets', /an object/);
  rejects(time({ boottime: { secs: 1 } }, { type: 'time', path: '/proc/1/ns/time' }), 'linux.timeOffsets', /joined by path/);
});

test('an exec process is validated like config.json\'s, naming process.* fields', () => {
  const p = validateProcess({ args: ['id'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['A=1'] });
  assert.deepEqual(p, { args: ['id'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['A=1'] });
  rejects(() => validateProcess({ args: 'id', cwd: '/', user: { uid: 0, gid: 0 } }), 'process.args');
  rejects(() => validateProcess({ args: ['id'], cwd: '/', user: { uid: '0', gid: 0 } }), 'process.user.uid');
  rejects(() => validateProcess({ args: ['id'], cwd: 'tmp', user: { uid: 0, gid: 0 } }), 'process.cwd');
  rejects(() => validateProcess({ args: ['id'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['NOEQUALS'] }), 'process.env[0]');
  rejects(() => validateProcess({ args: ['id'], cwd: '/', user: { uid: 0, gid: 0 }, terminal: 'yes' }), 'process.terminal');
  rejects(() => validateProcess(null), 'process');
});
