import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyRules, emulate, parseDevicesList, transition, type DeviceState, type DeviceWrite } from '../../../src/effects/cgroups/devicesV1.js';
import type { DeviceRule } from '../../../src/effects/cgroups/validate.js';

const rule = (allow: boolean, type: DeviceRule['type'], major: number, minor: number, access: string): DeviceRule => ({ allow, type, major, minor, access });
const DEFAULTS = [rule(false, 'a', -1, -1, 'rwm'), rule(true, 'c', -1, -1, 'm'), rule(true, 'c', 1, 3, 'rwm'), rule(true, 'c', 136, -1, 'rwm')];

/** devices.list as the kernel prints a state. */
function list(s: DeviceState): string {
  return s.defaultAllow ? 'a *:* rwm\n' : [...s.exceptions].map(([k, a]) => `${k} ${a}\n`).join('');
}
/** A write as the rule the kernel parses from it. */
function asRule(w: DeviceWrite): DeviceRule {
  if (w.rule === 'a') return rule(w.allow, 'a', -1, -1, 'rwm');
  const m = /^([bc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(w.rule)!;
  const n = (v: string) => (v === '*' ? -1 : Number(v));
  return rule(w.allow, m[1] as 'b' | 'c', n(m[2]!), n(m[3]!), m[4]!);
}

test('a rule list from deny-all: exceptions add and narrow by exact key; `a` resets', () => {
  const s = emulate([...DEFAULTS, rule(false, 'c', 1, 3, 'w'), rule(true, 'c', 1, 3, 'r')]);
  assert.equal(s.defaultAllow, false);
  assert.deepEqual([...s.exceptions], [['c *:*', 'm'], ['c 1:3', 'rm'], ['c 136:*', 'rwm']]);
  assert.deepEqual(emulate([rule(true, 'a', -1, -1, 'rwm'), rule(false, 'c', 1, 3, 'rwm')]), { defaultAllow: true, exceptions: new Map([['c 1:3', 'rwm']]) });
  assert.deepEqual(emulate([rule(true, 'c', 1, 3, 'rwm'), rule(false, 'a', -1, -1, 'rwm')]), { defaultAllow: false, exceptions: new Map() });
});

test('devices.list parses back into the state that printed it', () => {
  const s = emulate(DEFAULTS);
  assert.deepEqual(parseDevicesList(list(s)), s);
  assert.deepEqual(parseDevicesList('a *:* rwm\n'), { defaultAllow: true, exceptions: new Map() });
  assert.equal(parseDevicesList('x 1:2 q\n'), null);
});

test('an update between two deny-all lists writes only the difference, and no reset', () => {
  const from = emulate(DEFAULTS);
  const to = emulate([...DEFAULTS.filter((r) => r.major !== 136), rule(true, 'c', 10, 200, 'rwm'), rule(true, 'c', 1, 3, 'rw')]);
  assert.deepEqual(transition(parseDevicesList(list(from)), to), [
    { allow: false, rule: 'c 136:* rwm' },
    { allow: true, rule: 'c 10:200 rwm' },
  ]);
  assert.deepEqual(transition(from, from), [], 'nothing to write when the state is already the target');
  // Allow-all hides its deny exceptions: it can only be left by a reset (the first create).
  assert.deepEqual(transition(parseDevicesList('a *:* rwm\n'), from)[0], { allow: false, rule: 'a' });
  assert.deepEqual(transition(null, from)[0], { allow: false, rule: 'a' });
});

const arbRule: fc.Arbitrary<DeviceRule> = fc.oneof(
  { weight: 1, arbitrary: fc.boolean().map((allow) => rule(allow, 'a', -1, -1, 'rwm')) },
  { weight: 8, arbitrary: fc.record({
    allow: fc.boolean(),
    type: fc.constantFrom<'b' | 'c'>('b', 'c'),
    major: fc.constantFrom(-1, 1, 5, 136),
    minor: fc.constantFrom(-1, 0, 3),
    access: fc.subarray(['r', 'w', 'm'], { minLength: 1 }).map((a) => a.join('')),
  }) },
);

test('property: the writes take any cgroup state the list shows to exactly the target, resetting only when they must', () => {
  fc.assert(fc.property(fc.array(arbRule, { maxLength: 12 }), fc.array(arbRule, { maxLength: 12 }), (a, b) => {
    const now = emulate(a);
    const target = emulate(b);
    const writes = transition(parseDevicesList(list(now)), target);
    const after = applyRules(now, writes.map(asRule));
    // An allow-all cgroup's deny exceptions are unknown to the list: only the default is promised there.
    assert.equal(after.defaultAllow, target.defaultAllow);
    assert.deepEqual([...after.exceptions].sort(), [...target.exceptions].sort());
    const reset = writes.some((w) => w.rule === 'a');
    assert.equal(reset, now.defaultAllow || now.defaultAllow !== target.defaultAllow);
  }), { numRuns: 2000 });
});
