import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { SECCOMP_ACTIONS, SECCOMP_FLAGS, supportedSeccomp } from '../../src/machines/security.js';
import { defaultConfig, validateConfig } from '../../src/machines/spec.js';

type Json = Record<string, any>;

function withEdit(edit: (c: Json) => void): Json {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  edit(c);
  return c;
}
const withSeccomp = (profile: Json) => withEdit((c) => { c.linux.seccomp = profile; });

function rejects(config: unknown, field: string, message?: RegExp): void {
  assert.throws(() => validateConfig(config), (e: unknown) => {
    assert.ok(isRuntimeError(e, 'INVALID_CONFIG'), `expected INVALID_CONFIG, got ${String(e)}`);
    assert.equal(e.field, field);
    assert.match(e.message, /^invalid config: /);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** A profile shaped like docker's default, trimmed: every field the spec defines. */
const DOCKERISH = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  flags: ['SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
  listenerPath: '/run/seccomp-agent.sock',
  listenerMetadata: 'meta',
  syscalls: [
    { names: ['accept', 'read', 'write', 'mseal'], action: 'SCMP_ACT_ALLOW' },
    { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    { names: ['ptrace'], action: 'SCMP_ACT_TRACE', errnoRet: 7 },
  ],
};

test('a full profile validates and comes back as given', () => {
  assert.deepEqual(validateConfig(withSeccomp(DOCKERISH)).linux?.seccomp, DOCKERISH);
});

test('a profile with neither a default action nor rules is no profile (runc)', () => {
  assert.ok(!('seccomp' in validateConfig(withSeccomp({})).linux!));
  assert.ok(!('seccomp' in validateConfig(withSeccomp({ syscalls: [] })).linux!));
});

test('every action the spec names is accepted in a rule (NOTIFY with a listenerPath)', () => {
  for (const action of SECCOMP_ACTIONS) {
    validateConfig(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['getcwd'], action }] }));
  }
  assert.deepEqual(supportedSeccomp(SECCOMP_ACTIONS).includes('SCMP_ACT_NOTIFY'), true);
});

test('SCMP_ACT_NOTIFY as runc allows it: not the default, not for write, only with a listenerPath', () => {
  const notify = (names: string[], extra: Json = { listenerPath: '/run/agent.sock' }) =>
    withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', ...extra, syscalls: [{ names: ['read'], action: 'SCMP_ACT_LOG' }, { names, action: 'SCMP_ACT_NOTIFY' }] });
  validateConfig(notify(['mkdir', 'mkdirat']));
  rejects(notify(['mkdir', 'write']), 'linux.seccomp.syscalls[1].names[1]', /: SCMP_ACT_NOTIFY cannot be used for write$/);
  rejects(notify(['mkdir'], {}), 'linux.seccomp.listenerPath', /: SCMP_ACT_NOTIFY needs a listenerPath$/);
  rejects(notify(['mkdir'], { listenerPath: '' }), 'linux.seccomp.listenerPath', /needs a listenerPath/);
  rejects(withSeccomp({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/run/agent.sock' }), 'linux.seccomp.defaultAction', /cannot be the default action/);
});

test('flags: the known ones, WAIT_KILLABLE_RECV refused until notify is supported', () => {
  for (const flag of supportedSeccomp(SECCOMP_FLAGS)) validateConfig(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: [flag] }));
  rejects(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }),
    'linux.seccomp.flags[1]', /not supported yet/);
  rejects(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }),
    'linux.seccomp.flags[0]', /unknown seccomp flag "SECCOMP_FILTER_FLAG_NEW_LISTENER"/);
});

const ok = { defaultAction: 'SCMP_ACT_ALLOW' };
const rule = (r: Json) => ({ ...ok, syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }, r] });

const BAD: [string, Json, string, RegExp][] = [
  ['seccomp not an object', [] as unknown as Json, 'linux.seccomp', /must be an object/],
  ['rules without a default action', { syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }, 'linux.seccomp.defaultAction', /must be a string/],
  ['unknown default action', { defaultAction: 'SCMP_ACT_DENY' }, 'linux.seccomp.defaultAction', /unknown seccomp action "SCMP_ACT_DENY"/],
  ['notify as the default action', { defaultAction: 'SCMP_ACT_NOTIFY' }, 'linux.seccomp.defaultAction', /SCMP_ACT_NOTIFY/],
  ['defaultErrnoRet with an action taking none', { defaultAction: 'SCMP_ACT_KILL', defaultErrnoRet: 1 }, 'linux.seccomp.defaultErrnoRet', /SCMP_ACT_KILL takes no errno/],
  ['defaultErrnoRet beyond the filter data', { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 65536 }, 'linux.seccomp.defaultErrnoRet', /from 0 to 65535/],
  ['unknown architecture', { ...ok, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_Z80'] }, 'linux.seccomp.architectures[1]', /unknown seccomp architecture "SCMP_ARCH_Z80"/],
  ['listenerPath not a string', { ...ok, listenerPath: 5 }, 'linux.seccomp.listenerPath', /must be a string/],
  ['syscalls not an array', { ...ok, syscalls: {} }, 'linux.seccomp.syscalls', /must be an array/],
  ['unknown rule action', rule({ names: ['read'], action: 'SCMP_ACT_KILL_ALL' }), 'linux.seccomp.syscalls[1].action', /unknown seccomp action/],
  ['missing rule action', rule({ names: ['read'] }), 'linux.seccomp.syscalls[1].action', /must be a string/],
  ['empty names', rule({ names: [], action: 'SCMP_ACT_ALLOW' }), 'linux.seccomp.syscalls[1].names', /non-empty array/],
  ['empty syscall name', rule({ names: ['read', ''], action: 'SCMP_ACT_ALLOW' }), 'linux.seccomp.syscalls[1].names[1]', /not a syscall name/],
  ['names joined by a comma', rule({ names: ['read,write'], action: 'SCMP_ACT_ALLOW' }), 'linux.seccomp.syscalls[1].names[0]', /not a syscall name: "read,write"/],
  ['errnoRet with ALLOW', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 1 }), 'linux.seccomp.syscalls[1].errnoRet', /takes no errno/],
  ['negative errnoRet', rule({ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: -1 }), 'linux.seccomp.syscalls[1].errnoRet', /from 0 to 65535/],
  ['argument index 6', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }), 'linux.seccomp.syscalls[1].args[0].index', /from 0 to 5/],
  ['unknown operator', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_APPROX' }] }), 'linux.seccomp.syscalls[1].args[0].op', /unknown seccomp operator "SCMP_CMP_APPROX"/],
  ['missing value', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, op: 'SCMP_CMP_EQ' }] }), 'linux.seccomp.syscalls[1].args[0].value', /an integer/],
  ['a value JSON cannot hold exactly', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2 ** 60, op: 'SCMP_CMP_EQ' }] }), 'linux.seccomp.syscalls[1].args[0].value', /9007199254740991/],
  ['negative valueTwo', rule({ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: -1, op: 'SCMP_CMP_MASKED_EQ' }] }), 'linux.seccomp.syscalls[1].args[0].valueTwo', /an integer/],
];

for (const [what, profile, field, message] of BAD) {
  test(`seccomp rejects: ${what} (${field})`, () => rejects(withSeccomp(profile), field, message));
}

test('personality: LINUX and LINUX32, flags kept (the spec defines none; runc ignores them)', () => {
  assert.deepEqual(validateConfig(withEdit((c) => { c.linux.personality = { domain: 'LINUX32', flags: ['x'] }; })).linux?.personality,
    { domain: 'LINUX32', flags: ['x'] });
  rejects(withEdit((c) => { c.linux.personality = { domain: 'LINUX64' }; }), 'linux.personality.domain', /unknown personality domain "LINUX64"/);
  rejects(withEdit((c) => { c.linux.personality = {}; }), 'linux.personality.domain', /must be a string/);
  rejects(withEdit((c) => { c.linux.personality = { domain: 'LINUX', flags: 'x' }; }), 'linux.personality.flags', /must be an array/);
});

test('ioPriority: the three classes, levels 0 to 7', () => {
  for (const cls of ['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE']) {
    assert.deepEqual(validateConfig(withEdit((c) => { c.process.ioPriority = { class: cls, priority: 7 }; })).process.ioPriority, { class: cls, priority: 7 });
  }
  rejects(withEdit((c) => { c.process.ioPriority = { class: 'IOPRIO_CLASS_NONE', priority: 0 }; }), 'process.ioPriority.class', /unknown I\/O priority class/);
  rejects(withEdit((c) => { c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 }; }), 'process.ioPriority.priority', /from 0 to 7/);
  rejects(withEdit((c) => { c.process.ioPriority = { class: 'IOPRIO_CLASS_BE' }; }), 'process.ioPriority.priority', /an integer/);
});

test('labels are strings, kept for the planner to apply or refuse', () => {
  const c = validateConfig(withEdit((c) => {
    c.process.apparmorProfile = 'p';
    c.process.selinuxLabel = 'l';
    c.linux.mountLabel = 'm';
  }));
  assert.equal(c.process.apparmorProfile, 'p');
  assert.equal(c.linux?.mountLabel, 'm');
  rejects(withEdit((c) => { c.linux.mountLabel = 5; }), 'linux.mountLabel', /must be a string/);
});
