import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRuntimeError } from '../../src/errors.js';
import { planInit, type InitHost } from '../../src/effects/initPlan.js';
import { labelMounts } from '../../src/effects/lsm.js';
import { encodePlan, type PlanOp } from '../../src/effects/planWire.js';
import { planSeccomp, seccompAction } from '../../src/effects/seccompPlan.js';
import { defaultConfig, validateConfig, type OciConfig } from '../../src/machines/spec.js';

type Json = Record<string, any>;
const host = (extra: Partial<InitHost> = {}): InitHost =>
  ({ rootfs: '/run/b/rootfs', bundle: '/run/b', cgroups: { kind: 'v2', v1: {}, unified: '/sys/fs/cgroup' }, ...extra });

/** The default config (noNewPrivileges true) with `edit` applied, through validateConfig as create does. */
function config(edit: (c: Json) => void = () => {}): OciConfig {
  const c: Json = JSON.parse(JSON.stringify(defaultConfig()));
  edit(c);
  return validateConfig(c);
}

const withSeccomp = (profile: Json, edit: (c: Json) => void = () => {}) => config((c) => {
  c.linux.seccomp = profile;
  edit(c);
});

const lines = (ops: PlanOp[]) => ops.map((o) => [o.op, ...o.args].join(' '));
/** The plan's operation names from CREDS on, with the seccomp and label ones in place. */
const tail = (ops: PlanOp[]) => lines(ops).slice(ops.findIndex((o) => o.op === 'RLIMIT')).map((l) => l.split(' ')[0]);

const ALLOW = 0x7fff0000;
const ERRNO = 0x00050000;
const EPERM = 1;
const SPEC_ALLOW = 4;

test('with noNewPrivileges the filter is compiled just before EXEC and installed by it', () => {
  const plan = planInit(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] }), host());
  assert.deepEqual(tail(plan.ops), [
    'RLIMIT', 'CREDS', 'NO_NEW_PRIVS', 'UMASK', 'CWD', 'ENV', 'ENV', 'ARG',
    'SECCOMP_INIT', 'SECCOMP_RULE', 'SECCOMP_LOAD', 'EXEC',
  ]);
  assert.deepEqual(lines(plan.ops).filter((l) => l.startsWith('SECCOMP')), [
    `SECCOMP_INIT ${ALLOW} ${SPEC_ALLOW}`,
    `SECCOMP_RULE mkdir ${ERRNO | EPERM}`,
    'SECCOMP_LOAD 1',
  ]);
});

test('a NOTIFY rule: installed at once with a listener (SECCOMP_LOAD 2), before EXEC with no_new_privs, before CREDS without', () => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] };
  const nnp = planInit(withSeccomp(profile), host());
  assert.deepEqual(tail(nnp.ops).slice(-4), ['SECCOMP_INIT', 'SECCOMP_RULE', 'SECCOMP_LOAD', 'EXEC']);
  assert.ok(lines(nnp.ops).includes(`SECCOMP_RULE mkdir ${0x7fc00000}`));
  assert.ok(lines(nnp.ops).includes('SECCOMP_LOAD 2'));
  const caps = planInit(withSeccomp(profile, (c) => { c.process.noNewPrivileges = false; }), host());
  assert.deepEqual(tail(caps.ops).slice(0, 5), ['RLIMIT', 'SECCOMP_INIT', 'SECCOMP_RULE', 'SECCOMP_LOAD', 'CREDS']);
  assert.ok(lines(caps.ops).includes('SECCOMP_LOAD 2'));
});

test('without noNewPrivileges it is installed before CREDS, while the helper has CAP_SYS_ADMIN', () => {
  const plan = planInit(withSeccomp({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_KILL' }] },
    (c) => { c.process.noNewPrivileges = false; }), host());
  assert.deepEqual(tail(plan.ops), [
    'RLIMIT', 'SECCOMP_INIT', 'SECCOMP_RULE', 'SECCOMP_LOAD', 'CREDS', 'UMASK', 'CWD', 'ENV', 'ENV', 'ARG', 'EXEC',
  ]);
  assert.ok(lines(plan.ops).includes('SECCOMP_LOAD 0'));
});

test('no profile, or one with neither a default action nor rules (runc), plans nothing', () => {
  for (const c of [config(), withSeccomp({}), withSeccomp({ syscalls: [] })]) {
    assert.deepEqual(planSeccomp(c), { beforeCreds: [], beforeExec: [] });
    assert.ok(!planInit(c, host()).ops.some((o) => o.op.startsWith('SECCOMP')));
  }
});

test('actions: libseccomp values, errno data for ERRNO and TRACE (EPERM when absent), KILL is KILL_THREAD', () => {
  assert.equal(seccompAction('SCMP_ACT_KILL'), 0);
  assert.equal(seccompAction('SCMP_ACT_KILL_THREAD'), 0);
  assert.equal(seccompAction('SCMP_ACT_KILL_PROCESS'), 0x80000000);
  assert.equal(seccompAction('SCMP_ACT_TRAP'), 0x00030000);
  assert.equal(seccompAction('SCMP_ACT_ERRNO'), ERRNO | EPERM);
  assert.equal(seccompAction('SCMP_ACT_ERRNO', 38), ERRNO | 38);
  assert.equal(seccompAction('SCMP_ACT_ERRNO', 0), ERRNO, 'errno 0 is a fake success, not EPERM');
  assert.equal(seccompAction('SCMP_ACT_TRACE'), 0x7ff00000 | EPERM);
  assert.equal(seccompAction('SCMP_ACT_TRACE', 77), 0x7ff00000 | 77);
  assert.equal(seccompAction('SCMP_ACT_LOG'), 0x7ffc0000);
  assert.equal(seccompAction('SCMP_ACT_ALLOW'), ALLOW);
});

test('default action and defaultErrnoRet, architectures by libseccomp name', () => {
  const { beforeExec } = planSeccomp(withSeccomp({
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38,
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPSEL64N32'],
  }));
  assert.deepEqual(lines(beforeExec), [
    `SECCOMP_INIT ${ERRNO | 38} ${SPEC_ALLOW}`,
    'SECCOMP_ARCH x86_64', 'SECCOMP_ARCH x86', 'SECCOMP_ARCH x32', 'SECCOMP_ARCH aarch64', 'SECCOMP_ARCH mipsel64n32',
    'SECCOMP_LOAD 1',
  ]);
});

test('flags: as given; SPEC_ALLOW only when the profile names none (runc)', () => {
  const flagsOf = (flags: string[] | undefined) => {
    const profile: Json = { defaultAction: 'SCMP_ACT_ALLOW' };
    if (flags !== undefined) profile.flags = flags;
    return lines(planSeccomp(withSeccomp(profile)).beforeExec)[0];
  };
  assert.equal(flagsOf(undefined), `SECCOMP_INIT ${ALLOW} 4`);
  assert.equal(flagsOf([]), `SECCOMP_INIT ${ALLOW} 0`);
  assert.equal(flagsOf(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG']), `SECCOMP_INIT ${ALLOW} 3`);
  assert.equal(flagsOf(['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']), `SECCOMP_INIT ${ALLOW} 6`);
});

test('rules: one per name; a rule repeating the default action is skipped (libseccomp refuses it)', () => {
  const { beforeExec } = planSeccomp(withSeccomp({
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['mkdir'], action: 'SCMP_ACT_ERRNO' },
      { names: ['rmdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      { names: ['unlink'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
    ],
  }));
  assert.deepEqual(lines(beforeExec).slice(1, -1), [
    `SECCOMP_RULE read ${ALLOW}`, `SECCOMP_RULE write ${ALLOW}`, `SECCOMP_RULE unlink ${ERRNO | 13}`,
  ]);
});

test('argument conditions: ANDed in one rule; a repeated argument index splits them into ORed rules (runc)', () => {
  const { beforeExec } = planSeccomp(withSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      { names: ['clone', 'clone3'], action: 'SCMP_ACT_KILL_PROCESS', args: [
        { index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' },
        { index: 2, value: 5, op: 'SCMP_CMP_GT' },
      ] },
      { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [
        { index: 0, value: 40, op: 'SCMP_CMP_EQ' },
        { index: 0, value: 16, op: 'SCMP_CMP_EQ' },
      ] },
    ],
  }));
  assert.deepEqual(lines(beforeExec).slice(1, -1), [
    'SECCOMP_ARG 0 4 8 0', `SECCOMP_RULE personality ${ERRNO | EPERM}`,
    `SECCOMP_ARG 0 7 ${0x7e020000} 0`, 'SECCOMP_ARG 2 6 5 0', `SECCOMP_RULE clone ${0x80000000}`,
    `SECCOMP_ARG 0 7 ${0x7e020000} 0`, 'SECCOMP_ARG 2 6 5 0', `SECCOMP_RULE clone3 ${0x80000000}`,
    'SECCOMP_ARG 0 4 40 0', `SECCOMP_RULE socket ${ERRNO | 97}`,
    'SECCOMP_ARG 0 4 16 0', `SECCOMP_RULE socket ${ERRNO | 97}`,
  ]);
});

test('every operator has its enum scmp_compare number', () => {
  const ops = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];
  const { beforeExec } = planSeccomp(withSeccomp({
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: ops.map((op, i) => ({ names: ['ioctl'], action: 'SCMP_ACT_ERRNO', args: [{ index: i % 6, value: i, op }] })),
  }));
  assert.deepEqual(beforeExec.filter((o) => o.op === 'SECCOMP_ARG').map((o) => o.args[1]), ['1', '2', '3', '4', '5', '6', '7']);
});

test('wire bytes of a small filter are stable', () => {
  const { beforeExec } = planSeccomp(withSeccomp({
    defaultAction: 'SCMP_ACT_ERRNO', flags: [],
    syscalls: [{ names: ['uname'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_NE' }] }],
  }));
  assert.equal(
    encodePlan(beforeExec).toString('latin1').replaceAll('\0', '|'),
    `BERTH-PLAN|1|SECCOMP_INIT|2|${ERRNO | EPERM}|0|SECCOMP_ARG|4|0|1|1|0|SECCOMP_RULE|2|uname|${ALLOW}|SECCOMP_LOAD|1|1|END|0|`,
  );
});

test('personality and I/O priority go before CREDS: PER_LINUX32 is 8, ioprio is class << 13 | level', () => {
  const plan = planInit(config((c) => {
    c.linux.personality = { domain: 'LINUX32', flags: [] };
    c.process.ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 6 };
  }), host());
  assert.deepEqual(tail(plan.ops).slice(0, 4), ['RLIMIT', 'PERSONALITY', 'IOPRIO', 'CREDS']);
  assert.ok(lines(plan.ops).includes('PERSONALITY 8'));
  assert.ok(lines(plan.ops).includes(`IOPRIO ${(2 << 13) | 6}`));
  const classes = { IOPRIO_CLASS_RT: 1, IOPRIO_CLASS_BE: 2, IOPRIO_CLASS_IDLE: 3 };
  for (const [name, n] of Object.entries(classes)) {
    const ops = planInit(config((c) => { c.process.ioPriority = { class: name, priority: 0 }; }), host()).ops;
    assert.ok(lines(ops).includes(`IOPRIO ${n << 13}`), name);
  }
  assert.ok(lines(planInit(config((c) => { c.linux.personality = { domain: 'LINUX' }; }), host()).ops).includes('PERSONALITY 0'));
});

function rejects(fn: () => unknown, field: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isRuntimeError(e, 'INVALID_CONFIG'), String(e));
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}

test('AppArmor and SELinux labels: before CREDS and NO_NEW_PRIVS when the host has them, refused when not', () => {
  const labelled = config((c) => {
    c.process.apparmorProfile = 'docker-default';
    c.process.selinuxLabel = 'system_u:system_r:container_t:s0:c1,c2';
  });
  const plan = planInit(labelled, host({ lsm: { apparmor: true, selinux: true } }));
  assert.deepEqual(tail(plan.ops).slice(0, 5), ['RLIMIT', 'APPARMOR_EXEC', 'SELINUX_EXEC', 'CREDS', 'NO_NEW_PRIVS']);
  assert.ok(lines(plan.ops).includes('APPARMOR_EXEC docker-default'));
  rejects(() => planInit(labelled, host()), 'process.apparmorProfile', /^process\.apparmorProfile: AppArmor is not enabled on this host$/);
  rejects(() => planInit(labelled, host({ lsm: { apparmor: true, selinux: false } })), 'process.selinuxLabel', /SELinux is not enabled on this host/);
  const empty = config((c) => { c.process.apparmorProfile = ''; c.process.selinuxLabel = ''; });
  assert.ok(!planInit(empty, host()).ops.some((o) => o.op.endsWith('_EXEC')), 'an empty label is none (runc)');
});

test('mountLabel: refused without SELinux; with it, context= on new filesystems but not proc, sysfs, mqueue, cgroups, binds, remounts', () => {
  const labelled = config((c) => {
    c.linux.mountLabel = 'system_u:object_r:container_file_t:s0:c1,c2';
    c.mounts.push({ destination: '/data', type: 'bind', source: '/srv', options: ['rbind', 'ro'] });
  });
  rejects(() => planInit(labelled, host()), 'linux.mountLabel', /SELinux is not enabled on this host/);
  const ops = planInit(labelled, host({ lsm: { apparmor: false, selinux: true } })).ops;
  const mounts = lines(ops.filter((o) => o.op === 'MOUNT' || o.op === 'BIND'));
  const ctx = 'context="system_u:object_r:container_file_t:s0:c1,c2"';
  assert.deepEqual(mounts.filter((l) => l.includes('context=')).map((l) => l.split(' ')[2]), ['/dev', '/dev/pts', '/dev/shm']);
  assert.ok(mounts.some((l) => l.startsWith('MOUNT tmpfs /dev tmpfs') && l.endsWith(`mode=755,size=65536k,${ctx}`)));
  assert.ok(mounts.some((l) => l.startsWith('MOUNT proc /proc proc') && l.endsWith(' -')));
  assert.deepEqual(labelMounts([{ op: 'MOUNT', args: ['tmpfs', '/t', 'tmpfs', '0', '-'] }], 'x'), [{ op: 'MOUNT', args: ['tmpfs', '/t', 'tmpfs', '0', 'context="x"'] }]);
  assert.deepEqual(labelMounts([{ op: 'MOUNT', args: ['tmpfs', '/t', 'tmpfs', String(4096 | 32 | 1), '-'] }], 'x')[0]!.args[4], '-', 'a remount keeps its data');
});
